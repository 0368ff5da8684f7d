"""A stage move's reads in one statement (service/stages.py ``transition``), and on
PostgreSQL the reads of a group commit's moves all in one (``read_ahead``).

A write holds the chain head's row lock until its batch commits (store/group_commit.py),
so every round trip it makes is a wait for every other writer of every replica.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from charter.domain.errors import NotFound
from charter.domain.records import VersionRecord
from charter.store.at_once import EXTRAS, record_with_extras
from charter.store.driver import Conn, Reader, naive, reader_for, sql_time, time_value
from charter.store.models import COLUMNS as MODEL_COLUMNS
from charter.store.models import ModelRow, lookup_key
from charter.store.versions import COLUMNS, VersionRow

# The model by its current name, the version, the newest version in Production
# (``versions.newest_in_stage``) and whether a consumer reported lately
# (``consumers.has_reports``); on PostgreSQL the version's tags, files and aliases too,
# so the move answers its record without reading it again (``record_after``).
_FOR_MOVE = (f"SELECT {MODEL_COLUMNS}, {COLUMNS}, "
             "(SELECT max(p.version) FROM versions p WHERE p.model_id = m.id "
             "AND p.stage = 'Production'), "
             "EXISTS (SELECT 1 FROM consumers c WHERE c.model_id = m.id AND c.last_seen > ?)"
             "{extras} FROM models m JOIN versions v ON v.model_id = m.id "
             "WHERE m.name_key = ? AND v.version = ?")
_FOR_MOVE_IN = {"postgresql": _FOR_MOVE.format(extras=f", {EXTRAS['postgresql']}"),
                "sqlite": _FOR_MOVE.format(extras="")}
_MODEL_WIDTH = len(MODEL_COLUMNS.split(","))
_ROW_END = _MODEL_WIDTH + len(COLUMNS.split(","))


class MoveReads(NamedTuple):
    """``for_move``'s answer."""

    model: ModelRow
    row: VersionRow
    production: int | None
    consumers_seen: bool  # a consumer of the model was seen after ``seen_after``
    extras: Sequence[Any] | None = None  # the version's tags, files, aliases (PostgreSQL)


def for_move(conn: Conn, name: str, number: int, *, seen_after: datetime
             ) -> MoveReads | None:
    """The model ``name`` is the current name of, its version ``number``, the newest
    version in Production and whether a consumer was seen after ``seen_after``; None when
    there is no such pair (a former name, no such version: the caller then looks them up
    one by one, which tells why)."""
    key = (lookup_key(name), number)
    ahead: tuple[tuple[str, int], Sequence[Any]] | None = getattr(_offered, "move", None)
    if ahead is not None and ahead[0] == key:  # read with the batch's other moves
        _offered.move = None
        hit, last_seen = ahead[1], ahead[1][_ROW_END + 1]
        seen = last_seen is not None and naive(time_value(last_seen)) > naive(seen_after)
        return _reads(hit, seen)
    reader = reader_for(conn)
    found = reader.one(_FOR_MOVE_IN[reader.dialect], (sql_time(reader, seen_after), *key))
    return _reads(found, bool(found[_ROW_END + 1])) if found is not None else None


def _reads(hit: Sequence[Any], consumers_seen: bool) -> MoveReads:
    model = ModelRow.of(hit[:_MODEL_WIDTH])
    production = hit[_ROW_END]
    return MoveReads(model, VersionRow.of(hit[_MODEL_WIDTH:_ROW_END])._replace(
                         model_name=model.name),
                     int(production) if production is not None else None,
                     consumers_seen, hit[_ROW_END + 2:] or None)


# ---- a group commit's moves, read together ----------------------------------------------

# ``_FOR_MOVE`` for many (model key, version) pairs at once, the newest consumer report's
# time in place of "seen lately" (each move's own cut-off is applied in ``for_move``);
# the pair first, then the columns of ``_FOR_MOVE``.
_AHEAD = (f"SELECT k.name_key, k.version, {MODEL_COLUMNS}, {COLUMNS}, "
          "(SELECT max(p.version) FROM versions p WHERE p.model_id = m.id "
          "AND p.stage = 'Production'), "
          "(SELECT max(c.last_seen) FROM consumers c WHERE c.model_id = m.id), "
          f"{EXTRAS['postgresql']} "
          "FROM unnest(?::text[], ?::int[]) AS k (name_key, version) "
          "JOIN models m ON m.name_key = k.name_key "
          "JOIN versions v ON v.model_id = m.id AND v.version = k.version")

_offered = threading.local()  # the one read-ahead a call of this thread may use


def move_key(name: str, number: int) -> tuple[str, int] | None:
    """The key a move of version ``number`` of ``name`` is read ahead by (None: a name no
    model could have)."""
    try:
        return lookup_key(name), number
    except NotFound:
        return None


def read_ahead(reader: Reader, keys: Iterable[tuple[str, int]]
               ) -> dict[tuple[str, int], Sequence[Any]]:
    """What ``for_move`` reads, for every key at once (one statement, PostgreSQL): a
    group commit reads its moves so once it holds the chain head, one round trip for the
    batch instead of one per move. A key that names no version is absent."""
    wanted = list(dict.fromkeys(keys))
    if not wanted or reader.dialect != "postgresql":
        return {}
    rows = reader.all(_AHEAD, ([k for k, _ in wanted], [n for _, n in wanted]))
    return {(row[0], int(row[1])): row[2:] for row in rows}


def model_id_of(hit: Sequence[Any]) -> int:
    """The id of the model a row of ``read_ahead`` is of."""
    return int(hit[0])


def offer(key: tuple[str, int] | None, hit: Sequence[Any] | None) -> None:
    """Let this thread's next ``for_move`` of ``key`` use ``hit`` (read ahead) instead of
    reading; None withdraws the offer. The caller offers a read only while it is still
    true: no earlier call of the batch can have changed that model."""
    _offered.move = (key, hit) if key is not None and hit is not None else None


def record_after(found: MoveReads, stage: str | None, now: datetime) -> VersionRecord | None:
    """The record of ``found``'s version once the move has put it in ``stage`` at ``now``
    (None: it did not move) — what reading it again would answer, with one round trip
    less while the chain head is locked; None where ``for_move`` did not read its extras."""
    if found.extras is None:
        return None
    row = found.row
    if stage is not None:  # versions.set_stage's columns
        at = naive(now)
        row = row._replace(stage=stage, updated_at=at, stage_changed_at=at)
    return record_with_extras(row, found.extras)
