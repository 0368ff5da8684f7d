"""Writing a file beside the caller: chunks go to a helper thread, in order."""

from __future__ import annotations

import os
import queue
import threading

from charter.fileio import Chunks
from charter.fileio.disk import Writeback


class BackgroundWriter:
    """Writes chunks to a file descriptor in a helper thread, in order.

    The caller hashes chunk n while chunk n-1 is being written: sha256 and the copy
    into the page cache each cost about as much as the other, and both release the
    GIL, so a transfer runs at the speed of the slower one instead of their sum. At
    most ``depth`` chunks wait in between. A write error (OSError, ENOSPC among them)
    is raised in the caller by the next ``write`` or by ``close``.
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
