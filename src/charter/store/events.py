"""The audit events and the chain head: appending an event, and every read of the chain
(a model's history, the feed, the audit walk, the events a past state or a rule is
derived from). Plain SQL on the driver's connection (store/driver.py).

Events are never updated or deleted (store/triggers.py). Each is filed under the
name key its model had when it happened, so a model's reads pass every key the
model has had (``models.keys_of``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from charter.domain.events import GENESIS_HASH, NewEvent, StoredRow, hashed_fields, parse_time
from charter.domain.history import PastEvent
from charter.domain.records import EventRecord
from charter.store.driver import Conn, Reader, placeholders, reader_for

COLUMNS = ("seq, time, actor, action, model, version, from_stage, to_stage, reason, "
           "correlation_id, payload, prev_hash, hash")


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as it is stored: its time as the hashed text, its payload as JSON text."""

    seq: int
    time: str
    actor: str
    action: str
    model: str
    version: int | None
    from_stage: str | None
    to_stage: str | None
    reason: str
    correlation_id: str
    payload: str
    prev_hash: str
    hash: str

    def record(self) -> EventRecord:
        return EventRecord(
            seq=self.seq, time=parse_time(self.time), actor=self.actor, action=self.action,
            model=self.model, version=self.version, from_stage=self.from_stage,
            to_stage=self.to_stage, reason=self.reason, correlation_id=self.correlation_id,
            payload=json.loads(self.payload), prev_hash=self.prev_hash, hash=self.hash)

    def hashed(self) -> dict[str, Any]:
        """The fields its hash covers, as stored (what the audit walk recomputes)."""
        return hashed_fields(
            seq=self.seq, time=self.time, actor=self.actor,
            event=NewEvent(self.action, self.model, self.version, self.from_stage,
                           self.to_stage, self.reason, json.loads(self.payload)),
            correlation_id=self.correlation_id)


@dataclass
class ChainPosition:
    """The chain head: the last event's seq, hash and time (a write moves it along), and
    the newest signed checkpoint's seq and time (domain.checkpoints; 0 and "": none)."""

    seq: int
    hash: str
    time: str
    checkpoint_seq: int = 0
    checkpoint_time: str = ""


_INSERT = ("INSERT INTO events (seq, time, actor, action, model, model_key, version, "
           "from_stage, to_stage, reason, correlation_id, payload, prev_hash, hash) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_HEAD = ("SELECT seq, hash, time, checkpoint_seq, checkpoint_time FROM chain_head "
         "WHERE id = 1")


_VALUES = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# PostgreSQL: any number of events in one statement of 14 parameters, a column each (a
# statement of more than 50 parameters is parsed anew by psycopg every time: its cache's
# limit; that was a sixth of a group-commit thread's CPU).
_INSERT_COLUMNS = _INSERT.replace(
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "SELECT * FROM unnest(?::int[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], "
    "?::int[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[])")

# The events a group commit's calls appended on this thread and not yet inserted
# (store/group_commit.py): a batch's events go in with one statement, not one round trip
# each with the chain head locked. Every read of the events table inserts them first
# (``settled``), so a call still reads its own events and its batch-mates'.
_held = threading.local()
_HELD_PER_STATEMENT = 500  # 7,000 parameters: within SQLite's and PostgreSQL's limits


def hold(rows: list[StoredEvent] | None) -> None:
    """Keep this thread's appended events in ``rows`` until ``write_held`` (None: insert
    each as it is appended)."""
    _held.rows = rows


def append(conn: Conn, event: StoredEvent) -> None:
    held: list[StoredEvent] | None = getattr(_held, "rows", None)
    if held is not None:
        held.append(event)
        return
    reader_for(conn).run(_INSERT, _row(event))


def write_held(conn: Conn) -> None:
    """Insert the events held on this thread, in chain order, in one statement (on
    PostgreSQL a held write, held_writes.deferring)."""
    held: list[StoredEvent] | None = getattr(_held, "rows", None)
    if not held:
        return
    reader = reader_for(conn)
    if reader.dialect == "postgresql":
        reader.later(_INSERT_COLUMNS, [list(column) for column in zip(
            *(_row(event) for event in held), strict=True)])
        held.clear()
        return
    for start in range(0, len(held), _HELD_PER_STATEMENT):
        part = held[start:start + _HELD_PER_STATEMENT]
        reader.later(_INSERT.replace(_VALUES, ", ".join([_VALUES] * len(part))),
                     [value for event in part for value in _row(event)])
    held.clear()


def _row(event: StoredEvent) -> tuple[object, ...]:
    return (event.seq, event.time, event.actor, event.action, event.model,
            event.model.lower(), event.version, event.from_stage, event.to_stage,
            event.reason, event.correlation_id, event.payload, event.prev_hash, event.hash)


def settled(conn: Conn) -> Reader:
    """The reader of ``conn``, once the events held on this thread are in the table."""
    write_held(conn)
    return reader_for(conn)


def chain_head(conn: Conn, *, lock: bool = False) -> ChainPosition:
    """The head; ``lock`` takes its row lock on PostgreSQL (the write turn; SQLite's
    ``BEGIN IMMEDIATE`` has already serialised the writers)."""
    reader = reader_for(conn)
    sql = _HEAD + " FOR UPDATE" if lock and reader.dialect == "postgresql" else _HEAD
    found = reader.one(sql)
    assert found is not None, "chain_head has its one row from the first migration"
    return _position(found)


def _position(found: Sequence[Any]) -> ChainPosition:
    return ChainPosition(int(found[0]), str(found[1]), str(found[2] or ""),
                         int(found[3] or 0), str(found[4] or ""))


def lock_head_then(reader: Reader, then: str) -> tuple[ChainPosition, list[tuple[Any, ...]]]:
    """The head with its row lock (PostgreSQL), and the rows of ``then`` read once the lock
    is ours — one round trip for both (``Reader.one_then_all``)."""
    found, rows = reader.one_then_all(_HEAD + " FOR UPDATE", then)
    assert found is not None, "chain_head has its one row from the first migration"
    return _position(found), rows


def move_head(conn: Conn, head: ChainPosition) -> None:
    reader_for(conn).later("UPDATE chain_head SET seq = ?, hash = ?, time = ?, "
                           "checkpoint_seq = ?, checkpoint_time = ? WHERE id = 1",
                           (head.seq, head.hash, head.time, head.checkpoint_seq,
                            head.checkpoint_time))


def head_seq(conn: Conn) -> int:
    found = reader_for(conn).value("SELECT seq FROM chain_head WHERE id = 1")
    return int(found) if found is not None else 0


def _stored(rows: list[tuple[Any, ...]]) -> list[StoredEvent]:
    return [StoredEvent(*row) for row in rows]


def _keyed(keys: Sequence[str]) -> str:
    return f"model_key IN ({placeholders(len(keys))})"


def model_history(conn: Conn, keys: Sequence[str], *, version: int | None, limit: int
                  ) -> list[EventRecord]:
    """The newest ``limit`` events filed under ``keys`` (of one version), oldest first."""
    sql = f"SELECT {COLUMNS} FROM events WHERE {_keyed(keys)}"
    params: list[object] = list(keys)
    if version is not None:
        sql += " AND version = ?"
        params.append(version)
    rows = settled(conn).all(sql + " ORDER BY seq DESC LIMIT ?", [*params, limit])
    return [event.record() for event in reversed(_stored(rows))]


def feed(conn: Conn, *, after: int, limit: int) -> list[EventRecord]:
    """The events after seq ``after``, oldest first: the registry-wide feed."""
    rows = settled(conn).all(
        f"SELECT {COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit))
    return [event.record() for event in _stored(rows)]


def window(conn: Conn, *, model_key: str = "", action: str = "", actor_like: str = "",
           before: int | None = None, after: int | None = None, limit: int
           ) -> list[EventRecord]:
    """Up to ``limit`` events filed under ``model_key``, of ``action``, by an actor whose
    name contains ``actor_like`` (any letter case); empty filters keep every event.
    With ``after``: the oldest above it, oldest first; else the newest below ``before``
    (None: the head), newest first. A model's events are read through its (model_key,
    seq) index and an action's through (action, seq), from the cursor on, whatever the
    log's size; an actor alone walks the log from the cursor until the page is full."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("model_key", model_key), ("action", action)):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    if actor_like:
        escaped = "".join("\\" + c if c in "\\%_" else c for c in actor_like.lower())
        clauses.append("lower(actor) LIKE ? ESCAPE '\\'")
        params.append(f"%{escaped}%")
    if after is not None:
        clauses.append("seq > ?")
        params.append(after)
    elif before is not None:
        clauses.append("seq < ?")
        params.append(before)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    order = "ASC" if after is not None else "DESC"
    rows = settled(conn).all(
        f"SELECT {COLUMNS} FROM events{where} ORDER BY seq {order} LIMIT ?", [*params, limit])
    return [event.record() for event in _stored(rows)]


def past_events(conn: Conn, keys: Sequence[str], until: str) -> list[PastEvent]:
    """The events filed under ``keys`` up to the formatted time ``until``, in order."""
    rows = settled(conn).all(
        f"SELECT action, version, to_stage, payload FROM events WHERE {_keyed(keys)} "
        f"AND time <= ? ORDER BY seq", [*keys, until])
    return [PastEvent(action, version, to_stage, json.loads(payload))
            for action, version, to_stage, payload in rows]


def production_history(conn: Conn, keys: Sequence[str], *,
                       actions: Sequence[str] | None = None) -> list[int]:
    """Every version that entered Production (by one of ``actions``), in that order."""
    sql = f"SELECT version FROM events WHERE {_keyed(keys)} AND to_stage = 'Production'"
    params: list[Any] = list(keys)
    if actions is not None:
        sql += f" AND action IN ({placeholders(len(actions))})"
        params.extend(actions)
    rows = settled(conn).all(sql + " ORDER BY seq", params)
    return [int(version) for (version,) in rows if version is not None]


def actor_of(conn: Conn, keys: Sequence[str], version: int, action: str) -> str | None:
    """Who did ``action`` to ``version`` last (e.g. who registered it)."""
    found = settled(conn).value(
        f"SELECT actor FROM events WHERE {_keyed(keys)} AND version = ? AND action = ? "
        f"ORDER BY seq DESC LIMIT 1", [*keys, version, action])
    return str(found) if found is not None else None


def with_action(conn: Conn, keys: Sequence[str], action: str
                ) -> list[tuple[int | None, dict[str, Any], str]]:
    """(version, payload, the key it was filed under) of every ``action`` event."""
    rows = settled(conn).all(
        f"SELECT version, payload, model_key FROM events WHERE action = ? AND {_keyed(keys)}",
        [action, *keys])
    return [(version, json.loads(payload), filed_under) for version, payload, filed_under in rows]


def first_seq(conn: Conn, keys: Sequence[str]) -> int:
    """The seq of the first event filed under ``keys`` (a model's creation); 1 if none."""
    found = settled(conn).value(f"SELECT min(seq) FROM events WHERE {_keyed(keys)}",
                                   list(keys))
    return int(found) if found is not None else 1


def chain_range(conn: Conn, first: int, last: int) -> list[StoredEvent]:
    """Every stored event from seq ``first`` to ``last``, in chain order (a proof's run)."""
    return _stored(settled(conn).all(
        f"SELECT {COLUMNS} FROM events WHERE seq >= ? AND seq <= ? ORDER BY seq",
        (first, last)))


def chain_rows(conn: Conn, seq: int, limit: int) -> list[StoredRow]:
    """Up to ``limit`` events from ``seq`` on as stored (``StoredRow``), for the audit walk:
    plain tuples, no record built per event."""
    return settled(conn).all(  # COLUMNS is in StoredRow's order
        f"SELECT {COLUMNS} FROM events WHERE seq >= ? ORDER BY seq LIMIT ?", (seq, limit))


def chain_row(conn: Conn, seq: int) -> StoredRow | None:
    return settled(conn).one(
        f"SELECT {COLUMNS} FROM events WHERE seq = ?", (seq,))


# --- the verified prefix (audit_verified, one row) -----------------------------------------


@dataclass(frozen=True)
class VerifiedPoint:
    """Where the last verify proved the chain up to (``seq`` 0: never), and the last full
    walk's seq and time."""

    seq: int
    hash: str
    time: str
    full_seq: int
    full_time: str


def verified_point(conn: Conn) -> VerifiedPoint:
    found = reader_for(conn).one("SELECT seq, hash, time, full_seq, full_time FROM "
                                 "audit_verified WHERE id = 1")
    if found is None:  # the row from migration 0008 was deleted: nothing is remembered
        return VerifiedPoint(0, GENESIS_HASH, "", 0, "")
    return VerifiedPoint(int(found[0]), str(found[1]), str(found[2]), int(found[3]),
                         str(found[4]))


def remember_verified(conn: Conn, seq: int, hash: str, time: str, *, full: bool) -> None:
    """Remember that the chain was proved through ``seq`` (never moving the point back: a
    slower verify that read an older snapshot may finish after a newer one)."""
    reader = reader_for(conn)
    if full:
        reader.run("UPDATE audit_verified SET full_seq = ?, full_time = ? WHERE id = 1",
                   (seq, time))
    reader.run("UPDATE audit_verified SET seq = ?, hash = ?, time = ? WHERE id = 1 AND "
               "seq <= ?", (seq, hash, time, seq))


def last_seq(conn: Conn, keys: Sequence[str], version: int, *, actions: Sequence[str],
             to_stage: str | None = None) -> int:
    """The seq of the newest of ``actions`` on ``version`` (into ``to_stage``); 0 if none."""
    sql = (f"SELECT max(seq) FROM events WHERE {_keyed(keys)} AND version = ? "
           f"AND action IN ({placeholders(len(actions))})")
    params: list[Any] = [*keys, version, *actions]
    if to_stage is not None:
        sql += " AND to_stage = ?"
        params.append(to_stage)
    found = settled(conn).value(sql, params)
    return int(found) if found is not None else 0
