"""What the local and S3 stores do alike, over the writer and the reader each has.

A store subclasses ``BlobStoreBase`` and supplies ``writer`` (a blob being written:
chunks in, then commit or abort), ``iter_chunks`` (a blob's bytes) and ``blobs``;
storing a stream or a file, copying a blob out and listing digests are then the same
code for every store.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from charter.artifacts.common import BlobInfo, Hasher, digest_mismatch
from charter.fileio import CHUNK, Progress


class StreamWriter(Protocol):
    def write(self, chunk: bytes) -> None: ...
    def commit(self) -> tuple[str, int]: ...
    def abort(self) -> None: ...


class BlobStoreBase(ABC):
    @abstractmethod
    def writer(self, expected: str | None = None) -> StreamWriter:
        """A new blob being written; with ``expected``, committed only if its sha256 is that."""

    @abstractmethod
    def iter_chunks(self, digest: str, start: int = 0, stop: int | None = None,
                    chunk_size: int = CHUNK) -> Iterator[bytes]:
        """The blob's bytes [start, stop), in chunks of at most ``chunk_size``."""

    @abstractmethod
    def blobs(self) -> Iterator[BlobInfo]:
        """Every stored blob."""

    def put_stream(self, stream: BinaryIO, progress: Progress | None = None,
                   expected: str | None = None) -> tuple[str, int]:
        """Store a stream; returns (sha256, size). Identical content is stored once.
        A stream that fails midway leaves nothing (the writer is aborted)."""
        writer = self.writer(expected)
        try:
            while chunk := stream.read(CHUNK):
                writer.write(chunk)
                if progress:
                    progress(len(chunk))
        except BaseException:
            writer.abort()
            raise
        return writer.commit()

    def put_file(self, path: Path, progress: Progress | None = None) -> tuple[str, int]:
        with open(path, "rb") as stream:
            return self.put_stream(stream, progress)

    def copy_to(self, digest: str, dest: Path, progress: Progress | None = None) -> None:
        """Copy a blob out, verifying its digest on the way; publish dest atomically."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        hasher = Hasher()
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".charter-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in self.iter_chunks(digest):
                    hasher.update(chunk)
                    out.write(chunk)
                    if progress:
                        progress(len(chunk))
            if hasher.hexdigest() != digest:
                raise digest_mismatch(digest, hasher.hexdigest(), f"stored blob {digest}")
            os.replace(tmp_name, dest)
        finally:
            Path(tmp_name).unlink(missing_ok=True)

    def digests(self) -> Iterator[str]:
        for info in self.blobs():
            yield info.digest
