"""The read side: records built straight from Core rows, in as few round trips as
the shape allows (a version is two queries: itself, then its tags, files and
aliases in one UNION). Reads are the hot path of every interface; ORM instances
are kept for writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, String, cast, literal, select, union_all
from sqlalchemy.engine import Connection

from charter.domain.records import FileRecord, ModelRecord, VersionRecord
from charter.store import tables
from charter.store.repository import (
    former_number,
    lookup_key,
    model_not_found,
    version_not_found,
)

M = tables.Model.__table__
V = tables.Version.__table__
VT = tables.VersionTag.__table__
VF = tables.VersionFile.__table__
A = tables.Alias.__table__
MT = tables.ModelTag.__table__
R = tables.Redirect.__table__

STAGE_ORDER = ("Production", "Staging", "None", "Archived")


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ---- versions -------------------------------------------------------------------------

def version_rows(conn: Connection, model_id: int, *, numbers: Sequence[int] | None = None,
                 stage: str | None = None, newest_first: bool = False) -> list[Row[Any]]:
    query = select(V).where(V.c.model_id == model_id)
    if numbers is not None:
        query = query.where(V.c.version.in_(list(numbers)))
    if stage is not None:
        query = query.where(V.c.stage == stage)
    order = V.c.version.desc() if newest_first else V.c.version
    return list(conn.execute(query.order_by(order)))


def version_records(conn: Connection, model_name: str, model_id: int,
                    rows: Sequence[Row[Any]]) -> list[VersionRecord]:
    """Records for rows of one model: their tags, files and aliases in one more query."""
    if not rows:
        return []
    ids = [r.id for r in rows]
    extras: dict[int, dict[str, list[Any]]] = {i: {"t": [], "f": [], "a": []} for i in ids}
    for kind, version_id, first, second, size in conn.execute(_extras_query(model_id, ids)):
        if version_id in extras:
            extras[version_id][kind].append((first, second, size))
    return [_version_record(model_name, row, extras[row.id]) for row in rows]


def _extras_query(model_id: int, ids: list[int]):  # type: ignore[no-untyped-def]
    tags = select(literal("t").label("kind"), VT.c.version_id, VT.c.key.label("first"),
                  VT.c.value.label("second"), literal(0).label("size")
                  ).where(VT.c.version_id.in_(ids))
    files = select(literal("f"), VF.c.version_id, VF.c.path, VF.c.sha256, VF.c.size
                   ).where(VF.c.version_id.in_(ids))
    aliases = select(literal("a"), A.c.version_id, A.c.alias, cast(literal(""), String),
                     literal(0)).where(A.c.model_id == model_id)
    return union_all(tags, files, aliases)


def _version_record(model_name: str, row: Row[Any], extra: dict[str, list[Any]]
                    ) -> VersionRecord:
    return VersionRecord(
        name=model_name, version=row.version, stage=row.stage, source=row.source,
        run_id=row.run_id, description=row.description,
        tags={k: v for k, v, _ in extra["t"]},
        aliases=sorted(a for a, _, _ in extra["a"]),
        digest=row.digest, status=row.status,
        created_at=utc(row.created_at), updated_at=utc(row.updated_at),
        stage_changed_at=utc(row.stage_changed_at),
        files=sorted((FileRecord(p, s, d) for p, d, s in extra["f"]), key=lambda f: f.path),
    )


# ---- models ---------------------------------------------------------------------------

def model_records(conn: Connection, rows: Sequence[Row[Any]]) -> list[ModelRecord]:
    """Records for model rows: tags, aliases, stages and redirects in four queries in all."""
    ids = [r.id for r in rows]
    if not ids:
        return []
    tags: dict[int, dict[str, str]] = {i: {} for i in ids}
    for model_id, key, value in conn.execute(
            select(MT.c.model_id, MT.c.key, MT.c.value).where(MT.c.model_id.in_(ids))):
        tags[model_id][key] = value
    aliases: dict[int, dict[str, int]] = {i: {} for i in ids}
    for model_id, alias, number in conn.execute(
            select(A.c.model_id, A.c.alias, V.c.version)
            .join(V, V.c.id == A.c.version_id).where(A.c.model_id.in_(ids))):
        aliases[model_id][alias] = number
    stages = stage_map(conn, ids)
    redirects = redirect_map(conn, ids)
    return [_model_record(r, tags[r.id], aliases[r.id], stages[r.id], redirects[r.id])
            for r in rows]


def _model_record(row: Row[Any], tags: dict[str, str], aliases: dict[str, int],
                  versions: list[tuple[int, str]], redirects: list[str]) -> ModelRecord:
    by_stage: dict[str, list[int]] = {}
    for number, stage in versions:
        by_stage.setdefault(stage, []).append(number)
    return ModelRecord(
        name=row.name, description=row.description, tags=tags,
        aliases=dict(sorted(aliases.items())), version_count=len(versions),
        last_version=row.last_version,
        stages={s: by_stage[s] for s in STAGE_ORDER if s in by_stage},
        created_at=utc(row.created_at), updated_at=utc(row.updated_at),
        redirects=sorted(redirects),
    )


def stage_map(conn: Connection, model_ids: Sequence[int]) -> dict[int, list[tuple[int, str]]]:
    """model id -> [(version, stage), …] ascending, in one query."""
    result: dict[int, list[tuple[int, str]]] = {mid: [] for mid in model_ids}
    if not model_ids:
        return result
    rows = conn.execute(select(V.c.model_id, V.c.version, V.c.stage)
                        .where(V.c.model_id.in_(list(model_ids))).order_by(V.c.version))
    for model_id, number, stage in rows:
        result[model_id].append((number, stage))
    return result


def redirect_map(conn: Connection, model_ids: Sequence[int]) -> dict[int, list[str]]:
    result: dict[int, list[str]] = {mid: [] for mid in model_ids}
    if model_ids:
        for model_id, old in conn.execute(select(R.c.model_id, R.c.name)
                                          .where(R.c.model_id.in_(list(model_ids)))):
            result[model_id].append(old)
    return result


# ---- lookups --------------------------------------------------------------------------

def get_model_row(conn: Any, name: str, *, follow_redirects: bool = True
                  ) -> tuple[Row[Any], str | None]:
    """The model row for ``name``; the second value is the old name when a redirect was used."""
    key = lookup_key(name)
    row = conn.execute(select(M).where(M.c.name_key == key)).first()
    if row is not None:
        return row, None
    if follow_redirects:
        hit = conn.execute(select(M, R.c.name.label("redirected_from"))
                           .join(R, R.c.model_id == M.c.id).where(R.c.name_key == key)).first()
        if hit is not None:
            return hit, hit.redirected_from
    raise model_not_found(conn, name)


def get_version_record(conn: Any, name: str, number: int) -> VersionRecord:
    """One version by model name and number: one joined query on the common path."""
    hit = conn.execute(select(V, M.c.name.label("model_name")).join(M, M.c.id == V.c.model_id)
                       .where(M.c.name_key == lookup_key(name), V.c.version == number)).first()
    if hit is None:
        model, redirected_from = get_model_row(conn, name)
        if redirected_from is not None:
            number = former_number(conn, model, redirected_from, number)
        hit = conn.execute(select(V, literal(model.name).label("model_name"))
                           .where(V.c.model_id == model.id, V.c.version == number)).first()
        if hit is None:
            raise version_not_found(model.name, number, model.last_version)
    return version_records(conn, hit.model_name, hit.model_id, [hit])[0]


def alias_target(conn: Any, model_id: int, alias: str) -> int | None:
    return conn.execute(select(V.c.version).join(A, A.c.version_id == V.c.id)
                        .where(A.c.model_id == model_id, A.c.alias == alias.lower())
                        ).scalar_one_or_none()


def newest_in_stage(conn: Any, model_id: int, stage: str) -> int | None:
    return conn.execute(select(V.c.version).where(V.c.model_id == model_id, V.c.stage == stage)
                        .order_by(V.c.version.desc()).limit(1)).scalar_one_or_none()
