"""Content-addressed blobs in a local folder.

A blob lives at ``<root>/sha256/ab/cdef…`` named by its digest. It is written
to a temporary name in the same folder, fsynced and renamed into place, so a
reader never sees a half-written blob and a crash leaves only temp files that
``collect_partials`` removes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from charter.domain.errors import IntegrityFailure, NotFound

CHUNK = 1024 * 1024
Progress = Callable[[int], None]


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._blobs = self.root / "sha256"
        self._tmp = self.root / "tmp"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)

    def path_of(self, digest: str) -> Path:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise NotFound("blob.not_found", f"'{digest}' is not a sha256 digest",
                           "blob names are 64 lowercase hex characters")
        return self._blobs / digest[:2] / digest[2:]

    def exists(self, digest: str) -> bool:
        return self.path_of(digest).is_file()

    def put_stream(self, stream: BinaryIO, progress: Progress | None = None) -> tuple[str, int]:
        """Store a stream; returns (sha256, size). Identical content is stored once."""
        hasher, size = hashlib.sha256(), 0
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                    if progress:
                        progress(len(chunk))
                out.flush()
                os.fsync(out.fileno())
            digest = hasher.hexdigest()
            self._publish(Path(tmp_name), digest)
            return digest, size
        finally:
            Path(tmp_name).unlink(missing_ok=True)

    def put_file(self, path: Path, progress: Progress | None = None) -> tuple[str, int]:
        with open(path, "rb") as stream:
            return self.put_stream(stream, progress)

    def _publish(self, tmp: Path, digest: str) -> None:
        final = self.path_of(digest)
        if final.exists():
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        os.chmod(final, 0o444)  # published blobs are immutable

    def open(self, digest: str) -> BinaryIO:
        path = self.path_of(digest)
        if not path.is_file():
            raise NotFound("blob.not_found", f"blob {digest} is not in the store",
                           "the version's files may have been purged")
        return open(path, "rb")

    def iter_chunks(self, digest: str) -> Iterator[bytes]:
        with self.open(digest) as stream:
            while chunk := stream.read(CHUNK):
                yield chunk

    def copy_to(self, digest: str, dest: Path, progress: Progress | None = None) -> None:
        """Copy a blob out, verifying its digest on the way; publish dest atomically."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        hasher = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".charter-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in self.iter_chunks(digest):
                    hasher.update(chunk)
                    out.write(chunk)
                    if progress:
                        progress(len(chunk))
            if hasher.hexdigest() != digest:
                raise IntegrityFailure(
                    "artifact.digest_mismatch", f"stored blob {digest} does not match its digest",
                    "the blob store was altered on disk; restore it from backup")
            os.replace(tmp_name, dest)
        finally:
            Path(tmp_name).unlink(missing_ok=True)

    def collect_partials(self) -> int:
        """Remove temp files left by interrupted uploads; returns how many."""
        removed = 0
        for leftover in self._tmp.iterdir():
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed

    def delete(self, digest: str) -> None:
        path = self.path_of(digest)
        if path.exists():
            os.chmod(path, 0o644)
            path.unlink()

    def digests(self) -> Iterator[str]:
        for prefix in self._blobs.iterdir():
            for blob in prefix.iterdir():
                yield prefix.name + blob.name


def manifest_digest(files: list[tuple[str, str]]) -> str:
    """One digest for a version: sha256 over its sorted (path, sha256) pairs."""
    hasher = hashlib.sha256()
    for path, sha in sorted(files):
        hasher.update(f"{path}\0{sha}\n".encode())
    return hasher.hexdigest()


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
