"""A worker's memory of consumer reports, so reporting does not slow the lookups it rides on.

A lookup that carries a consumer's name notes what it answered here, in memory. Only
two kinds of note are written to the database: a *change* (a first report, or another
version than this worker last wrote for that consumer and URI), written at once so
convergence shows without delay, and a *touch* (the same version again), written at
most once per ``touch_every`` per consumer and URI to move its last-seen time along.
Every other repeat costs a dict lookup under a lock.

Each worker (process) has its own ledger; the database row is the truth they share.
A worker that wrote version 2 and then answers 1 writes the change; a repeat it
has already written is touched later, within ``touch_every`` (docs/contracts.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_ENTRIES = 50_000  # per worker; beyond it the memory starts over (every key writes again)

Key = tuple[str, str, str]  # (consumer, model name lower-cased, uri)


@dataclass(frozen=True)
class Note:
    """A report due to be written."""

    consumer: str
    model: str
    uri: str
    version: int
    at: datetime
    change: bool     # a new version for this worker (else a touch of the same one)


@dataclass
class _Written:
    version: int
    at: datetime


class ConsumerLedger:
    def __init__(self) -> None:
        self._written: dict[Key, _Written] = {}
        # (consumer, model) -> version -> when a URI that is not a number last named it
        self._followed: dict[tuple[str, str], dict[int, datetime]] = {}
        self._lock = threading.Lock()

    def note(self, consumer: str, model: str, uri: str, version: int, now: datetime,
             touch_every: timedelta) -> Note | None:
        """What to write for this report, or None when nothing is due."""
        key = (consumer, model.lower(), uri)
        with self._lock:
            written = self._written.get(key)
            if written is not None and written.version == version \
                    and now - written.at < touch_every:
                return None
            if len(self._written) >= MAX_ENTRIES:
                self._written.clear()
                self._followed.clear()
            self._written[key] = _Written(version, now)  # claimed: other threads skip it
            return Note(consumer, model, uri, version, now,
                        change=written is None or written.version != version)

    def follows(self, consumer: str, model: str, version: int, now: datetime,
                touch_every: timedelta) -> bool:
        """Whether this worker saw ``consumer`` resolve ``version`` of ``model`` through a
        stage, alias or latest URI within ``touch_every``: a lookup of that version's
        number (MLflow's download-uri after get-latest-versions) is then part of it."""
        with self._lock:
            seen = self._followed.get((consumer, model.lower()), {}).get(version)
        return seen is not None and now - seen < touch_every

    def saw_following(self, consumer: str, model: str, version: int, now: datetime) -> None:
        with self._lock:
            self._followed.setdefault((consumer, model.lower()), {})[version] = now

    def forget(self, note: Note) -> None:
        """A write that failed: the next report writes again."""
        with self._lock:
            self._written.pop((note.consumer, note.model.lower(), note.uri), None)
