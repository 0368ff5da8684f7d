"""A stage move's reads in one statement (service/stages.py ``transition``).

A write holds the chain head's row lock until its batch commits (store/group_commit.py),
so every round trip it makes is a wait for every other writer of every replica.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from charter.domain.records import VersionRecord
from charter.store.at_once import EXTRAS, record_with_extras
from charter.store.driver import Conn, naive, reader_for, sql_time
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
    reader = reader_for(conn)
    hit = reader.one(_FOR_MOVE_IN[reader.dialect],
                     (sql_time(reader, seen_after), lookup_key(name), number))
    if hit is None:
        return None
    model = ModelRow.of(hit[:_MODEL_WIDTH])
    production = hit[_ROW_END]
    return MoveReads(model, VersionRow.of(hit[_MODEL_WIDTH:_ROW_END])._replace(
                         model_name=model.name),
                     int(production) if production is not None else None,
                     bool(hit[_ROW_END + 1]), hit[_ROW_END + 2:] or None)


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
