"""Content-addressed blobs in a local folder.

A blob lives at ``<root>/sha256/ab/cdef…`` named by its digest. It is written
to a temporary name under ``<root>/tmp``, hashed on the way, fsynced and renamed
into place, so a reader never sees a half-written blob and a crash leaves only
temp files that ``collect_partials`` removes. Published blobs are read-only
(mode 0444) and never rewritten: publishing the same content again only
refreshes the blob's modification time (the garbage collector's grace clock).

The staging area (upload sessions) is ``<root>/staging/<key>``: small files
written to a temp name and renamed, or hard-linked when the key must not exist yet.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from charter.artifacts.base import BlobStoreBase
from charter.artifacts.common import (
    BlobInfo,
    Hasher,
    StagedInfo,
    blob_missing,
    blob_name,
    check_digest,
    check_staged_key,
    digest_mismatch,
    room_for,
)
from charter.domain.manifest import manifest_digest
from charter.fileio import CHUNK
from charter.fileio.disk import Writeback, discard, fsync_dir, reserve
from charter.fileio.hashing import HashBehind
from charter.fileio.splice import CAN_SPLICE, Spliceable
from charter.fileio.writer import BackgroundWriter

__all__ = ["LocalBlobStore", "LocalBlobWriter", "manifest_digest", "remove_tree"]


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


# A temporary file no blob became (the bytes were already stored, or the upload failed)
# is removed in a helper thread from this size on; one left by a stopped process is
# collected by ``collect_partials``.
DISCARD_IN_BACKGROUND = 64 * 1024 * 1024
UPLOADED = "the uploaded bytes in the blob store"


class LocalBlobWriter:
    """One blob being written: ``write`` chunks, then ``commit`` (or ``abort``)."""

    def __init__(self, store: LocalBlobStore, expected: str | None) -> None:
        self._store = store
        self._expected = check_digest(expected) if expected else None
        fd, name = tempfile.mkstemp(dir=store.tmp_dir, prefix="upload-")
        self._tmp = Path(name)
        self._file = os.fdopen(fd, "wb", buffering=0)
        self._writer = BackgroundWriter(fd, durable=True)  # commit fsyncs it
        self._hasher = Hasher(transit=True)
        self._batch: list[bytes] = []   # small chunks go to the writer together (one writev)
        self._batched = 0

    @property
    def size(self) -> int:
        return self._hasher.size

    def transit_checksum(self) -> str:
        return self._hasher.transit_hexdigest()

    def write(self, chunk: bytes | memoryview) -> None:
        self._hasher.update(chunk)
        if len(chunk) >= CHUNK and not self._batch:
            with room_for(UPLOADED):  # raises the helper thread's last write error
                self._writer.write(chunk)  # written by a helper thread while we hash the next
            return
        self._batch.append(bytes(chunk) if isinstance(chunk, memoryview) else chunk)
        self._batched += len(chunk)
        if self._batched >= CHUNK:
            with room_for(UPLOADED):
                self._flush()

    def receive(self, source: Spliceable, count: int) -> bool:
        """Let ``source`` put the next ``count`` bytes into the blob file itself (splice),
        hashed from the file right behind it; False if it cannot (nothing was taken)."""
        if not CAN_SPLICE:
            return False
        self._flush()
        self._writer.close()  # every chunk written so far is in the file
        fd, offset = self._file.fileno(), self._hasher.size
        with room_for(UPLOADED):
            reserve(fd, offset, count)  # a full disk fails here, before a byte is taken
        behind = HashBehind(fd, offset, self._hasher)
        writeback = Writeback(fd, offset)

        def written(count: int) -> None:
            behind.landed(count)
            writeback.wrote(count)
        try:
            with room_for(UPLOADED):
                return source.splice_into(fd, offset, count, written)
        finally:
            try:
                behind.finish()
            finally:
                end = os.lseek(fd, 0, os.SEEK_END)
                self._writer = BackgroundWriter(fd, durable=True, position=end)

    def _flush(self) -> None:
        if self._batch:
            self._writer.write(self._batch)
            self._batch, self._batched = [], 0

    def commit(self) -> tuple[str, int]:
        """Verify and publish; returns (sha256, size)."""
        try:
            with room_for(UPLOADED):
                self._flush()
                self._writer.close()
                os.fsync(self._file.fileno())
            self._file.close()
            digest = self._hasher.hexdigest()
            if self._expected and digest != self._expected:
                raise digest_mismatch(self._expected, digest)
            self._store.publish(self._tmp, digest)
            return digest, self._hasher.size
        finally:
            self.abort()

    def abort(self) -> None:
        try:
            self._writer.close()
        except OSError:
            pass  # the write error is why we are aborting
        if not self._file.closed:
            self._file.close()
        discard(self._tmp, DISCARD_IN_BACKGROUND)  # the answer need not wait for it


class LocalBlobStore(BlobStoreBase):
    #: The S3 store wants the digest before the bytes (it writes straight to the final
    #: key); this one hashes on the way and renames, so it does not need it.
    wants_digest_first = False

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._blobs = self.root / "sha256"
        self.tmp_dir = self.root / "tmp"
        self._staging = self.root / "staging"
        for folder in (self._blobs, self.tmp_dir, self._staging):
            folder.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def check_ready(self) -> None:
        """Raise OSError unless the blob folders are there, readable and writable (the
        server's readiness check; nothing is written)."""
        for folder in (self._blobs, self.tmp_dir):
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder} is missing or not a folder")
            if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
                raise PermissionError(f"{folder} is not readable and writable by this process")
        with os.scandir(self._blobs) as entries:  # fails on a folder that cannot be listed
            next(entries, None)

    # ---- blobs ---------------------------------------------------------------------

    def path_of(self, digest: str) -> Path:
        return self.root / blob_name(digest)

    def local_path(self, digest: str) -> Path:
        """The blob's file, for servers that can hand a file to the kernel (sendfile)."""
        path = self.path_of(digest)
        if not path.is_file():
            raise blob_missing(digest)
        return path

    def exists(self, digest: str) -> bool:
        return self.path_of(digest).is_file()

    def size_of(self, digest: str) -> int:
        try:
            return self.path_of(digest).stat().st_size
        except FileNotFoundError:
            raise blob_missing(digest) from None

    def writer(self, expected: str | None = None) -> LocalBlobWriter:
        return LocalBlobWriter(self, expected)

    def publish(self, tmp: Path, digest: str) -> None:
        final = self.path_of(digest)
        if final.exists():
            os.utime(final)  # the same bytes again: only the grace clock moves
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o444)  # published blobs are immutable
        os.replace(tmp, final)
        fsync_dir(final.parent)

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path_of(digest), "rb")
        except FileNotFoundError:
            raise blob_missing(digest) from None

    def iter_chunks(self, digest: str, start: int = 0, stop: int | None = None,
                    chunk_size: int = CHUNK) -> Iterator[bytes]:
        """The blob's bytes [start, stop), in chunks of at most ``chunk_size``."""
        with self.open(digest) as stream:
            stream.seek(start)
            left = (stop if stop is not None else os.fstat(stream.fileno()).st_size) - start
            while left > 0:
                chunk = stream.read(min(chunk_size, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    def delete(self, digest: str) -> None:
        path = self.path_of(digest)
        if path.exists():
            os.chmod(path, 0o644)
            path.unlink(missing_ok=True)

    def blobs(self) -> Iterator[BlobInfo]:
        for prefix in sorted(self._blobs.iterdir()):
            for blob in sorted(prefix.iterdir()):
                try:
                    stat = blob.stat()
                except FileNotFoundError:  # deleted while we listed
                    continue
                yield BlobInfo(prefix.name + blob.name, stat.st_size, _utc(stat.st_mtime))

    def blob_info(self, digest: str) -> BlobInfo | None:
        try:
            stat = self.path_of(digest).stat()
        except FileNotFoundError:
            return None
        return BlobInfo(digest, stat.st_size, _utc(stat.st_mtime))

    def collect_partials(self, before: datetime | None = None) -> int:
        """Remove temp files of interrupted writes (older than ``before``); how many."""
        removed = 0
        for leftover in self.tmp_dir.iterdir():
            try:
                if before is None or _utc(leftover.stat().st_mtime) < before:
                    leftover.unlink()
                    removed += 1
            except FileNotFoundError:  # finished (or aborted) while we looked
                continue
        return removed

    # ---- staging area ------------------------------------------------------------------

    def _staged_path(self, key: str) -> Path:
        return self._staging / check_staged_key(key)

    def put_staged(self, key: str, data: bytes, *, exclusive: bool = False) -> bool:
        """Write a staging record; with ``exclusive``, only if the key is new (False if not)."""
        path = self._staged_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            if not exclusive:
                os.replace(tmp_name, path)
                return True
            try:
                os.link(tmp_name, path)  # atomic create-if-absent with the whole content
            except FileExistsError:
                return False
            return True
        finally:
            Path(tmp_name).unlink(missing_ok=True)

    def get_staged(self, key: str) -> bytes | None:
        try:
            return self._staged_path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def list_staged(self, prefix: str) -> list[StagedInfo]:
        """Every record whose key starts with ``prefix/``."""
        folder = self._staged_path(prefix)
        found = []
        for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
            if path.name.startswith(".tmp-") or not path.is_file():
                continue
            try:
                modified = _utc(path.stat().st_mtime)
            except FileNotFoundError:
                continue
            found.append(StagedInfo(path.relative_to(self._staging).as_posix(), modified))
        return found

    def delete_staged(self, key: str) -> None:
        """Remove one record, or every record under ``key/``."""
        path = self._staged_path(key)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
