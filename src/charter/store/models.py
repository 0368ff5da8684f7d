"""Registered models: their rows, tags, former names (redirects) and tombstones (retired
names with their version counters), and the ModelRecords built from them. Plain SQL
on the driver's connection (store/driver.py).

A name is looked up by its key (``name_key``: names are unique regardless of case);
a former name resolves to its model through ``redirects``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from charter.domain import error_codes as codes
from charter.domain.errors import NotFound
from charter.domain.records import ModelRecord
from charter.store import name_suffixes, numbers
from charter.store.driver import (
    Conn,
    as_stored,
    placeholders,
    reader_for,
    sql_time,
    stored_time,
    update_or_insert,
)
from charter.store.model_hints import not_found

STAGE_ORDER = ("Production", "Staging", "None", "Archived")
COLUMNS = ("m.id, m.name, m.name_key, m.description, m.last_version, m.created_at, "
           "m.updated_at")


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
        return cls(raw[0], raw[1], raw[2], raw[3], raw[4], stored_time(raw[5]),
                   stored_time(raw[6]))


class FollowedRow(ModelRow):
    """A model row reached by a former name, which it keeps as ``asked``: a caller who may
    not read the model is refused in that name, as for a model that is not there — its
    current name would give away what became of it."""

    asked: str

    @classmethod
    def following(cls, raw: Sequence[Any], asked: str) -> FollowedRow:
        row = cls(*ModelRow.of(raw))
        row.asked = asked
        return row


@dataclass(frozen=True, slots=True)
class Redirect:
    """A former name that still resolves to model ``model_id``."""

    name: str
    name_key: str
    model_id: int


def name_key(name: str) -> str:
    return name.strip().lower()


def lookup_key(name: str) -> str:
    """The key to look a name up by; a name no model could have is simply not found."""
    if not isinstance(name, str) or len(name) > 256 or "\x00" in name:
        raise NotFound(codes.MODEL_NOT_FOUND, f"No model named {str(name)[:80]!r} is registered",
                       "names are at most 256 printable characters")
    return name_key(name)


# ---- lookups ------------------------------------------------------------------------

_BY_KEY = f"SELECT {COLUMNS} FROM models m WHERE m.name_key = ?"
_BY_REDIRECT = (f"SELECT {COLUMNS}, r.name FROM models m "
                f"JOIN redirects r ON r.model_id = m.id WHERE r.name_key = ?")


def find(conn: Conn, name: str) -> ModelRow | None:
    """The model registered under ``name`` now (no redirects), or None."""
    raw = reader_for(conn).one(_BY_KEY, (lookup_key(name),))
    return ModelRow.of(raw) if raw is not None else None


def get(conn: Conn, name: str, *, follow_redirects: bool = True
        ) -> tuple[ModelRow, str | None]:
    """The model for ``name``; the second value is the old name when a redirect was used."""
    reader, key = reader_for(conn), lookup_key(name)
    raw = reader.one(_BY_KEY, (key,))
    if raw is not None:
        return ModelRow.of(raw), None
    if follow_redirects:
        hit = reader.one(_BY_REDIRECT, (key,))
        if hit is not None:
            return FollowedRow.following(hit, name), str(hit[-1])
    raise not_found(reader, name)


def by_id(conn: Conn, model_id: int) -> ModelRow:
    raw = reader_for(conn).one(f"SELECT {COLUMNS} FROM models m WHERE m.id = ?", (model_id,))
    assert raw is not None, f"model {model_id} is referenced, so it exists"
    return ModelRow.of(raw)


def redirect_of(conn: Conn, name: str) -> Redirect | None:
    """The redirect of the former name ``name``, if it is one."""
    raw = reader_for(conn).one("SELECT name, name_key, model_id FROM redirects "
                               "WHERE name_key = ?", (lookup_key(name),))
    return Redirect(raw[0], raw[1], raw[2]) if raw is not None else None


def is_taken(conn: Conn, name: str) -> bool:
    """Whether ``name`` is a model's name or a former name that still resolves."""
    return find(conn, name) is not None or redirect_of(conn, name) is not None


def redirect_keys(conn: Conn, model_id: int) -> list[str]:
    return [row[0] for row in reader_for(conn).all(
        "SELECT name_key FROM redirects WHERE model_id = ?", (model_id,))]


def keys_of(conn: Conn, model: ModelRow) -> list[str]:
    """Every name key the model's events may be filed under: its own and its redirects'."""
    return [model.name_key, *redirect_keys(conn, model.id)]


# ---- records ------------------------------------------------------------------------

def records(conn: Conn, rows: Sequence[ModelRow]) -> list[ModelRecord]:
    """Records for model rows: tags, aliases, stages and redirects in one more query."""
    if not rows:
        return []
    ids = [r.id for r in rows]
    tags: dict[int, dict[str, str]] = {i: {} for i in ids}
    aliases: dict[int, dict[str, int]] = {i: {} for i in ids}
    versions: dict[int, list[tuple[int, str]]] = {i: [] for i in ids}
    redirects: dict[int, list[str]] = {i: [] for i in ids}
    reader = reader_for(conn)
    for kind, owner, first, second, number in reader.all(
            _extras_sql(len(ids), reader.dialect), ids * 4):
        if kind == "t":
            tags[owner][first] = second
        elif kind == "a":
            aliases[owner][first] = number
        elif kind == "r":
            redirects[owner].append(first)
        else:  # one row per stage: its version numbers, comma-separated
            versions[owner] += [(int(n), first) for n in second.split(",")]
    return [_record(r, tags[r.id], aliases[r.id], versions[r.id], redirects[r.id])
            for r in rows]


def tags_and_aliases(conn: Conn, ids: Sequence[int]
                     ) -> tuple[dict[int, dict[str, str]], dict[int, dict[str, int]]]:
    """Each model's tags and aliases (alias -> version number), in one query: what a
    listing shows beside the row, without the stage map and former names of ``records``."""
    tags: dict[int, dict[str, str]] = {i: {} for i in ids}
    aliases: dict[int, dict[str, int]] = {i: {} for i in ids}
    if not ids:
        return tags, aliases
    marks = placeholders(len(ids))
    for kind, owner, key, value, number in reader_for(conn).all(
            f"SELECT 't', model_id, key, value, 0 FROM model_tags WHERE model_id IN ({marks}) "
            f"UNION ALL SELECT 'a', a.model_id, a.alias, '', v.version FROM aliases a "
            f"JOIN versions v ON v.id = a.version_id WHERE a.model_id IN ({marks})",
            list(ids) * 2):
        if kind == "t":
            tags[owner][key] = value
        else:
            aliases[owner][key] = number
    return tags, aliases


def record(conn: Conn, name: str) -> ModelRecord:
    """The record of the model ``name`` (a former name resolves too)."""
    row, _ = get(conn, name)
    return records(conn, [row])[0]


def _extras_sql(count: int, dialect: str) -> str:
    """Tags, aliases, former names and the version numbers in each stage of ``count``
    models, one UNION. The numbers come joined in one text per (model, stage), read off
    the (model_id, stage, version) index: a few rows per model instead of one per
    version, which is most of a page's cost at 50 versions a model."""
    ids = placeholders(count)
    joined = ("string_agg(CAST(version AS TEXT), ',')" if dialect == "postgresql"
              else "group_concat(version)")
    return (f"SELECT 't', model_id, key, value, 0 FROM model_tags WHERE model_id IN ({ids}) "
            f"UNION ALL SELECT 'a', a.model_id, a.alias, '', v.version FROM aliases a "
            f"JOIN versions v ON v.id = a.version_id WHERE a.model_id IN ({ids}) "
            f"UNION ALL SELECT 'r', model_id, name, '', 0 FROM redirects "
            f"WHERE model_id IN ({ids}) "
            f"UNION ALL SELECT 'v', model_id, stage, {joined}, count(*) FROM versions "
            f"WHERE model_id IN ({ids}) GROUP BY model_id, stage")


def _record(row: ModelRow, tags: dict[str, str], aliases: dict[str, int],
            versions: list[tuple[int, str]], redirects: list[str]) -> ModelRecord:
    by_stage: dict[str, list[int]] = {}
    for number, stage in sorted(versions):
        by_stage.setdefault(stage, []).append(number)
    return ModelRecord(
        name=row.name, description=row.description, tags=tags,
        aliases=dict(sorted(aliases.items())), version_count=len(versions),
        last_version=row.last_version,
        stages={s: by_stage[s] for s in STAGE_ORDER if s in by_stage},
        created_at=row.created_at, updated_at=row.updated_at, redirects=sorted(redirects))


def tags_of(conn: Conn, model_id: int) -> dict[str, str]:
    return {key: value for key, value in reader_for(conn).all(
        "SELECT key, value FROM model_tags WHERE model_id = ?", (model_id,))}


def tag(conn: Conn, model_id: int, key: str) -> str | None:
    found = reader_for(conn).value(
        "SELECT value FROM model_tags WHERE model_id = ? AND key = ?", (model_id, key))
    return str(found) if found is not None else None


# ---- writes -------------------------------------------------------------------------

def insert(conn: Conn, name: str, *, description: str, last_version: int, now: datetime
           ) -> ModelRow:
    reader = reader_for(conn)
    at = sql_time(reader, now)
    key = name_key(name)
    model_id = reader.value(
        "INSERT INTO models (name, name_key, description, last_version, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (name, key, description, last_version, at, at))
    name_suffixes.write(reader, int(model_id), key)
    moment = as_stored(now)
    return ModelRow(int(model_id), name, key, description, last_version, moment, moment)


def rename(conn: Conn, model_id: int, new_name: str, now: datetime) -> None:
    reader = reader_for(conn)
    key = name_key(new_name)
    reader.run("UPDATE models SET name = ?, name_key = ?, updated_at = ? WHERE id = ?",
               (new_name, key, sql_time(reader, now), model_id))
    name_suffixes.rewrite(reader, model_id, key)


def set_description(conn: Conn, model_id: int, description: str, now: datetime) -> None:
    reader = reader_for(conn)
    reader.run("UPDATE models SET description = ?, updated_at = ? WHERE id = ?",
               (description, sql_time(reader, now), model_id))


def touch(conn: Conn, model_id: int, now: datetime) -> None:
    """The model changed (a version moved, was deleted, …): its ``updated_at`` is now."""
    reader = reader_for(conn)
    reader.later("UPDATE models SET updated_at = ? WHERE id = ?",
                 (sql_time(reader, now), model_id))


class NumberTaken(NamedTuple):
    """``take_next_number``'s answer: the model as it is after, the number it gave out,
    and whether it has allowed signers (signer continuity reads them only then)."""

    model: ModelRow
    number: int
    has_signers: bool


_TAKE_NUMBER = {
    "sqlite": "UPDATE models SET last_version = last_version + 1, updated_at = ? "
              "WHERE name_key = ? RETURNING id, name, name_key, description, last_version, "
              "created_at, updated_at, "
              "EXISTS (SELECT 1 FROM allowed_signers a WHERE a.model_id = models.id)",
    # PostgreSQL: the new version forgets the model's kept brief here, and says so for the
    # rest of the transaction, so its rows fire no trigger (store/triggers.py).
    "postgresql": "UPDATE models SET last_version = last_version + 1, updated_at = ?, "
                  "brief = NULL WHERE name_key = ? RETURNING id, name, name_key, description, "
                  "last_version, created_at, updated_at, "
                  "set_config('charter.forgot', id::text, true), "
                  "EXISTS (SELECT 1 FROM allowed_signers a WHERE a.model_id = models.id)",
}


def take_next_number(conn: Conn, name: str, now: datetime) -> NumberTaken | None:
    """``next_version_number`` of the model registered under ``name`` now (no redirects),
    found and counted up in one statement; None when no model has that name (nothing
    changed then)."""
    reader = reader_for(conn)
    key = lookup_key(name)
    ahead = numbers.take_offered(key)  # read with the batch's other new versions
    if ahead is not None:
        read, at = ModelRow.of(ahead[:7]), sql_time(reader, now)
        number = read.last_version + 1
        reader.later(numbers.COUNT_UP, (read.last_version, number, at, read.id))
        model = read._replace(last_version=number, updated_at=stored_time(at))
        return NumberTaken(model, number, bool(ahead[7]))
    raw = reader.one(_TAKE_NUMBER[reader.dialect], (sql_time(reader, now), key))
    if raw is None:
        return None
    model = ModelRow.of(raw)
    return NumberTaken(model, model.last_version, bool(raw[-1]))


def next_version_number(conn: Conn, model_id: int, now: datetime) -> int:
    """Take the model's next version number: its counter goes up by one, for good."""
    reader = reader_for(conn)
    return int(reader.value(
        "UPDATE models SET last_version = last_version + 1, updated_at = ? WHERE id = ? "
        "RETURNING last_version", (sql_time(reader, now), model_id)))


def set_imported(conn: Conn, model_id: int, *, created_at: datetime, last_version: int) -> None:
    """An imported model keeps its creation time and has given out its versions' numbers."""
    reader = reader_for(conn)
    reader.run("UPDATE models SET created_at = ?, last_version = ? WHERE id = ?",
               (sql_time(reader, created_at), last_version, model_id))


def delete(conn: Conn, model_id: int) -> None:
    """Delete the model; its versions, tags, aliases, redirects and grants go with it."""
    reader_for(conn).run("DELETE FROM models WHERE id = ?", (model_id,))


def set_tag(conn: Conn, model_id: int, key: str, value: str) -> None:
    update_or_insert(reader_for(conn),
                     "UPDATE model_tags SET value = ? WHERE model_id = ? AND key = ?",
                     (value, model_id, key),
                     "INSERT INTO model_tags (model_id, key, value) VALUES (?, ?, ?)",
                     (model_id, key, value))


def delete_tag(conn: Conn, model_id: int, key: str) -> None:
    reader_for(conn).run("DELETE FROM model_tags WHERE model_id = ? AND key = ?",
                         (model_id, key))


def add_redirect(conn: Conn, old_name: str, model_id: int) -> None:
    reader_for(conn).run("INSERT INTO redirects (name_key, name, model_id) VALUES (?, ?, ?)",
                         (name_key(old_name), old_name, model_id))


def drop_redirect(conn: Conn, name: str) -> None:
    reader_for(conn).run("DELETE FROM redirects WHERE name_key = ?", (name_key(name),))


# ---- tombstones ---------------------------------------------------------------------

def retired_counter(conn: Conn, name: str) -> int:
    """How many version numbers the deleted name ``name`` gave out (0: none)."""
    found = reader_for(conn).value("SELECT last_version FROM retired_names WHERE name_key = ?",
                                   (name_key(name),))
    return int(found) if found is not None else 0


def retire(conn: Conn, key: str, last_version: int) -> None:
    """Keep a deleted name's counter: its numbers are never given out again."""
    update_or_insert(reader_for(conn),
                     "UPDATE retired_names SET last_version = CASE WHEN last_version > ? "
                     "THEN last_version ELSE ? END WHERE name_key = ?",
                     (last_version, last_version, key),
                     "INSERT INTO retired_names (name_key, last_version) VALUES (?, ?)",
                     (key, last_version))
