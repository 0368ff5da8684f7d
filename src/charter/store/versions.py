"""Model versions: their rows, stages, tags, files and aliases, and the VersionRecords
built from them. Plain SQL on the driver's connection (store/driver.py): getting a
version, the latest versions, registering and moving one are the hot paths
(bench/README.md), so a record is two queries — the version, then its tags, files
and aliases in one UNION — and one version by name is one (``record_at_once``).

What a number means never changes: a version's source, digest and files cannot be
updated (store/triggers.py), and its number is never given out again (the model's
counter, ``models.next_version_number``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from charter.domain import error_codes as codes
from charter.domain.errors import NotFound
from charter.domain.events import VERSION_IMPORTED
from charter.domain.records import FileRecord, VersionRecord
from charter.store import events
from charter.store.driver import (
    Conn,
    placeholders,
    reader_for,
    sql_time,
    stored_time,
    update_or_insert,
)
from charter.store.models import ModelRow, get, keys_of, lookup_key, touch

COLUMNS = ("v.id, v.model_id, v.version, v.stage, v.source, v.run_id, v.description, "
           "v.digest, v.status, v.created_at, v.updated_at, v.stage_changed_at, v.signer, "
           "v.signature, v.logged_model_id")
StoredFile = tuple[str, int, str]  # (relative path, size, sha256)


class VersionRow(NamedTuple):
    """A version's row; times as the driver returns them (converted for records only)."""

    id: int
    model_id: int
    version: int
    stage: str
    source: str
    run_id: str
    description: str
    digest: str
    status: str
    created_at: str | datetime
    updated_at: str | datetime
    stage_changed_at: str | datetime
    signer: str | None = None
    signature: str | None = None
    logged_model_id: str = ""
    model_name: str = ""

    @classmethod
    def of(cls, raw: Sequence[Any]) -> VersionRow:
        return cls(*raw)

    @property
    def stage_since(self) -> datetime:
        """When the version entered its stage, as an aware UTC time."""
        return stored_time(self.stage_changed_at)


# ---- reads --------------------------------------------------------------------------

def rows(conn: Conn, model_id: int, *, numbers: Sequence[int] | None = None,
         stage: str | None = None, newest_first: bool = False) -> list[VersionRow]:
    sql = f"SELECT {COLUMNS} FROM versions v WHERE v.model_id = ?"
    params: list[object] = [model_id]
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


def records(conn: Conn, model_name: str, found: Sequence[VersionRow]) -> list[VersionRecord]:
    """Records for rows of one model: their tags, files and aliases in one more query."""
    if not found:
        return []
    return records_of(conn, [r._replace(model_name=model_name) for r in found])


def _extras_sql(count: int) -> str:
    """Tags, files and aliases of ``count`` versions (ids bound three times), one UNION."""
    ids = placeholders(count)
    return (f"SELECT 't', version_id, key, value, 0 FROM version_tags "
            f"WHERE version_id IN ({ids}) "
            f"UNION ALL SELECT 'f', version_id, path, sha256, size FROM version_files "
            f"WHERE version_id IN ({ids}) "
            f"UNION ALL SELECT 'a', version_id, alias, '', 0 FROM aliases "
            f"WHERE version_id IN ({ids})")


def records_of(conn: Conn, found: Sequence[VersionRow]) -> list[VersionRecord]:
    """Records for version rows of any models (``model_name`` filled in)."""
    if not found:
        return []
    ids = [row.id for row in found]
    tags: dict[int, dict[str, str]] = {i: {} for i in ids}
    files: dict[int, list[FileRecord]] = {i: [] for i in ids}
    aliases: dict[int, list[str]] = {i: [] for i in ids}
    for kind, version_id, first, second, size in reader_for(conn).all(
            _extras_sql(len(ids)), ids * 3):
        if kind == "t":
            tags[version_id][first] = second
        elif kind == "f":
            files[version_id].append(FileRecord(first, size, second))
        else:
            aliases[version_id].append(first)
    return [record_from(row, tags[row.id], files[row.id], aliases[row.id]) for row in found]


def record_from(row: VersionRow, tags: dict[str, str], files: list[FileRecord],
            aliases: list[str]) -> VersionRecord:
    return VersionRecord(
        name=row.model_name, version=row.version, stage=row.stage, source=row.source,
        run_id=row.run_id, description=row.description, tags=tags,
        aliases=sorted(aliases), digest=row.digest, status=row.status,
        created_at=stored_time(row.created_at), updated_at=stored_time(row.updated_at),
        stage_changed_at=stored_time(row.stage_changed_at),
        files=sorted(files, key=lambda f: f.path), signer=row.signer,
        signature=row.signature, model_id=row.logged_model_id or "")


_BY_NAME = (f"SELECT {COLUMNS}, m.name FROM versions v "
            f"JOIN models m ON m.id = v.model_id WHERE m.name_key = ? AND v.version = ?")
_BY_MODEL = (f"SELECT {COLUMNS}, m.name FROM versions v "
             f"JOIN models m ON m.id = v.model_id WHERE v.model_id = ? AND v.version = ?")


def record(conn: Conn, name: str, number: int) -> VersionRecord:
    """One version by model name and number: one joined query on the common path (on
    PostgreSQL with its tags, files and aliases: a write answers with one round trip
    less while it holds the chain head)."""
    reader = reader_for(conn)
    if reader.dialect == "postgresql":
        from charter.store.at_once import record_at_once  # at_once builds on this module

        found = record_at_once(reader, name, number)
        if found is not None:
            return found
    hit = reader.one(_BY_NAME, (lookup_key(name), number))
    if hit is None:
        model, redirected_from = get(reader, name)
        if redirected_from is not None:
            number = former_number(reader, model, redirected_from, number)
        hit = reader.one(_BY_MODEL, (model.id, number))
        if hit is None:
            raise not_found(model.name, number, model.last_version)
    return records_of(reader, [VersionRow.of(hit)])[0]


def row(conn: Conn, model: ModelRow, number: int, *, via: str | None = None) -> VersionRow:
    """Version ``number`` of ``model``; ``via`` is the former name the caller used, if any."""
    reader = reader_for(conn)
    if via is not None:
        number = former_number(reader, model, via, number)
    hit = reader.one(_BY_MODEL, (model.id, number))
    if hit is None:
        raise not_found(model.name, number, model.last_version)
    return VersionRow.of(hit)


def not_found(model_name: str, number: int, last_version: int) -> NotFound:
    hint = (f"versions are numbered 1..{last_version}; some may have been deleted"
            if last_version else f"{model_name} has no versions yet")
    return NotFound(codes.VERSION_NOT_FOUND, f"{model_name} has no version {number}", hint,
                    {"name": model_name, "version": number})


def former_number(conn: Conn, model: ModelRow, old_name: str, number: int) -> int:
    """What version ``number`` of the former name ``old_name`` is called under ``model``.

    A rename keeps the numbers. An import that folded several old names into one
    model numbered their versions anew, and each version's event records its origin.
    """
    reader = reader_for(conn)
    old_key, folded = lookup_key(old_name), False
    for version, payload, filed_under in events.with_action(
            reader, keys_of(reader, model), VERSION_IMPORTED):
        origin = payload.get("origin") or {}
        # Imported under its own name, the name kept its new numbers: nothing to map.
        if str(origin.get("name", "")).lower() == old_key != filed_under:
            folded = True
            if origin.get("version") == number and version is not None:
                return version
    if folded:
        raise NotFound(codes.VERSION_NOT_FOUND, f"{old_name} had no version {number} when it was "
                       f"imported into {model.name}", f"its versions were numbered anew; "
                       f"see `charter history {model.name}`",
                       {"name": old_name, "version": number})
    return number


def newest_in_stage(conn: Conn, model_id: int, stage: str) -> int | None:
    """The newest READY version in ``stage``: a held version (only ever in None) is no
    stage's answer; other stages skip the filter, so their lookup stays index-only."""
    ready = " AND status = 'READY'" if stage == "None" else ""
    found = reader_for(conn).value("SELECT max(version) FROM versions WHERE model_id = ? "
                                   f"AND stage = ?{ready}", (model_id, stage))
    return int(found) if found is not None else None


def newest_in_stages(conn: Conn, model_id: int, stages: Sequence[str]) -> dict[str, VersionRow]:
    """The row of the newest version in each of ``stages`` that holds one (any status):
    one descent of the (model_id, stage, version) index per stage, whatever the count."""
    wanted = list(dict.fromkeys(stages))
    if not wanted:
        return {}
    newest = " UNION ALL ".join(["SELECT max(version) FROM versions WHERE model_id = ? "
                                 "AND stage = ?"] * len(wanted))
    found = reader_for(conn).all(
        f"SELECT {COLUMNS} FROM versions v WHERE v.model_id = ? AND v.version IN ({newest})",
        [model_id, *(value for stage in wanted for value in (model_id, stage))])
    return {row.stage: row for row in map(VersionRow.of, found)}


def stages_of(conn: Conn, model_id: int, *, ready_only: bool = False
              ) -> list[tuple[int, str]]:
    """(version, stage) of every version of the model (only READY ones: ``ready_only``),
    ascending."""
    ready = " AND status = 'READY'" if ready_only else ""
    return [(number, stage) for number, stage in reader_for(conn).all(
        f"SELECT version, stage FROM versions WHERE model_id = ?{ready} ORDER BY version",
        (model_id,))]


def tags_of(conn: Conn, version_id: int) -> dict[str, str]:
    return {key: value for key, value in reader_for(conn).all(
        "SELECT key, value FROM version_tags WHERE version_id = ?", (version_id,))}


def tag(conn: Conn, version_id: int, key: str) -> str | None:
    found = reader_for(conn).value(
        "SELECT value FROM version_tags WHERE version_id = ? AND key = ?", (version_id, key))
    return str(found) if found is not None else None


# ---- aliases ------------------------------------------------------------------------

def alias_target(conn: Conn, model_id: int, alias: str) -> int | None:
    """The number of the version ``alias`` points at, or None."""
    found = reader_for(conn).value(
        "SELECT v.version FROM aliases a JOIN versions v ON v.id = a.version_id "
        "WHERE a.model_id = ? AND a.alias = ?", (model_id, alias.lower()))
    return int(found) if found is not None else None


def aliases_by_version(conn: Conn, model_id: int) -> dict[int, list[str]]:
    """version id -> the model's aliases that point at it."""
    found: dict[int, list[str]] = {}
    for alias, version_id in reader_for(conn).all(
            "SELECT alias, version_id FROM aliases WHERE model_id = ?", (model_id,)):
        found.setdefault(version_id, []).append(alias)
    return found


def set_alias(conn: Conn, model_id: int, alias: str, version_id: int) -> None:
    update_or_insert(reader_for(conn),
                     "UPDATE aliases SET version_id = ? WHERE model_id = ? AND alias = ?",
                     (version_id, model_id, alias),
                     "INSERT INTO aliases (model_id, alias, version_id) VALUES (?, ?, ?)",
                     (model_id, alias, version_id))


def delete_alias(conn: Conn, model_id: int, alias: str) -> None:
    reader_for(conn).run("DELETE FROM aliases WHERE model_id = ? AND alias = ?",
                         (model_id, alias))


# ---- writes -------------------------------------------------------------------------

_INSERT = ("INSERT INTO versions (model_id, version, stage, source, run_id, description, "
           "digest, status, created_at, updated_at, stage_changed_at, signer, signature, "
           "logged_model_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
# PostgreSQL: the version says it was written in this transaction (store/triggers.py), so
# its tags, inserted next, fire no trigger: inserting it forgot its model's brief already.
_INSERT_NOTED = _INSERT + " RETURNING set_config('charter.forgot_version', id::text, true)"
_INSERT_TAG = ("INSERT INTO version_tags (version_id, key, value) "
               "SELECT id, ?, ? FROM versions WHERE model_id = ? AND version = ?")
_INSERT_FILE = ("INSERT INTO version_files (version_id, path, size, sha256) "
                "SELECT id, ?, ?, ? FROM versions WHERE model_id = ? AND version = ?")


def insert(conn: Conn, model_id: int, number: int, *, model_name: str, stage: str,
           source: str, run_id: str, description: str, digest: str, now: datetime,
           created_at: datetime | None = None, status: str = "READY",
           signer: str | None = None, signature: str | None = None,
           logged_model_id: str = "", tags: Iterable[tuple[str, str]] = (),
           files: Sequence[StoredFile] = ()) -> VersionRecord:
    """Write a version (its number taken already) with its tags and files; answers its
    record as written. Nothing is read back: in a group commit the rows go with the
    call's next read (held_writes.deferring) — a registration holds the chain head's lock, so
    each round trip it saves is one every other writer waits less. A new version has no
    aliases yet."""
    reader = reader_for(conn)
    at = sql_time(reader, now)
    created = sql_time(reader, created_at) if created_at is not None else at
    reader.later(_INSERT_NOTED if reader.dialect == "postgresql" else _INSERT,
                 (model_id, number, stage, source, run_id, description, digest, status,
                  created, at, at, signer, signature, logged_model_id))
    kept = dict(sorted(tags))
    for key, value in kept.items():
        reader.later(_INSERT_TAG, (key, value, model_id, number))
    for path, size, sha256 in files:
        reader.later(_INSERT_FILE, (path, size, sha256, model_id, number))
    row = VersionRow(0, model_id, number, stage, source, run_id, description, digest, status,
                     created, at, at, signer, signature, logged_model_id, model_name)
    return record_from(row, kept, [FileRecord(*file) for file in files], [])


def id_of(conn: Conn, model_id: int, number: int) -> int:
    """The row id of version ``number`` of the model (it exists)."""
    return int(reader_for(conn).value(
        "SELECT id FROM versions WHERE model_id = ? AND version = ?", (model_id, number)))


def set_signature(conn: Conn, version_id: int, signer: str, signature: str,
                  now: datetime) -> None:
    """Record who signed a version registered unsigned (once: store/triggers.py)."""
    reader = reader_for(conn)
    reader.run("UPDATE versions SET signer = ?, signature = ?, updated_at = ? WHERE id = ?",
               (signer, signature, sql_time(reader, now), version_id))


def set_status(conn: Conn, version_id: int, status: str, now: datetime) -> None:
    reader = reader_for(conn)
    reader.run("UPDATE versions SET status = ?, updated_at = ? WHERE id = ?",
               (status, sql_time(reader, now), version_id))


def set_stage(conn: Conn, model_id: int, number: int, stage: str, now: datetime, *,
              touch_model: bool = False) -> None:
    """Put the version in ``stage`` now; ``touch_model``: its model's ``updated_at`` too
    (``models.touch``), on PostgreSQL in the same statement — the model first, forgetting its
    kept brief and saying so, so the version's row fires no trigger (store/triggers.py)."""
    reader = reader_for(conn)
    at = sql_time(reader, now)
    if touch_model and reader.dialect == "postgresql":
        reader.later("WITH touched AS (UPDATE models SET updated_at = ?, brief = NULL "
                     "WHERE id = ? RETURNING set_config('charter.forgot', id::text, true)) "
                     "UPDATE versions SET stage = ?, stage_changed_at = ?, updated_at = ? "
                     "WHERE model_id = ? AND version = ? AND EXISTS (SELECT 1 FROM touched)",
                     (at, model_id, stage, at, at, model_id, number))
        return
    reader.later("UPDATE versions SET stage = ?, stage_changed_at = ?, updated_at = ? "
                 "WHERE model_id = ? AND version = ?", (stage, at, at, model_id, number))
    if touch_model:
        touch(reader, model_id, now)


def set_description(conn: Conn, version_id: int, description: str, now: datetime) -> None:
    reader = reader_for(conn)
    reader.run("UPDATE versions SET description = ?, updated_at = ? WHERE id = ?",
               (description, sql_time(reader, now), version_id))


def set_tag(conn: Conn, version_id: int, key: str, value: str, now: datetime) -> None:
    """Set a tag; the version's ``updated_at`` moves with it."""
    reader = reader_for(conn)
    update_or_insert(reader,
                     "UPDATE version_tags SET value = ? WHERE version_id = ? AND key = ?",
                     (value, version_id, key),
                     "INSERT INTO version_tags (version_id, key, value) VALUES (?, ?, ?)",
                     (version_id, key, value))
    reader.run("UPDATE versions SET updated_at = ? WHERE id = ?",
               (sql_time(reader, now), version_id))


def delete_tag(conn: Conn, version_id: int, key: str) -> None:
    reader_for(conn).run("DELETE FROM version_tags WHERE version_id = ? AND key = ?",
                         (version_id, key))


def delete(conn: Conn, version_id: int) -> None:
    """Delete the version; its tags, files and aliases go with it (its number does not)."""
    reader_for(conn).run("DELETE FROM versions WHERE id = ?", (version_id,))


# ---- the blobs versions hold --------------------------------------------------------

def file_digests(conn: Conn, version_id: int) -> set[str]:
    return {digest for (digest,) in reader_for(conn).all(
        "SELECT sha256 FROM version_files WHERE version_id = ?", (version_id,))}


# A version holds its files' blobs, its signature bundle's and its attestations'.
_HELD = ("SELECT sha256 AS digest FROM version_files UNION "
         "SELECT signature FROM versions WHERE signature IS NOT NULL UNION "
         "SELECT sha256 FROM attestations")


def digests_in_use(conn: Conn, digests: Sequence[str]) -> set[str]:
    """Which of ``digests`` some version still holds (files, signatures, attestations)."""
    if not digests:
        return set()
    marks = placeholders(len(digests))
    return {digest for (digest,) in reader_for(conn).all(
        f"SELECT sha256 FROM version_files WHERE sha256 IN ({marks}) UNION "
        f"SELECT signature FROM versions WHERE signature IN ({marks}) UNION "
        f"SELECT sha256 FROM attestations WHERE sha256 IN ({marks})", list(digests) * 3)}


def digest_in_use(conn: Conn, digest: str) -> bool:
    return bool(digests_in_use(conn, [digest]))


def referenced_digests(conn: Conn) -> set[str]:
    """Every blob some version holds."""
    return {digest for (digest,) in reader_for(conn).all(_HELD)}
