"""The read side: records built straight from rows, in as few round trips as the
shape allows (a version is two queries: itself, then its tags, files and aliases in
one UNION). Reads are the hot path of every interface, so they are plain SQL on the
driver's connection (store/driver.py); ORM instances are kept for writes.

Every function takes ``conn``: a ``Reader`` (``Database.snapshot()``), or the ORM
Session / Core Connection of a transaction in progress.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from charter.domain.records import FileRecord, ModelRecord, VersionRecord
from charter.store import tables
from charter.store.driver import Reader, placeholders, reader_for, time_value, utc
from charter.store.repository import (
    former_number,
    lookup_key,
    model_not_found,
    version_not_found,
)

# Core tables, for the listings still built with SQLAlchemy's expression language.
M = tables.Model.__table__
V = tables.Version.__table__
VT = tables.VersionTag.__table__
VF = tables.VersionFile.__table__
A = tables.Alias.__table__
MT = tables.ModelTag.__table__
R = tables.Redirect.__table__

STAGE_ORDER = ("Production", "Staging", "None", "Archived")

MODEL_COLUMNS = ("m.id, m.name, m.name_key, m.description, m.last_version, m.created_at, "
                 "m.updated_at")
VERSION_COLUMNS = ("v.id, v.model_id, v.version, v.stage, v.source, v.run_id, v.description, "
                   "v.digest, v.status, v.created_at, v.updated_at, v.stage_changed_at")


class ModelRow(NamedTuple):
    id: int
    name: str
    name_key: str
    description: str
    last_version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, raw: Sequence[Any]) -> ModelRow:
        return cls(raw[0], raw[1], raw[2], raw[3], raw[4], utc(time_value(raw[5])),
                   utc(time_value(raw[6])))


class VersionRow(NamedTuple):
    id: int
    model_id: int
    version: int
    stage: str
    source: str
    run_id: str
    description: str
    digest: str
    status: str
    created_at: Any
    updated_at: Any
    stage_changed_at: Any
    model_name: str = ""

    @classmethod
    def of(cls, raw: Sequence[Any]) -> VersionRow:
        return cls(*raw)


def _time(value: Any) -> datetime:
    return utc(time_value(value))


# ---- versions -------------------------------------------------------------------------

def version_rows(conn: Any, model_id: int, *, numbers: Sequence[int] | None = None,
                 stage: str | None = None, newest_first: bool = False) -> list[VersionRow]:
    sql, params = f"SELECT {VERSION_COLUMNS} FROM versions v WHERE v.model_id = ?", [model_id]
    if numbers is not None:
        if not numbers:
            return []
        sql += f" AND v.version IN ({placeholders(len(numbers))})"
        params.extend(numbers)
    if stage is not None:
        sql += " AND v.stage = ?"
        params.append(stage)
    sql += " ORDER BY v.version DESC" if newest_first else " ORDER BY v.version"
    return [VersionRow.of(r) for r in reader_for(conn).all(sql, params)]


def version_records(conn: Any, model_name: str, model_id: int,
                    rows: Sequence[VersionRow]) -> list[VersionRecord]:
    """Records for rows of one model: their tags, files and aliases in one more query."""
    if not rows:
        return []
    return records_of_versions(reader_for(conn), [r._replace(model_name=model_name)
                                                  for r in rows])


def extras_sql(count: int) -> str:
    """Tags, files and aliases of ``count`` versions (ids bound three times), one UNION."""
    ids = placeholders(count)
    return (f"SELECT 't', version_id, key, value, 0 FROM version_tags "
            f"WHERE version_id IN ({ids}) "
            f"UNION ALL SELECT 'f', version_id, path, sha256, size FROM version_files "
            f"WHERE version_id IN ({ids}) "
            f"UNION ALL SELECT 'a', version_id, alias, '', 0 FROM aliases "
            f"WHERE version_id IN ({ids})")


def records_of_versions(reader: Reader, rows: Sequence[VersionRow]) -> list[VersionRecord]:
    """Records for version rows of any models (``model_name`` filled in)."""
    if not rows:
        return []
    ids = [row.id for row in rows]
    tags: dict[int, dict[str, str]] = {i: {} for i in ids}
    files: dict[int, list[FileRecord]] = {i: [] for i in ids}
    aliases: dict[int, list[str]] = {i: [] for i in ids}
    for kind, version_id, first, second, size in reader.all(extras_sql(len(ids)), ids * 3):
        if kind == "t":
            tags[version_id][first] = second
        elif kind == "f":
            files[version_id].append(FileRecord(first, size, second))
        else:
            aliases[version_id].append(first)
    return [VersionRecord(
        name=row.model_name, version=row.version, stage=row.stage, source=row.source,
        run_id=row.run_id, description=row.description, tags=tags[row.id],
        aliases=sorted(aliases[row.id]), digest=row.digest, status=row.status,
        created_at=_time(row.created_at), updated_at=_time(row.updated_at),
        stage_changed_at=_time(row.stage_changed_at),
        files=sorted(files[row.id], key=lambda f: f.path)) for row in rows]


# ---- models ---------------------------------------------------------------------------

def model_records(conn: Any, rows: Sequence[Any]) -> list[ModelRecord]:
    """Records for model rows: tags, aliases, stages and redirects in one more query."""
    if not rows:
        return []
    reader = reader_for(conn)
    ids = [r.id for r in rows]
    tags: dict[int, dict[str, str]] = {i: {} for i in ids}
    aliases: dict[int, dict[str, int]] = {i: {} for i in ids}
    versions: dict[int, list[tuple[int, str]]] = {i: [] for i in ids}
    redirects: dict[int, list[str]] = {i: [] for i in ids}
    for kind, owner, first, second, number in reader.all(model_extras_sql(len(ids)), ids * 4):
        if kind == "t":
            tags[owner][first] = second
        elif kind == "a":
            aliases[owner][first] = number
        elif kind == "r":
            redirects[owner].append(first)
        else:
            versions[owner].append((number, first))
    return [model_record(r, tags[r.id], aliases[r.id], versions[r.id], redirects[r.id])
            for r in rows]


def model_extras_sql(count: int) -> str:
    """Tags, aliases, former names and (version, stage) of ``count`` models, one UNION."""
    ids = placeholders(count)
    return (f"SELECT 't', model_id, key, value, 0 FROM model_tags WHERE model_id IN ({ids}) "
            f"UNION ALL SELECT 'a', a.model_id, a.alias, '', v.version FROM aliases a "
            f"JOIN versions v ON v.id = a.version_id WHERE a.model_id IN ({ids}) "
            f"UNION ALL SELECT 'r', model_id, name, '', 0 FROM redirects "
            f"WHERE model_id IN ({ids}) "
            f"UNION ALL SELECT 'v', model_id, stage, '', version FROM versions "
            f"WHERE model_id IN ({ids})")


def model_record(row: Any, tags: dict[str, str], aliases: dict[str, int],
                 versions: list[tuple[int, str]], redirects: list[str]) -> ModelRecord:
    by_stage: dict[str, list[int]] = {}
    for number, stage in sorted(versions):
        by_stage.setdefault(stage, []).append(number)
    return ModelRecord(
        name=row.name, description=row.description, tags=tags,
        aliases=dict(sorted(aliases.items())), version_count=len(versions),
        last_version=row.last_version,
        stages={s: by_stage[s] for s in STAGE_ORDER if s in by_stage},
        created_at=_time(row.created_at), updated_at=_time(row.updated_at),
        redirects=sorted(redirects),
    )


def stage_map(conn: Any, model_ids: Sequence[int]) -> dict[int, list[tuple[int, str]]]:
    """model id -> [(version, stage), …] ascending, in one query."""
    result: dict[int, list[tuple[int, str]]] = {mid: [] for mid in model_ids}
    if not model_ids:
        return result
    for model_id, number, stage in reader_for(conn).all(
            f"SELECT model_id, version, stage FROM versions WHERE model_id IN "
            f"({placeholders(len(model_ids))}) ORDER BY version", list(model_ids)):
        result[model_id].append((number, stage))
    return result


# ---- lookups --------------------------------------------------------------------------

_MODEL_BY_KEY = f"SELECT {MODEL_COLUMNS} FROM models m WHERE m.name_key = ?"
_MODEL_BY_REDIRECT = (f"SELECT {MODEL_COLUMNS}, r.name FROM models m "
                      f"JOIN redirects r ON r.model_id = m.id WHERE r.name_key = ?")


def find_model_row(conn: Any, name: str) -> ModelRow | None:
    """The model registered under ``name`` now (no redirects), or None."""
    raw = reader_for(conn).one(_MODEL_BY_KEY, (lookup_key(name),))
    return ModelRow.of(raw) if raw is not None else None


def get_model_row(conn: Any, name: str, *, follow_redirects: bool = True
                  ) -> tuple[ModelRow, str | None]:
    """The model row for ``name``; the second value is the old name when a redirect was used."""
    reader, key = reader_for(conn), lookup_key(name)
    raw = reader.one(_MODEL_BY_KEY, (key,))
    if raw is not None:
        return ModelRow.of(raw), None
    if follow_redirects:
        hit = reader.one(_MODEL_BY_REDIRECT, (key,))
        if hit is not None:
            return ModelRow.of(hit), hit[-1]
    raise model_not_found(reader, name)


_VERSION_BY_NAME = (f"SELECT {VERSION_COLUMNS}, m.name FROM versions v "
                    f"JOIN models m ON m.id = v.model_id WHERE m.name_key = ? AND v.version = ?")
_VERSION_BY_MODEL = (f"SELECT {VERSION_COLUMNS}, m.name FROM versions v "
                     f"JOIN models m ON m.id = v.model_id WHERE v.model_id = ? AND v.version = ?")


def get_version_record(conn: Any, name: str, number: int) -> VersionRecord:
    """One version by model name and number: one joined query on the common path."""
    reader = reader_for(conn)
    hit = reader.one(_VERSION_BY_NAME, (lookup_key(name), number))
    if hit is None:
        model, redirected_from = get_model_row(reader, name)
        if redirected_from is not None:
            number = former_number(reader, model, redirected_from, number)
        hit = reader.one(_VERSION_BY_MODEL, (model.id, number))
        if hit is None:
            raise version_not_found(model.name, number, model.last_version)
    return records_of_versions(reader, [VersionRow.of(hit)])[0]


def version_row(conn: Any, model: Any, number: int, *, via: str | None = None) -> VersionRow:
    """Version ``number`` of ``model``; ``via`` is the former name the caller used, if any."""
    reader = reader_for(conn)
    if via is not None:
        number = former_number(reader, model, via, number)
    hit = reader.one(_VERSION_BY_MODEL, (model.id, number))
    if hit is None:
        raise version_not_found(model.name, number, model.last_version)
    return VersionRow.of(hit)


def alias_target(conn: Any, model_id: int, alias: str) -> int | None:
    hit = reader_for(conn).one(
        "SELECT v.version FROM aliases a JOIN versions v ON v.id = a.version_id "
        "WHERE a.model_id = ? AND a.alias = ?", (model_id, alias.lower()))
    return hit[0] if hit else None


def newest_in_stage(conn: Any, model_id: int, stage: str) -> int | None:
    hit = reader_for(conn).one("SELECT max(version) FROM versions WHERE model_id = ? "
                               "AND stage = ?", (model_id, stage))
    return hit[0] if hit else None
