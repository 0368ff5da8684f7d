"""Search: a parsed MLflow filter (``domain.search``) run as SQL, one page at a time.

The filter becomes a WHERE clause of fixed SQL fragments with every value a bound
parameter (store/search_sql.py); a page is its rows, then their extras in one more query
(models.records, versions.records_of), whatever the page size. The MLflow API's searches read briefs
(``version_briefs``, ``latest_briefs``): only the columns its shapes show, as plain
tuples. Plain SQL on the driver's connection (store/driver.py): searching is a hot path
(bench/README.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from charter.domain.lifecycle import STAGES
from charter.domain.records import ModelBrief, Stored, VersionBrief
from charter.domain.search import Condition, Order
from charter.store.driver import Conn, Reader, placeholders, reader_for, stored_time
from charter.store.model_briefs import BRIEF, VERSION_TAGS_JSON
from charter.store.models import COLUMNS as MODEL_COLUMNS
from charter.store.models import ModelRow
from charter.store.search_sql import MODEL_SORT, VERSION_SORT, Where, order_sql, selective
from charter.store.versions import COLUMNS as VERSION_COLUMNS
from charter.store.versions import VersionRow

_STAGE_RANK = {stage.value: rank for rank, stage in enumerate(STAGES)}

# A brief (or a Stored item) made as the plain tuple it is, its fields in their declared
# order: a NamedTuple's own __new__ is a Python function reached through type.__call__,
# ~2,500 instructions a brief on Python 3.11 against ~500 (a tenth of a page of 80 models;
# bench/render.py).
_as_brief = _as_stored = tuple.__new__
_loads = orjson.loads

# What a listing shows of a version (VersionBrief); searches select these, then the model's
# name, instead of COLUMNS: no files, digest or signature are read or built.
BRIEF_COLUMNS = ("v.id, v.version, v.stage, v.source, v.run_id, v.description, v.status, "
                 "v.created_at, v.updated_at, v.logged_model_id")


def briefs_of(conn: Conn, found: Sequence[Sequence[Any]]) -> list[VersionBrief]:
    """VersionBriefs for rows of ``BRIEF_COLUMNS`` and the model's name: their tags and
    aliases in one more query (the tags and aliases parts of ``versions._extras_sql``)."""
    if not found:
        return []
    ids = [raw[0] for raw in found]
    tags: dict[int, dict[str, str]] = {i: {} for i in ids}
    aliases: dict[int, list[str]] = {i: [] for i in ids}
    marks = placeholders(len(ids))
    for kind, version_id, key, value in reader_for(conn).all(
            f"SELECT 't', version_id, key, value FROM version_tags "
            f"WHERE version_id IN ({marks}) "
            f"UNION ALL SELECT 'a', version_id, alias, '' FROM aliases "
            f"WHERE version_id IN ({marks})", ids * 2):
        if kind == "t":
            tags[version_id][key] = value
        else:
            aliases[version_id].append(key)
    return [_as_brief(VersionBrief, (name, number, stage, source, run_id, description, status,
                                     stored_time(created), stored_time(updated), tags[id_],
                                     sorted(aliases[id_]), logged or ""))
            for (id_, number, stage, source, run_id, description, status, created, updated,
                 logged, name) in found]


def model_rows(conn: Conn, conditions: Sequence[Condition], orders: Sequence[Order], *,
               readable: Sequence[int] | None, limit: int, offset: int) -> list[ModelRow]:
    """Up to ``limit`` models matching every condition, from ``offset`` in the asked order;
    ``readable`` keeps them to the ids a principal may read (None: every model)."""
    return [ModelRow.of(raw) for raw in _page(
        reader_for(conn), Where.model, conditions, _MODELS, readable,
        order_sql(orders, MODEL_SORT), limit, offset)]


def version_rows(conn: Conn, conditions: Sequence[Condition], orders: Sequence[Order], *,
                 readable: Sequence[int] | None, limit: int, offset: int
                 ) -> list[VersionRow]:
    """Like ``model_rows``, for versions (each with its model's name)."""
    return [VersionRow.of(raw) for raw in _page(
        reader_for(conn), Where.version, conditions, _VERSIONS, readable,
        order_sql(orders, VERSION_SORT), limit, offset)]


def version_briefs(conn: Conn, conditions: Sequence[Condition], orders: Sequence[Order], *,
                   readable: Sequence[int] | None, limit: int, offset: int
                   ) -> list[VersionBrief]:
    """Like ``version_rows``, as VersionBriefs (with their tags and aliases): two queries,
    or on PostgreSQL one (the extras as JSON arrays: ``Database.one_statement`` may run it
    outside a transaction)."""
    reader = reader_for(conn)
    order = order_sql(orders, VERSION_SORT)
    if reader.dialect == "postgresql":
        # Rows, not one JSON value as a model page is: a version's columns built as JSON
        # cost PostgreSQL more than the driver saves decoding them (mv_search_name: 0.54 →
        # 0.88 ms of the database's CPU, 1.39 → 1.30 of the server's), and a page of up to
        # 200,000 versions could pass the 1 GB a PostgreSQL value may hold.
        return [_brief(raw) for raw in _page(reader, Where.version, conditions,
                                              _BRIEFS_AT_ONCE, readable, order, limit, offset)]
    return briefs_of(reader, _page(reader, Where.version, conditions, _BRIEFS, readable,
                                   order, limit, offset))


def model_briefs(conn: Conn, conditions: Sequence[Condition], orders: Sequence[Order], *,
                 readable: Sequence[int] | None, limit: int, offset: int
                 ) -> list[Stored[ModelBrief]]:
    """PostgreSQL: a page of ModelBriefs in one statement — each model with its brief,
    kept beside it or made by correlated subqueries that each descend an index
    (store/model_briefs.py); the page as one text (``_page_as_texts``). Each brief is
    Stored: its JSON text, decoded when asked (``model_brief_of_text``) — a renderer that
    kept what it made of the same text needs nothing decoded."""
    return [_as_stored(Stored, (text, model_brief_of_text)) for text in _page_as_texts(
        reader_for(conn), Where.model, conditions, _MODEL_BRIEF_JSON, readable, orders,
        MODEL_SORT, limit, offset)]


def model_brief_of_text(text: str) -> ModelBrief:
    """An item of ``model_briefs``' page (a JSON array's text) as a ModelBrief. Decoded
    from bytes: orjson given a str that is not ASCII keeps a UTF-8 copy inside it, and a
    renderer may keep the text (api/mlflow/kept.py)."""
    return model_brief_of(orjson.loads(text.encode()))


# What a page selects from, and the column a principal's readable model ids apply to.
_MODELS = (f"SELECT {MODEL_COLUMNS} FROM models m", "m.id")
_VERSIONS = (f"SELECT {VERSION_COLUMNS}, m.name FROM versions v "
             f"JOIN models m ON m.id = v.model_id", "v.model_id")
_BRIEFS = (f"SELECT {BRIEF_COLUMNS}, m.name FROM versions v JOIN models m ON m.id = v.model_id",
           "v.model_id")


def _page(reader: Reader, add: Callable[[Where, Condition], None],
          conditions: Sequence[Condition], source: tuple[str, str],
          readable: Sequence[int] | None, order: str, limit: int, offset: int
          ) -> list[tuple[Any, ...]]:
    return reader.all(*_page_statement(reader, add, conditions, source, readable, order,
                                       limit, offset))


def _page_as_texts(reader: Reader, add: Callable[[Where, Condition], None],
                   conditions: Sequence[Condition], shape: tuple[str, str, str],
                   readable: Sequence[int] | None, orders: Sequence[Order],
                   columns: dict[str, str], limit: int, offset: int) -> list[str]:
    """PostgreSQL: a page as one text holding each row's JSON array, in the asked order
    (``shape``: a row's columns, the tables they come from, the column a principal's
    readable model ids apply to), the rows apart by the record separator (U+001E: JSON
    text never holds it bare; a string's own is written escaped). One value, not a row
    per model: rows sent as they are made wake the reader once per few — 80 models as
    rows of three JSON values took 1.35 ms of the server's CPU, as one value 0.8
    (bench/README.md "Model searches on PostgreSQL"); and text, not a JSON array of
    them, so each row's text is at hand unparsed. The page's sort keys ride along, so the
    rows are in the page's order."""
    row, tables, model_id = shape
    keys = ", ".join(f"{columns[o.key]} AS k{i}" for i, o in enumerate(orders))
    in_order = ", ".join(f"p.k{i} {'ASC' if o.ascending else 'DESC'}"
                         for i, o in enumerate(orders))
    page, params = _page_statement(
        reader, add, conditions, (f"SELECT json_build_array({row}) AS j, {keys} FROM {tables}",
                                  model_id), readable, order_sql(orders, columns), limit, offset)
    found = reader.one(f"SELECT string_agg(p.j::text, chr(30) ORDER BY {in_order}) "
                       f"FROM ({page}) p", params)
    return found[0].split(_ROW_SEPARATOR) if found is not None and found[0] else []


_ROW_SEPARATOR = "\x1e"


def _page_statement(reader: Reader, add: Callable[[Where, Condition], None],
                    conditions: Sequence[Condition], source: tuple[str, str],
                    readable: Sequence[int] | None, order: str, limit: int, offset: int
                    ) -> tuple[str, list[Any]]:
    where = Where(reader.dialect, tags_filter=any(selective(c) for c in conditions))
    for condition in conditions:
        add(where, condition)
    selected, model_id = source
    if readable is not None:
        where.member(model_id, "IN", tuple(readable))
    if not offset:  # the first page: PostgreSQL costs a plan for an unknown OFFSET as if
        # it skipped rows, so with one a prepared search was planned anew on every run
        return f"{selected}{where.sql()} ORDER BY {order} LIMIT ?", [*where.params, limit]
    return (f"{selected}{where.sql()} ORDER BY {order} LIMIT ? OFFSET ?",
            [*where.params, limit, offset])


# PostgreSQL: a version's tags and aliases beside it, as JSON arrays (ordered, so answers do
# not depend on the plan; tags in code-point order, store/model_briefs.py); a model's
# brief, kept or made (store/model_briefs.py).
_ALIASES_JSON = ("(SELECT coalesce(json_agg(a.alias ORDER BY a.alias COLLATE \"C\"), '[]') "
                 "FROM aliases a "
                 "WHERE a.version_id = v.id)")
# The tags and aliases as text, decoded by orjson in _brief: the driver's JSON loader is a
# Python call per value around the same decode — 50 versions' rows took 175–242 µs of the
# server's CPU to fetch with them as json, 120–145 as text with orjson after.
_BRIEFS_AT_ONCE = (f"SELECT {BRIEF_COLUMNS}, m.name, {VERSION_TAGS_JSON}::text, "
                   f"{_ALIASES_JSON}::text "
                   "FROM versions v JOIN models m ON m.id = v.model_id", "v.model_id")
MODEL_BRIEF_COLUMNS = f"{MODEL_COLUMNS}, {BRIEF}"  # of ``m``, models
_MODEL_BRIEF_JSON = (MODEL_BRIEF_COLUMNS, "models m", "m.id")


def _brief(raw: Sequence[Any]) -> VersionBrief:
    """A row of ``_BRIEFS_AT_ONCE`` as a VersionBrief."""
    (_, number, stage, source, run_id, description, status, created, updated, logged, name,
     tags, aliases) = raw
    return _as_brief(VersionBrief, (name, number, stage, source, run_id, description, status,
                                    stored_time(created), stored_time(updated),
                                    dict(_loads(tags)), _loads(aliases), logged or ""))


def model_brief_of(raw: Sequence[Any]) -> ModelBrief:
    """A row of ``MODEL_BRIEF_COLUMNS``, or an item of ``model_briefs``' JSON page (its
    times ISO text, which ``stored_time`` reads too): the model's columns, then its brief
    (store/model_briefs.py), as a ModelBrief (its newest versions in stage order, as
    ``service.search`` sorts them)."""
    row = ModelRow.of(raw[:7])
    tags, aliases, latest = raw[7]
    aliased: dict[int, list[str]] = {}
    for alias, number in aliases:  # in alias order, as a version's aliases are listed
        aliased.setdefault(number, []).append(alias)
    _, name, _, model_description, _, created_at, updated_at = row  # one unpack
    briefs = [_as_brief(VersionBrief, (name, number, stage, source, run_id, description,
                                       status, stored_time(created), stored_time(updated),
                                       dict(version_tags), aliased.get(number, []),
                                       logged or ""))
              for (number, stage, source, run_id, description, status, created, updated,
                   logged, version_tags) in latest]
    if len(briefs) > 1:
        briefs.sort(key=_stage_rank)
    return _as_brief(ModelBrief, (name, model_description, created_at, updated_at, dict(tags),
                                  dict(aliases), briefs))


def _stage_rank(brief: VersionBrief) -> int:
    return _STAGE_RANK.get(brief.stage, 9)


# The newest version of each (model, stage): one descent of the (model_id, stage, version)
# index per pair, instead of a GROUP BY that reads every version of the models. The
# descent answers the version's id (the index holds it), so the row is read by its key,
# not found again by (model_id, version): a sixth less of this statement's time.
_STAGE_NAMES = " UNION ALL ".join(f"SELECT '{stage.value}' AS stage" for stage in STAGES)
_LATEST_ROWS = (
    "SELECT {columns}, m.name FROM models m CROSS JOIN ("
    f"{_STAGE_NAMES}) s JOIN versions v ON v.id = (SELECT x.id FROM versions x "
    "WHERE x.model_id = m.id AND x.stage = s.stage ORDER BY x.version DESC LIMIT 1) "
    "WHERE m.id IN ({ids})")


def latest_per_stage(conn: Conn, model_ids: Sequence[int]) -> list[VersionRow]:
    """The newest version in each stage of each model (MLflow's ``latest_versions``)."""
    if not model_ids:
        return []
    return [VersionRow.of(raw) for raw in reader_for(conn).all(_LATEST_ROWS.format(
        columns=VERSION_COLUMNS, ids=placeholders(len(model_ids))), list(model_ids))]


def latest_briefs(conn: Conn, model_ids: Sequence[int]) -> list[VersionBrief]:
    """``latest_per_stage`` as VersionBriefs: two queries for any number of models."""
    if not model_ids:
        return []
    reader = reader_for(conn)
    return briefs_of(reader, reader.all(_LATEST_ROWS.format(
        columns=BRIEF_COLUMNS, ids=placeholders(len(model_ids))), list(model_ids)))
