"""Event rows to records; the service takes the store's time conventions (``naive``,
``utc``) from here."""

from __future__ import annotations

import json

from charter.domain.events import parse_time
from charter.domain.records import EventRecord
from charter.store import tables
from charter.store.driver import naive, utc

__all__ = ["event_record", "naive", "utc"]  # the store's time conventions, for the service


def event_record(row: tables.Event) -> EventRecord:
    return EventRecord(
        seq=row.seq, time=parse_time(row.time), actor=row.actor, action=row.action,
        model=row.model, version=row.version, from_stage=row.from_stage,
        to_stage=row.to_stage, reason=row.reason, correlation_id=row.correlation_id,
        payload=json.loads(row.payload), prev_hash=row.prev_hash, hash=row.hash,
    )
