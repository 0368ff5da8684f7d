"""The files of a local model file or folder, as the registry will name them.

Used on both sides of a registration: the embedded registry stores these files,
the remote client uploads them. Every relative path passes ``safe_relative_path``;
a symlink is followed only when it stays inside the folder (its target's bytes
are stored under the link's name), so a link cannot smuggle ``~/.aws/credentials``
into a model.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput
from charter.domain.manifest import check_tree
from charter.domain.paths import safe_relative_path


def local_files(root: Path) -> list[tuple[str, Path]]:
    """(relative POSIX path, file) for every regular file under ``root``, sorted."""
    root = Path(root)
    if not root.exists():
        raise InvalidInput(codes.PATH_NOT_FOUND, f"'{root}' does not exist",
                           "give the path of a model file or folder")
    if root.is_file():
        return [(safe_relative_path(root.name), root)]
    base = root.resolve()
    found = []
    for folder, dirs, files in os.walk(base):
        for name in [*files, *(d for d in dirs if (Path(folder) / d).is_symlink())]:
            file = Path(folder) / name
            if file.is_symlink() and not file.resolve().is_relative_to(base):
                raise InvalidInput(codes.PATH_OUTSIDE, f"'{file}' links outside '{root}'",
                                   "copy the file into the model folder instead of linking it")
            if not file.is_file():
                continue  # a linked folder inside the model: its files are listed already
            relative = safe_relative_path(PurePosixPath(file.relative_to(base)).as_posix())
            found.append((relative, file))
    if not found:
        raise InvalidInput(codes.PATH_EMPTY, f"'{root}' holds no files",
                           "a model folder needs at least one file")
    found.sort()
    check_tree([relative for relative, _ in found])
    return found


def target_in(root: Path, relative: str) -> Path:
    """Where a version's file lands under ``root``; refused if it would leave ``root``.

    The path passed the rule when it was stored; this checks it again (a corrupt
    database must not write outside DEST) and refuses a DEST whose sub-folders are
    symlinks leading elsewhere.
    """
    base = Path(root).resolve()
    target = base / safe_relative_path(relative)
    if not target.parent.resolve().is_relative_to(base):
        raise InvalidInput(codes.PATH_OUTSIDE, f"'{relative}' would be written outside '{root}'",
                           "a folder inside the destination is a symlink; pull into a "
                           "fresh folder")
    return target
