"""Rows to records: the one place the ORM's shapes turn into the product's."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from charter.domain.events import parse_time
from charter.domain.records import EventRecord, FileRecord, ModelRecord, VersionRecord
from charter.store import tables


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def naive(moment: datetime) -> datetime:
    """Columns store UTC without a zone (SQLite has none to keep)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


# ORM-row builders, still used by service/search.py; store/reads.py builds the
# hot-path records from Core rows.
STAGE_ORDER = ("Production", "Staging", "None", "Archived")


def model_record(model: tables.Model, versions: list[tuple[int, str]],
                 redirects: list[str] | None = None) -> ModelRecord:
    stages: dict[str, list[int]] = {}
    for number, stage in versions:
        stages.setdefault(stage, []).append(number)
    return ModelRecord(
        name=model.name,
        description=model.description,
        tags={t.key: t.value for t in model.tags},
        aliases={a.alias: a.version.version for a in model.aliases},
        version_count=len(versions),
        last_version=model.last_version,
        stages={s: stages[s] for s in STAGE_ORDER if s in stages},
        created_at=utc(model.created_at),
        updated_at=utc(model.updated_at),
        redirects=sorted(redirects or []),
    )


def version_record(row: tables.Version) -> VersionRecord:
    return VersionRecord(
        name=row.model.name,
        version=row.version,
        stage=row.stage,
        source=row.source,
        run_id=row.run_id,
        description=row.description,
        tags={t.key: t.value for t in row.tags},
        aliases=sorted(a.alias for a in row.model.aliases if a.version_id == row.id),
        digest=row.digest,
        status=row.status,
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
        stage_changed_at=utc(row.stage_changed_at),
        files=[FileRecord(f.path, f.size, f.sha256) for f in row.files],
    )


def event_record(row: tables.Event) -> EventRecord:
    return EventRecord(
        seq=row.seq, time=parse_time(row.time), actor=row.actor, action=row.action,
        model=row.model, version=row.version, from_stage=row.from_stage,
        to_stage=row.to_stage, reason=row.reason, correlation_id=row.correlation_id,
        payload=json.loads(row.payload), prev_hash=row.prev_hash, hash=row.hash,
    )
