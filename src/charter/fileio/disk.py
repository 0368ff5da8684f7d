"""A file's disk blocks: reserve them, start writing them back, make a rename durable,
and let go of a large temporary file without waiting for it.

``reserve`` and ``Writeback`` call Linux's libc through ctypes; elsewhere (or where the
kernel refuses) they do nothing, and only speed is lost.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


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


def start_writeback(fd: int, offset: int, count: int) -> bool:
    """Queue ``count`` bytes from ``offset`` for writing to disk and return at once
    (``sync_file_range(SYNC_FILE_RANGE_WRITE)``); False where the kernel cannot."""
    if _SYNC_FILE_RANGE is None:
        return False
    return _SYNC_FILE_RANGE(fd, offset, count, _SYNC_FILE_RANGE_WRITE) == 0


class Writeback:
    """Starts the kernel writing a file's new bytes to disk every ``step`` bytes.

    It only queues the writeback; durability still comes from the fsync at the end,
    which then finds little left to do. Where the kernel cannot, this does nothing.
    """

    STEP = 32 * 1024 * 1024

    def __init__(self, fd: int, position: int = 0, step: int = STEP) -> None:
        self._fd, self._step = fd, step
        self._start = self._end = position  # where the file's new bytes begin

    def wrote(self, count: int) -> None:
        self._end += count
        if self._end - self._start >= self._step and start_writeback(
                self._fd, self._start, self._end - self._start):
            self._start = self._end


def fsync_dir(folder: Path) -> None:
    """Make the entries of ``folder`` durable (a file renamed into it, for one)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def discard(path: Path, background_from: int) -> None:
    """Remove a file; one of ``background_from`` bytes or more in a helper thread.

    Dropping a GiB of page cache takes ~0.2 s that the caller need not wait for.
    The thread is a daemon: a file left behind by a stopped process is the caller's
    to collect.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size < background_from:
        path.unlink(missing_ok=True)
        return
    threading.Thread(target=path.unlink, kwargs={"missing_ok": True}, name="charter-discard",
                     daemon=True).start()
