"""What each consumer (a named deployment) serves of a model, per ``models:/`` URI.

Plain SQL on the driver's connection. One row per model, consumer and URI, updated
in place: bookkeeping, not history (the audit chain records convergence, not every
report). Writers hold the write turn (store/database.py), so reading the previous
version and then updating or inserting cannot be raced.
"""

from __future__ import annotations

from datetime import datetime

from charter.domain.consumers import ConsumerReport
from charter.store.driver import Conn, reader_for, sql_time, stored_time

_COLUMNS = "consumer, uri, version, since, last_seen"


def reports(conn: Conn, model_id: int, model: str) -> list[ConsumerReport]:
    """Every consumer report of the model (stale ones too), by consumer and URI."""
    rows = reader_for(conn).all(
        f"SELECT {_COLUMNS} FROM consumers WHERE model_id = ? ORDER BY consumer, uri",
        (model_id,))
    return [ConsumerReport(consumer, model, uri, int(version), stored_time(since),
                           stored_time(last_seen))
            for consumer, uri, version, since, last_seen in rows]


def has_reports(conn: Conn, model_id: int, seen_after: datetime) -> bool:
    """Whether any consumer of the model was seen after ``seen_after`` (one index probe)."""
    reader = reader_for(conn)
    return reader.value("SELECT 1 FROM consumers WHERE model_id = ? AND last_seen > ? LIMIT 1",
                        (model_id, sql_time(reader, seen_after))) is not None


def record(conn: Conn, model_id: int, consumer: str, uri: str, version: int,
           now: datetime) -> bool:
    """Store that ``consumer`` serves ``version`` through ``uri`` as of ``now``; whether the
    stored version changed (a first report counts). A report older than the stored one
    (another worker's, written first) changes nothing."""
    reader = reader_for(conn)
    at = sql_time(reader, now)
    found = reader.one("SELECT version, last_seen FROM consumers "
                       "WHERE model_id = ? AND consumer = ? AND uri = ?",
                       (model_id, consumer, uri))
    if found is None:
        reader.run("INSERT INTO consumers (model_id, consumer, uri, version, since, last_seen) "
                   "VALUES (?, ?, ?, ?, ?, ?)", (model_id, consumer, uri, version, at, at))
        return True
    if stored_time(found[1]) > stored_time(at):
        return False
    if int(found[0]) == version:
        reader.run("UPDATE consumers SET last_seen = ? "
                   "WHERE model_id = ? AND consumer = ? AND uri = ?",
                   (at, model_id, consumer, uri))
        return False
    reader.run("UPDATE consumers SET version = ?, since = ?, last_seen = ? "
               "WHERE model_id = ? AND consumer = ? AND uri = ?",
               (version, at, at, model_id, consumer, uri))
    return True


def forget_stale(conn: Conn, model_id: int, seen_before: datetime) -> int:
    """Drop the model's reports not seen since ``seen_before``; how many were dropped."""
    reader = reader_for(conn)
    return reader.run("DELETE FROM consumers WHERE model_id = ? AND last_seen < ?",
                      (model_id, sql_time(reader, seen_before)))
