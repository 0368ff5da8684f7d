"""Hashing a file beside a transfer, in a helper thread: behind the bytes landing in it
(``HashBehind``), or its first bytes before or while they are sent (``FileHash``).

hashlib and xxhash release the GIL, so the hash runs beside the copy instead of after
it. The hash object comes from the caller; this module knows no algorithm.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

BUFFER = 1024 * 1024  # bytes read from the file per hash update


class Digest(Protocol):
    """What is hashed into: ``hashlib.sha256()``, ``xxhash.xxh3_128()``, a Hasher."""

    def update(self, data: bytes | memoryview, /) -> None: ...


class HexDigest(Digest, Protocol):
    def hexdigest(self) -> str: ...


class HashBehind:
    """Hashes a file's bytes from ``position`` on, in a helper thread, as they land."""

    def __init__(self, fd: int, position: int, digest: Digest) -> None:
        self._fd, self._position, self._digest = fd, position, digest
        self._landed: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="charter-hash", daemon=True)
        self._thread.start()

    def landed(self, count: int) -> None:
        """``count`` more bytes are in the file; raises the helper's error, if any."""
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
        view = memoryview(bytearray(BUFFER))
        while (count := self._landed.get()) is not None:
            try:
                while count and self._error is None:
                    got = os.preadv(self._fd, [view[:min(count, BUFFER)]], self._position)
                    if not got:
                        raise EOFError("the file is shorter than the bytes written to it")
                    self._digest.update(view[:got])
                    self._position, count = self._position + got, count - got
            except BaseException as error:  # noqa: BLE001 - raised in the caller
                self._error = error


class FileHash:
    """The hash (``new()``, hex) of the first ``size`` bytes of a file, computed in a
    helper thread; ``result`` waits for it."""

    def __init__(self, path: Path, size: int, new: Callable[[], HexDigest]) -> None:
        self.path, self._size, self._new = path, size, new
        self._stopped = threading.Event()
        self._hexdigest: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="charter-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            digest, done = self._new(), 0
            view = memoryview(bytearray(BUFFER))
            with open(self.path, "rb", buffering=0) as stream:
                while done < self._size and not self._stopped.is_set():
                    count = stream.readinto(view[:min(BUFFER, self._size - done)])
                    if not count:
                        raise EOFError(f"{self.path} has {done} bytes, not {self._size}")
                    digest.update(view[:count])
                    done += count
            if done == self._size:  # a stopped hash has no digest: never a partial one
                self._hexdigest = digest.hexdigest()
        except BaseException as error:  # noqa: BLE001 - raised by result()
            self._error = error

    def stop(self) -> None:
        self._stopped.set()

    def result(self) -> str:
        """The hex digest. EOFError: the file is shorter than ``size`` (it changed);
        RuntimeError: ``stop`` came first."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._hexdigest is None:
            raise RuntimeError("the hash was stopped before it finished")
        return self._hexdigest
