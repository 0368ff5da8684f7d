"""What every blob store shares: chunk sizes, records, key rules, the hashing writer.

A blob store keeps two kinds of things:

* **blobs**, named by their sha256 and immutable once published;
* a **staging area** of small JSON records under keys the server makes up
  (upload sessions), shared by every replica exactly when the blobs are.

Keys never come from a client: blob keys are digests, staging keys are built from
server-generated ids. ``check_digest`` and ``check_staged_key`` enforce that at
the door of each store, so a store cannot be talked into a path outside its root.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import queue
import re
import select
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, Protocol

import xxhash

from charter.domain.errors import IntegrityFailure, NotFound, StorageFull

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no splice either
    fcntl = None  # type: ignore[assignment]

# The unit of every streamed read and write. Measured end to end (upload and pull of
# 512 MiB, client and server on one machine), 256 KiB used the least CPU per byte: a
# chunk stays in the CPU cache between the copy that brings it and the hash that reads
# it; 1 MiB and 4 MiB chunks spilled and cost 10-40% more, 128 KiB paid in overhead.
CHUNK = 256 * 1024
Progress = Callable[[int], None]
Chunks = bytes | bytearray | memoryview | list[bytes]

_DIGEST = re.compile(r"[0-9a-f]{64}")
_STAGED_KEY = re.compile(r"[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_.-]*)*")


@dataclass(frozen=True)
class BlobInfo:
    digest: str
    size: int
    modified: datetime        # UTC; publishing an existing blob again refreshes it


@dataclass(frozen=True)
class StagedInfo:
    key: str
    modified: datetime        # UTC


def check_digest(digest: str) -> str:
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise NotFound("blob.not_found", f"{digest!r:.80} is not a sha256 digest",
                       "blob names are 64 lowercase hex characters")
    return digest


def check_staged_key(key: str) -> str:
    if not _STAGED_KEY.fullmatch(key) or ".." in key or len(key) > 512:
        raise ValueError(f"not a staging key: {key!r:.80}")  # a bug in Charter, not input
    return key


def blob_name(digest: str) -> str:
    """``sha256/ab/cdef…``: the relative name of a blob in every store."""
    check_digest(digest)
    return f"sha256/{digest[:2]}/{digest[2:]}"


def digest_mismatch(expected: str, actual: str, what: str = "the uploaded bytes"
                    ) -> IntegrityFailure:
    return IntegrityFailure(
        "artifact.digest_mismatch",
        f"sha256 of {what} is {actual}, not the expected {expected}",
        "the bytes were altered or truncated on the way; send them again",
        {"expected": expected, "actual": actual})


@contextmanager
def room_for(what: str) -> Iterator[None]:
    """Turn a disk without room (ENOSPC, a quota: EDQUOT) into ``storage.full``."""
    try:
        yield
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull("storage.full", f"There is no room left for {what}: "
                              f"{error.strerror}", "free space on that disk (charter gc "
                              "removes blobs no version uses), then send it again",
                              {"errno": errno.errorcode[error.errno]}) from error
        raise


def blob_missing(digest: str) -> NotFound:
    return NotFound("blob.not_found", f"blob {digest} is not in the store",
                    "the version's files may have been purged; restore the blob store")


class Hasher:
    """sha256 and byte count of a stream, fed chunk by chunk.

    With ``transit``, also the XXH3-128 of the same bytes: the check an uploading
    client compares with its own (``transit_hexdigest``). sha256 names the blob and
    is what a pull verifies; the client need not compute it a second time to know
    the bytes arrived intact, and XXH3 costs it 1/30 of sha256's CPU.
    """

    def __init__(self, *, transit: bool = False) -> None:
        self._sha = hashlib.sha256()
        self._transit = xxhash.xxh3_128() if transit else None
        self.size = 0

    def update(self, chunk: bytes | memoryview) -> None:
        self._sha.update(chunk)
        if self._transit is not None:
            self._transit.update(chunk)
        self.size += len(chunk)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()

    def transit_hexdigest(self) -> str:
        if self._transit is None:
            raise RuntimeError("this Hasher was made without transit=True")
        return self._transit.hexdigest()


def transit_mismatch(mine: str, theirs: str, what: str) -> IntegrityFailure:
    return IntegrityFailure(
        "artifact.transit_mismatch",
        f"{what}: the server received bytes whose XXH3-128 is {theirs}, not this file's {mine}",
        "the file changed while it was sent, or the bytes were altered on the way; "
        "send it again", {"expected": mine, "actual": theirs})


class StreamWriter(Protocol):
    def write(self, chunk: bytes) -> None: ...
    def commit(self) -> tuple[str, int]: ...
    def abort(self) -> None: ...


def write_stream(writer: StreamWriter, stream: BinaryIO,
                 progress: Progress | None = None) -> tuple[str, int]:
    """Copy ``stream`` into a blob writer and commit it -> (sha256, size); abort on failure."""
    try:
        while chunk := stream.read(CHUNK):
            writer.write(chunk)
            if progress:
                progress(len(chunk))
    except BaseException:
        writer.abort()
        raise
    return writer.commit()


class BackgroundWriter:
    """Writes chunks to a file descriptor in a helper thread, in order.

    The caller hashes chunk n while chunk n-1 is being written: sha256 and the copy
    into the page cache each cost about as much as the other, and both release the
    GIL, so a transfer runs at the speed of the slower one instead of their sum. At
    most ``depth`` chunks wait in between.
    """

    def __init__(self, fd: int, depth: int = 4, *, durable: bool = False,
                 position: int = 0) -> None:
        self._fd = fd
        self._chunks: queue.Queue[Chunks | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        # A file that will be fsynced has its writeback started as it grows, so the
        # disk works while the bytes arrive and the final fsync finds little to do.
        self._writeback = Writeback(fd, position) if durable else None
        self._thread = threading.Thread(target=self._run, name="charter-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            if self._error is None:
                try:
                    written = write_all(self._fd, chunk)
                    if self._writeback is not None:
                        self._writeback.wrote(written)
                except BaseException as error:  # noqa: BLE001 - raised in the caller
                    self._error = error

    def write(self, chunk: Chunks) -> None:
        """Queue one chunk, or a list of chunks written with one writev."""
        if self._error is not None:
            raise self._error
        self._chunks.put(chunk)

    def close(self) -> None:
        """Wait until every chunk is written; raise the first write error, if any."""
        if self._thread.is_alive():
            self._chunks.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error


def write_all(fd: int, chunk: Chunks) -> int:
    """Write every byte of a chunk (or list of chunks); how many that was."""
    if isinstance(chunk, list):
        total = sum(len(piece) for piece in chunk)
        written = os.writev(fd, chunk)
        for piece in chunk:  # the rest of a short writev, if any
            if written >= len(piece):
                written -= len(piece)
                continue
            write_all(fd, memoryview(piece)[written:])
            written = 0
        return total
    view = memoryview(chunk)
    total = len(view)
    while view:
        view = view[os.write(fd, view):]
    return total


class Writeback:
    """Starts the kernel writing a file's new bytes to disk every ``step`` bytes.

    ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` only queues the writeback and returns;
    durability still comes from the fsync at the end. Linux only: elsewhere (or if
    the call is refused) this does nothing.
    """

    STEP = 32 * 1024 * 1024

    def __init__(self, fd: int, position: int = 0, step: int = STEP) -> None:
        self._fd, self._step = fd, step
        self._start = self._end = position  # where the file's new bytes begin

    def wrote(self, count: int) -> None:
        self._end += count
        if self._end - self._start >= self._step and _start_writeback(
                self._fd, self._start, self._end - self._start):
            self._start = self._end


def _libc(name: str, *argtypes: Any) -> Callable[..., int] | None:
    """A Linux libc function through ctypes, or None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = list(argtypes)
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


_SYNC_FILE_RANGE = _libc("sync_file_range", ctypes.c_int, ctypes.c_int64, ctypes.c_int64,
                         ctypes.c_uint)
_SYNC_FILE_RANGE_WRITE = 2
_FALLOCATE = _libc("fallocate", ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
_FALLOC_FL_KEEP_SIZE = 1


def _start_writeback(fd: int, offset: int, count: int) -> bool:
    if _SYNC_FILE_RANGE is None:
        return False
    return _SYNC_FILE_RANGE(fd, offset, count, _SYNC_FILE_RANGE_WRITE) == 0


def reserve(fd: int, offset: int, count: int) -> None:
    """Allocate the disk blocks for ``count`` bytes from ``offset`` before they land; the
    file's size does not change. The file system then skips its per-page delayed
    allocation while they are written (0.15 CPU-s per GiB less, measured on ext4).
    Raises OSError(ENOSPC) at once when the disk cannot hold them; does nothing
    where ``fallocate`` is missing or refused."""
    if _FALLOCATE is None or count <= 0:
        return
    if _FALLOCATE(fd, _FALLOC_FL_KEEP_SIZE, offset, count) != 0:
        error = ctypes.get_errno()
        if error == errno.ENOSPC:
            raise OSError(error, os.strerror(error))


# ---- moving bytes inside the kernel -------------------------------------------------------

CAN_SPLICE = hasattr(os, "splice") and fcntl is not None and hasattr(select, "poll")
PIPE_SIZE = 1024 * 1024  # bytes per splice; the kernel may keep the pipe smaller


class Spliceable(Protocol):
    """A source that can write its bytes into a file descriptor itself."""

    def splice_into(self, fd: int, offset: int, count: int,
                    written: Callable[[int], None]) -> bool:
        """Write exactly ``count`` bytes at ``offset``, calling ``written(n)`` as they
        land; False (nothing taken) when it cannot."""
        ...


def splice_from(sock: socket.socket, fd: int, offset: int, count: int,
                written: Callable[[int], None]) -> None:
    """Move ``count`` bytes from a socket into a file at ``offset``: socket -> pipe ->
    file, copied once (into the page cache) and never through Python. ``written(n)``
    follows every piece that landed. Waits for the socket as long as its timeout says;
    raises ConnectionResetError if the peer closes first. Linux (``CAN_SPLICE``) only.
    """
    read_end, write_end = os.pipe()
    try:
        with suppress(OSError):
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        timeout = sock.gettimeout()
        wait_ms = -1 if timeout is None else int(timeout * 1000)
        while count:
            try:
                moved = os.splice(sock.fileno(), write_end, min(count, PIPE_SIZE),
                                  flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK)
            except BlockingIOError:
                if not poller.poll(wait_ms):
                    raise TimeoutError("no byte arrived for too long") from None
                continue
            if not moved:
                raise ConnectionResetError(f"the peer closed with {count} bytes still to come")
            left = moved
            while left:
                landed = os.splice(read_end, fd, left, offset_dst=offset)
                offset, left = offset + landed, left - landed
            count -= moved
            written(moved)
    finally:
        os.close(read_end)
        os.close(write_end)


class HashBehind:
    """Hashes a file's bytes from ``position`` on, in a helper thread, as they land."""

    BUFFER = 1024 * 1024

    def __init__(self, fd: int, position: int, hasher: Hasher) -> None:
        self._fd, self._position, self._hasher = fd, position, hasher
        self._landed: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="charter-hash", daemon=True)
        self._thread.start()

    def landed(self, count: int) -> None:
        if self._error is not None:
            raise self._error
        self._landed.put(count)

    def finish(self) -> None:
        """Wait until every landed byte is hashed."""
        self._landed.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        view = memoryview(bytearray(self.BUFFER))
        while (count := self._landed.get()) is not None:
            try:
                while count and self._error is None:
                    got = os.preadv(self._fd, [view[:min(count, self.BUFFER)]], self._position)
                    if not got:
                        raise EOFError("the file is shorter than the bytes written to it")
                    self._hasher.update(view[:got])
                    self._position, count = self._position + got, count - got
            except BaseException as error:  # noqa: BLE001 - raised in the caller
                self._error = error
