"""The denied-attempts log: one JSON line per refused request, in a file of bounded size.

Refusals are not audit events: they change nothing, and an attacker can cause as
many as they like, so they must not grow the database or the disk. Lines go to
``$CHARTER_HOME/logs/denied.log``; when it reaches ``max_bytes`` it is rotated to
``denied.log.1`` (``.1`` to ``.2`` …), keeping ``backups`` old files, so the log
never holds more than ``(backups + 1) * max_bytes`` bytes (each worker process of
one server rotates on its own, so allow one file more per worker). Every field is
cut to a short length, so one line stays small whatever a request carries. Tokens
are never written, only the id of the token that was used.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path

DEFAULT_MAX_BYTES = 1_000_000
DEFAULT_BACKUPS = 3
MAX_FIELD = 200


class DenialFile:
    """Appends refusals to a size-capped, rotated file (thread-safe; one per process)."""

    def __init__(self, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 backups: int = DEFAULT_BACKUPS) -> None:
        self.path = path
        self.max_bytes = max(max_bytes, 10_000)
        self.backups = max(backups, 1)
        self._handler: RotatingFileHandler | None = None
        self._lock = threading.Lock()
        self._failed = False

    def record(self, entry: dict[str, object]) -> None:
        line = json.dumps({"time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                           **{k: _short(v) for k, v in entry.items()}},
                          ensure_ascii=True, sort_keys=True)
        handler = self._open()
        if handler is None:
            return
        handler.emit(logging.makeLogRecord({"msg": line, "levelno": logging.WARNING}))

    def _open(self) -> RotatingFileHandler | None:
        if self._handler is not None or self._failed:
            return self._handler
        with self._lock:
            if self._handler is None and not self._failed:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._handler = RotatingFileHandler(
                        self.path, maxBytes=self.max_bytes, backupCount=self.backups,
                        encoding="utf-8", delay=True)
                except OSError:
                    # A read-only home must not turn refusals into crashes; the refusal
                    # itself is still answered.
                    logging.getLogger("charter.access").warning(
                        "cannot write the denied-attempts log at %s", self.path)
                    self._failed = True
        return self._handler

    def close(self) -> None:
        if self._handler is not None:
            self._handler.close()


def _short(value: object) -> object:
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    return text if len(text) <= MAX_FIELD else text[:MAX_FIELD] + "…"
