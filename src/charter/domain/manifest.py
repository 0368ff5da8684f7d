"""A version's file manifest: what a client claims it uploaded, checked before it is trusted.

A manifest is a list of ``{"path", "size", "sha256"}`` entries. ``parse_manifest``
checks its shape (every path through ``safe_relative_path``, sizes and digests
well-formed, no path twice, no file also used as a folder); ``compare_manifest``
says how it differs from what the server actually received and hashed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput
from charter.domain.paths import safe_relative_path

MAX_FILES = 100_000
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, order=True)
class ManifestEntry:
    path: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


def check_sha256(value: object, what: str = "sha256") -> str:
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise InvalidInput(codes.MANIFEST_INVALID, f"{what} {value!r} is not a sha256 digest",
                           "send 64 lowercase hex characters")
    return value


def parse_manifest(entries: object) -> list[ManifestEntry]:
    """Entries sorted by path; refuse anything malformed, duplicated or ambiguous."""
    if not isinstance(entries, list) or not entries:
        raise InvalidInput(codes.MANIFEST_EMPTY, "The manifest lists no files",
                           "list every uploaded file as {path, size, sha256}")
    if len(entries) > MAX_FILES:
        raise InvalidInput(codes.MANIFEST_TOO_LARGE, f"The manifest lists {len(entries)} files; "
                           f"the limit is {MAX_FILES}", "pack small files into an archive")
    parsed = sorted(_entry(item) for item in entries)
    check_tree([entry.path for entry in parsed])
    return parsed


def _entry(item: object) -> ManifestEntry:
    if not isinstance(item, dict) or set(item) != {"path", "size", "sha256"}:
        raise InvalidInput(codes.MANIFEST_INVALID, f"manifest entry {item!r:.200} is malformed",
                           "each entry is exactly {\"path\", \"size\", \"sha256\"}")
    size = item["size"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidInput(codes.MANIFEST_INVALID, f"size {size!r} of {item['path']!r:.200} is not "
                           "a byte count", "sizes are whole numbers >= 0")
    return ManifestEntry(safe_relative_path(item["path"]), size, check_sha256(item["sha256"]))


def check_tree(paths: list[str]) -> None:
    """No path twice, and no path that is both a file and a folder ('a' and 'a/b')."""
    seen: set[str] = set()
    folders: set[str] = set()
    for path in paths:
        if path in seen:
            raise InvalidInput(codes.MANIFEST_DUPLICATE, f"{path!r} is listed twice",
                               "list each file once")
        seen.add(path)
        parts = path.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
    clash = sorted(seen & folders)
    if clash:
        raise InvalidInput(codes.MANIFEST_CONFLICT, f"{clash[0]!r} is both a file and a folder",
                           "rename the file or the folder")


def compare_manifest(claimed: list[ManifestEntry], received: list[ManifestEntry]
                     ) -> list[str]:
    """Problems, one line each, between the client's manifest and the stored files."""
    have = {entry.path: entry for entry in received}
    want = {entry.path: entry for entry in claimed}
    problems = [f"{path}: never uploaded" for path in sorted(want.keys() - have.keys())]
    problems += [f"{path}: uploaded but not in the manifest"
                 for path in sorted(have.keys() - want.keys())]
    for path in sorted(want.keys() & have.keys()):
        mine, theirs = want[path], have[path]
        if mine.size != theirs.size:
            problems.append(f"{path}: the manifest says {mine.size} bytes, "
                            f"the server stored {theirs.size}")
        elif mine.sha256 != theirs.sha256:
            problems.append(f"{path}: the manifest says sha256 {mine.sha256[:12]}…, "
                            f"the server computed {theirs.sha256[:12]}…")
    return problems


def manifest_digest(files: list[tuple[str, str]]) -> str:
    """One digest for a version: sha256 over its sorted (path, sha256) pairs."""
    hasher = hashlib.sha256()
    for path, sha in sorted(files):
        hasher.update(f"{path}\0{sha}\n".encode())
    return hasher.hexdigest()


@dataclass(frozen=True)
class TreeEntry:
    name: str             # the child's own name, not its full path
    is_dir: bool
    size: int | None      # None for folders


def list_folder(files: list[tuple[str, int]], folder: str) -> list[TreeEntry] | None:
    """The direct children of ``folder`` ('' is the top) among (path, size) files.

    None when ``folder`` is neither the top, a folder nor a file; [] for a file
    (MLflow's artifact listing answers a file path with nothing).
    """
    prefix = folder + "/" if folder else ""
    children: dict[str, TreeEntry] = {}
    for path, size in files:
        if path == folder:
            return []
        if not path.startswith(prefix):
            continue
        name, slash, _rest = path[len(prefix):].partition("/")
        children[name] = TreeEntry(name, True, None) if slash else TreeEntry(name, False, size)
    if not children and folder:
        return None
    return [children[name] for name in sorted(children)]
