"""SQLite's write turn across processes: a lock on a file next to the database, and a
bounded wait for it (``turn_wait``) for callers on an event loop (store/database.py)."""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from pathlib import Path


class TurnBusy(Exception):
    """The write turn was not free within the wait allowed (``turn_wait``); nothing was done."""


# How long a write may wait for the turn before giving up with TurnBusy; None: as long as
# it takes. Set by a caller that must not block for long (an event loop), and used by
# the first write turn of the call only, so a use case never half-runs.
turn_wait: ContextVar[float | None] = ContextVar("charter_turn_wait", default=None)

_POLL_S = 0.0002


class FileTurn:
    """An exclusive lock on a file next to the SQLite database, held for a write.

    Writers in other processes (server workers, CLI runs) then queue in the kernel
    instead of polling SQLite's busy handler, whose growing sleeps starve some of them.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def _descriptor(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def __enter__(self) -> None:
        fcntl.flock(self._descriptor(), fcntl.LOCK_EX)

    def acquire_until(self, deadline: float) -> bool:
        while True:
            try:
                fcntl.flock(self._descriptor(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(_POLL_S)

    def __exit__(self, *_exc: object) -> None:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)


def file_turn_for(url: str) -> AbstractContextManager[object]:
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix or ":memory:" in url:
        return nullcontext()
    return FileTurn(Path(url[len(prefix):] + "-writelock"))
