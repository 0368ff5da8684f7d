"""A pull's destination: all of the version's files, or none of them.

Every file is written into a fresh folder beside the destination (same file system, so
moves are renames), and only when all of them are there and proved are they moved in.
A pull refused or broken partway leaves the destination as it was:

* every target path is checked first (``target_in``: nothing may land outside DEST, a
  symlinked sub-folder is refused), before a byte is written;
* a destination that does not exist yet, or an empty folder, becomes the staged folder
  in one rename; into a folder that holds other files, each file is renamed into place;
* on any error the staged folder is removed.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType

from charter.artifacts.tree import target_in
from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput


class Landing:
    """``with Landing(dest, paths) as landing:`` write each file at ``landing.path_for``;
    the files move into ``dest`` when the block ends without an error."""

    def __init__(self, dest: Path | str, paths: Iterable[str]) -> None:
        self.root = Path(dest).resolve()
        self.paths = list(paths)
        for relative in self.paths:  # every refusal before anything is written
            _check_target(self.root, relative)
        self.root.parent.mkdir(parents=True, exist_ok=True)
        self.stage = self.root.parent / f".{self.root.name}.charter-pull-{uuid.uuid4().hex}"
        self.stage.mkdir()  # the user's umask, as a plain mkdir would give DEST

    def path_for(self, relative: str) -> Path:
        staged = target_in(self.stage, relative)
        staged.parent.mkdir(parents=True, exist_ok=True)
        return staged

    def __enter__(self) -> Landing:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            if kind is None:
                self._publish()
        finally:
            shutil.rmtree(self.stage, ignore_errors=True)

    def _publish(self) -> None:
        if not self.root.exists() or (self.root.is_dir() and not any(self.root.iterdir())):
            self.stage.replace(self.root)  # one rename: the whole version appears at once
            return
        for relative in self.paths:
            target = _check_target(self.root, relative)  # again: DEST may have changed
            target.parent.mkdir(parents=True, exist_ok=True)
            (self.stage / relative).replace(target)


def _check_target(root: Path, relative: str) -> Path:
    target = target_in(root, relative)
    blocked = next((p for p in (target, *target.parents) if p != root and p.is_relative_to(root)
                    and (p.is_dir() if p == target else p.exists() and not p.is_dir())), None)
    if blocked is not None:
        raise InvalidInput(codes.PATH_CONFLICT, f"'{relative}' cannot be written into '{root}': "
                           f"'{blocked}' is in the way", "pull into a fresh folder, or remove it",
                           {"path": relative})
    return target


def pull_into(dest: Path | str, paths: list[str],
              put: Callable[[str, Path], None]) -> Path:
    """Have ``put(path, staged file)`` write each file, then move them all into ``dest``."""
    with Landing(dest, paths) as landing:
        for relative in paths:
            put(relative, landing.path_for(relative))
    return landing.root
