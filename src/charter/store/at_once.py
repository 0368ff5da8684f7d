"""The MLflow surface's point reads in one statement each.

A read of several statements needs a transaction around them for one snapshot: BEGIN
and COMMIT are two more round trips, and each statement is one more. On PostgreSQL
these reads are one statement each — the row with its tags, aliases and versions as
JSON arrays from correlated subqueries, each an index descent — run outside any
transaction (``Database.one_statement``), prepared after their second run on a kept
connection (store/pg_reads.py). Each answers None when the common path does not hold
(a former name, a model or alias that is not there): the caller then reads the usual
way, which tells why; the model's brief tells its miss itself (``model_brief_or_miss``).
A version by number (``record_at_once``) and the newest versions in stages
(``newest_at_once``) are one statement on SQLite too, with their extras as one JSON text
there; so is where a version's bytes are (``version_location``), which reads none of
them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from charter.domain.records import FileRecord, ModelBrief, VersionLocation, VersionRecord
from charter.store.driver import Reader
from charter.store.model_hints import FORMER_ROW, MISS, Miss, miss_of, miss_params
from charter.store.models import COLUMNS as _MODEL_COLUMNS
from charter.store.models import ModelRow, lookup_key
from charter.store.search import MODEL_BRIEF_COLUMNS, model_brief_of
from charter.store.versions import COLUMNS, VersionRow, record_from

# A version's tags, files and aliases beside it (``v`` is the version), as JSON arrays, so
# reading it needs no transaction around two statements (Database.one_statement).
EXTRAS = {
    "postgresql": (
        "(SELECT coalesce(json_agg(json_build_array(t.key, t.value) "
        "ORDER BY t.key COLLATE \"C\"), '[]') FROM version_tags t WHERE t.version_id = v.id), "
        "(SELECT coalesce(json_agg(json_build_array(f.path, f.size, f.sha256)), '[]') "
        "FROM version_files f WHERE f.version_id = v.id), "
        "(SELECT coalesce(json_agg(a.alias), '[]') FROM aliases a WHERE a.version_id = v.id)"),
    "sqlite": (  # the three arrays as one JSON text: one json.loads, not three
        "json_array("
        "(SELECT json_group_array(json_array(t.key, t.value)) "
        "FROM version_tags t WHERE t.version_id = v.id), "
        "(SELECT json_group_array(json_array(f.path, f.size, f.sha256)) "
        "FROM version_files f WHERE f.version_id = v.id), "
        "(SELECT json_group_array(a.alias) FROM aliases a WHERE a.version_id = v.id))"),
}
_AT_ONCE = {dialect: f"SELECT {COLUMNS}, m.name, {extras} "
                     "FROM versions v JOIN models m ON m.id = v.model_id "
                     "WHERE m.name_key = ? AND v.version = ?"
            for dialect, extras in EXTRAS.items()}


def _record_with_extras(hit: Sequence[Any], dialect: str) -> VersionRecord:
    """A record from a row of ``COLUMNS``, the model's name and ``EXTRAS``."""
    if dialect == "sqlite":
        return record_with_extras(VersionRow.of(hit[:-1]), json.loads(hit[-1]))
    return record_with_extras(VersionRow.of(hit[:-3]), hit[-3:])


def record_with_extras(row: VersionRow, extras: Sequence[Any]) -> VersionRecord:
    """A record from a version's row and its ``EXTRAS`` (tags, files, aliases)."""
    tags, files, aliases = extras
    return record_from(row, {key: value for key, value in tags},
                       [FileRecord(*file) for file in files], aliases)


def record_at_once(reader: Reader, name: str, number: int) -> VersionRecord | None:
    """``record`` in one statement, for the common path: None when ``name`` is not a
    model's current name or has no such version (``record`` then tells why)."""
    hit = reader.one(_AT_ONCE[reader.dialect], (lookup_key(name), number))
    return None if hit is None else _record_with_extras(hit, reader.dialect)


def newest_at_once(reader: Reader, name: str, stages: Sequence[str]) -> list[VersionRecord]:
    """The records of ``newest_in_stages`` by model name, in one statement: MLflow's
    get-latest-versions, the call behind ``models:/NAME/STAGE``. Empty when ``name`` is
    not a model's current name or none of ``stages`` holds a version: the caller then
    reads the long way, which tells which."""
    wanted = list(dict.fromkeys(stages))
    if not wanted:
        return []
    newest = " UNION ALL ".join(["SELECT max(version) FROM versions WHERE model_id = m.id "
                                 "AND stage = ?"] * len(wanted))
    sql = (f"SELECT {COLUMNS}, m.name, {EXTRAS[reader.dialect]} "
           "FROM models m JOIN versions v ON v.model_id = m.id "
           f"WHERE m.name_key = ? AND v.version IN ({newest})")
    return [_record_with_extras(hit, reader.dialect)
            for hit in reader.all(sql, [lookup_key(name), *wanted])]


# The model's brief, or, when no model holds the name now, what its miss needs (a former
# name's row, and with a hint the candidates: model_hints.MISS) in the last two columns:
# a miss took a second round trip. The miss's part runs only when no model has the key (a
# one-time filter: a hit pays one more probe of the name's index, and PostgreSQL's start
# and end of the part's nodes, ~0.02 ms); its columns of the model are NULL, the brief's
# part leaves those two NULL. Two statements, not one with the hint as a parameter:
# PostgreSQL, seeing plans without the candidates cost next to nothing, would plan each
# miss with them again.
_NOTHING = ", ".join(["NULL"] * 8)
_BRIEF_OR_MISS = {
    hint: (f"SELECT {MODEL_BRIEF_COLUMNS}, NULL::int, NULL::text FROM models m "
           "WHERE m.name_key = ? UNION ALL "
           f"SELECT {_NOTHING}, miss.* FROM ({miss}) miss "
           "WHERE NOT EXISTS (SELECT 1 FROM models WHERE name_key = ?)")
    for hint, miss in ((True, MISS["postgresql"]), (False, FORMER_ROW))}


def model_brief_or_miss(reader: Reader, name: str, *, hint: bool
                        ) -> tuple[ModelRow, ModelBrief] | Miss:
    """The model registered under ``name`` now, as its row and its ModelBrief; or, when
    no model holds ``name`` now, whether it is a former name and (``hint``) the names it may
    be a slip of (PostgreSQL only)."""
    key = lookup_key(name)
    params = miss_params(name) if hint else [key]
    found = reader.all(_BRIEF_OR_MISS[hint], [key, *params, key])
    if found and found[0][0] is not None:
        raw = found[0]
        return ModelRow.of(raw[:7]), model_brief_of(raw)
    return miss_of([row[8:] for row in found])


# The model, and the version its alias points at (a LEFT JOIN: a model without that alias
# still answers its row, so the caller can refuse with the model's own name).
_BY_ALIAS = (
    f"SELECT {_MODEL_COLUMNS}, v.* FROM models m LEFT JOIN LATERAL ("
    f"SELECT {COLUMNS}, {EXTRAS['postgresql']} "
    "FROM aliases al JOIN versions v ON v.id = al.version_id "
    "WHERE al.model_id = m.id AND al.alias = ?) v ON true WHERE m.name_key = ?")


def version_by_alias(reader: Reader, name: str, alias: str
                     ) -> tuple[ModelRow, VersionRecord | None] | None:
    """The model under ``name`` now, and the version ``alias`` points at (None: no such
    alias)."""
    if reader.dialect != "postgresql":
        return None
    raw = reader.one(_BY_ALIAS, (alias.lower(), lookup_key(name)))
    if raw is None:
        return None
    model = ModelRow.of(raw[:7])
    if raw[7] is None:
        return model, None
    return model, _record(model.name, raw[7:])


# The model (its row for the access check) and what a download URI of its version needs:
# the number, the source and whether any file is stored (one descent of version_files'
# primary key, none of the tags, files and aliases built as JSON).
_LOCATION = (f"SELECT {_MODEL_COLUMNS}, v.version, v.source, "
             "EXISTS (SELECT 1 FROM version_files f WHERE f.version_id = v.id) "
             "FROM models m JOIN versions v ON v.model_id = m.id "
             "WHERE m.name_key = ? AND v.version = ?")


def version_location(reader: Reader, name: str, number: int
                     ) -> tuple[ModelRow, VersionLocation] | None:
    """The model under ``name`` now and where version ``number``'s bytes are, in one
    statement on either database; None when ``name`` is not a model's current name or has
    no such version (the caller then reads the long way, which tells why)."""
    raw = reader.one(_LOCATION, (lookup_key(name), number))
    if raw is None:
        return None
    model = ModelRow.of(raw[:7])
    return model, VersionLocation(model.name, raw[7], raw[8], bool(raw[9]))


# The newest version in each asked stage (any status, as ``versions.newest_in_stages``):
# one descent of the (model_id, stage, version) index per stage.
_LATEST = (
    f"SELECT {_MODEL_COLUMNS}, (SELECT coalesce(json_agg(json_build_array({COLUMNS}, "
    f"{EXTRAS['postgresql']})), '[]') FROM unnest(?::text[]) s (stage) "
    "CROSS JOIN LATERAL (SELECT * "
    "FROM versions y WHERE y.model_id = m.id AND y.stage = s.stage ORDER BY y.version DESC "
    "LIMIT 1) v) FROM models m WHERE m.name_key = ?")


def latest_in_stages(reader: Reader, name: str, stages: Sequence[str]
                     ) -> tuple[ModelRow, dict[str, VersionRecord]] | None:
    """The model under ``name`` now, and the newest version of each of ``stages`` that
    holds one, by stage."""
    if reader.dialect != "postgresql":
        return None
    raw = reader.one(_LATEST, (list(dict.fromkeys(stages)), lookup_key(name)))
    if raw is None:
        return None
    model = ModelRow.of(raw[:7])
    found = [_record(model.name, version) for version in raw[7]]
    return model, {record.stage: record for record in found}


def _record(model_name: str, raw: Sequence[Any]) -> VersionRecord:
    """A version row (``COLUMNS``) followed by its tags, files and aliases."""
    return _record_with_extras([*raw[:-3], model_name, *raw[-3:]], "postgresql")
