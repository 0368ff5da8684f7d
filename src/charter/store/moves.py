"""A stage move's reads in one statement (service/stages.py ``transition``).

A write holds the chain head's row lock until its batch commits (store/group_commit.py),
so every round trip it makes is a wait for every other writer of every replica.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from charter.store.driver import Conn, reader_for, sql_time
from charter.store.models import COLUMNS as MODEL_COLUMNS
from charter.store.models import ModelRow, lookup_key
from charter.store.versions import COLUMNS, VersionRow

# The model by its current name, the version, the newest version in Production
# (``versions.newest_in_stage``) and whether a consumer reported lately
# (``consumers.has_reports``).
_FOR_MOVE = (f"SELECT {MODEL_COLUMNS}, {COLUMNS}, "
             "(SELECT max(p.version) FROM versions p WHERE p.model_id = m.id "
             "AND p.stage = 'Production'), "
             "EXISTS (SELECT 1 FROM consumers c WHERE c.model_id = m.id AND c.last_seen > ?) "
             "FROM models m JOIN versions v ON v.model_id = m.id "
             "WHERE m.name_key = ? AND v.version = ?")
_MODEL_WIDTH = len(MODEL_COLUMNS.split(","))


class MoveReads(NamedTuple):
    """``for_move``'s answer."""

    model: ModelRow
    row: VersionRow
    production: int | None
    consumers_seen: bool  # a consumer of the model was seen after ``seen_after``


def for_move(conn: Conn, name: str, number: int, *, seen_after: datetime
             ) -> MoveReads | None:
    """The model ``name`` is the current name of, its version ``number``, the newest
    version in Production and whether a consumer was seen after ``seen_after``; None when
    there is no such pair (a former name, no such version: the caller then looks them up
    one by one, which tells why)."""
    reader = reader_for(conn)
    hit = reader.one(_FOR_MOVE, (sql_time(reader, seen_after), lookup_key(name), number))
    if hit is None:
        return None
    model = ModelRow.of(hit[:_MODEL_WIDTH])
    production = hit[-2]
    return MoveReads(model, VersionRow.of(hit[_MODEL_WIDTH:-2])._replace(model_name=model.name),
                     int(production) if production is not None else None, bool(hit[-1]))
