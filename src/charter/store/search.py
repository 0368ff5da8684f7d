"""Search: a parsed MLflow filter (``domain.search``) run as SQL, one page at a time.

The filter becomes a WHERE clause of fixed SQL fragments with every value a bound
parameter; a page is its rows, then their extras in one more query (models.records,
versions.records_of), whatever the page size. The MLflow API's searches read briefs
(``version_briefs``, ``latest_briefs``): only the columns its shapes show, as plain
tuples. Plain SQL on the driver's connection (store/driver.py): searching is a hot path
(bench/README.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from charter.domain.lifecycle import STAGES
from charter.domain.records import ModelBrief, VersionBrief
from charter.domain.search import ATTRIBUTE, Condition, Order, like_segments
from charter.store.driver import Conn, Reader, placeholders, reader_for, stored_time
from charter.store.models import COLUMNS as MODEL_COLUMNS
from charter.store.models import ModelRow, name_key
from charter.store.versions import COLUMNS as VERSION_COLUMNS
from charter.store.versions import VersionRow

_STAGE_RANK = {stage.value: rank for rank, stage in enumerate(STAGES)}

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
    return [VersionBrief(name, number, stage, source, run_id, description, status,
                         stored_time(created), stored_time(updated), tags[id_],
                         sorted(aliases[id_]), logged or "")
            for (id_, number, stage, source, run_id, description, status, created, updated,
                 logged, name) in found]


def model_rows(conn: Conn, conditions: Sequence[Condition], orders: Sequence[Order], *,
               readable: Sequence[int] | None, limit: int, offset: int) -> list[ModelRow]:
    """Up to ``limit`` models matching every condition, from ``offset`` in the asked order;
    ``readable`` keeps them to the ids a principal may read (None: every model)."""
    return [ModelRow.of(raw) for raw in _page(
        reader_for(conn), _Where.model, conditions, _MODELS, readable,
        _order_sql(orders, _MODEL_SORT), limit, offset)]


def version_rows(conn: Conn, conditions: Sequence[Condition], orders: Sequence[Order], *,
                 readable: Sequence[int] | None, limit: int, offset: int
                 ) -> list[VersionRow]:
    """Like ``model_rows``, for versions (each with its model's name)."""
    return [VersionRow.of(raw) for raw in _page(
        reader_for(conn), _Where.version, conditions, _VERSIONS, readable,
        _order_sql(orders, _VERSION_SORT), limit, offset)]


def version_briefs(conn: Conn, conditions: Sequence[Condition], orders: Sequence[Order], *,
                   readable: Sequence[int] | None, limit: int, offset: int
                   ) -> list[VersionBrief]:
    """Like ``version_rows``, as VersionBriefs (with their tags and aliases): two queries,
    or on PostgreSQL one (the extras as JSON arrays: ``Database.one_statement`` may run it
    outside a transaction)."""
    reader = reader_for(conn)
    order = _order_sql(orders, _VERSION_SORT)
    if reader.dialect == "postgresql":
        # Rows, not one JSON value as a model page is: a version's columns built as JSON
        # cost PostgreSQL more than the driver saves decoding them (mv_search_name: 0.54 →
        # 0.88 ms of the database's CPU, 1.39 → 1.30 of the server's), and a page of up to
        # 200,000 versions could pass the 1 GB a PostgreSQL value may hold.
        return [_brief(raw) for raw in _page(reader, _Where.version, conditions,
                                              _BRIEFS_AT_ONCE, readable, order, limit, offset)]
    return briefs_of(reader, _page(reader, _Where.version, conditions, _BRIEFS, readable,
                                   order, limit, offset))


def model_briefs(conn: Conn, conditions: Sequence[Condition], orders: Sequence[Order], *,
                 readable: Sequence[int] | None, limit: int, offset: int
                 ) -> list[ModelBrief]:
    """PostgreSQL: a page of ModelBriefs in one statement — each model with its tags,
    aliases and newest version per stage (with theirs), from correlated subqueries that
    each descend an index, instead of four statements with IN lists whose length changes
    with the page (never prepared, planned every time); the page as one JSON value
    (``_page_as_json``)."""
    return [model_brief_of(raw) for raw in _page_as_json(
        reader_for(conn), _Where.model, conditions, _MODEL_BRIEF_JSON, readable, orders,
        _MODEL_SORT, limit, offset)]


# What a page selects from, and the column a principal's readable model ids apply to.
_MODELS = (f"SELECT {MODEL_COLUMNS} FROM models m", "m.id")
_VERSIONS = (f"SELECT {VERSION_COLUMNS}, m.name FROM versions v "
             f"JOIN models m ON m.id = v.model_id", "v.model_id")
_BRIEFS = (f"SELECT {BRIEF_COLUMNS}, m.name FROM versions v JOIN models m ON m.id = v.model_id",
           "v.model_id")


def _page(reader: Reader, add: Callable[[_Where, Condition], None],
          conditions: Sequence[Condition], source: tuple[str, str],
          readable: Sequence[int] | None, order: str, limit: int, offset: int
          ) -> list[tuple[Any, ...]]:
    return reader.all(*_page_statement(reader, add, conditions, source, readable, order,
                                       limit, offset))


def _page_as_json(reader: Reader, add: Callable[[_Where, Condition], None],
                  conditions: Sequence[Condition], shape: tuple[str, str, str],
                  readable: Sequence[int] | None, orders: Sequence[Order],
                  columns: dict[str, str], limit: int, offset: int) -> list[list[Any]]:
    """PostgreSQL: a page as one JSON array holding an array per row, in the asked order
    (``shape``: a row's columns, the tables they come from, the column a principal's
    readable model ids apply to). Decoding a JSON value through the driver costs more than
    orjson takes for a whole page, and rows sent as they are made wake the reader once per
    few: 80 models as rows of three JSON values took 1.35 ms of the server's CPU, as one
    value 0.8 (bench/README.md "Model searches on PostgreSQL"). The page's sort keys ride
    along, so the array is in the page's order."""
    row, tables, model_id = shape
    keys = ", ".join(f"{columns[o.key]} AS k{i}" for i, o in enumerate(orders))
    in_order = ", ".join(f"p.k{i} {'ASC' if o.ascending else 'DESC'}"
                         for i, o in enumerate(orders))
    page, params = _page_statement(
        reader, add, conditions, (f"SELECT json_build_array({row}) AS j, {keys} FROM {tables}",
                                  model_id), readable, _order_sql(orders, columns), limit, offset)
    found = reader.one(f"SELECT json_agg(p.j ORDER BY {in_order}) FROM ({page}) p", params)
    return found[0] if found is not None and found[0] is not None else []


def _page_statement(reader: Reader, add: Callable[[_Where, Condition], None],
                    conditions: Sequence[Condition], source: tuple[str, str],
                    readable: Sequence[int] | None, order: str, limit: int, offset: int
                    ) -> tuple[str, list[Any]]:
    where = _Where(reader.dialect, tags_filter=any(_selective(c) for c in conditions))
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
# not depend on the plan); a model's tags, aliases and newest version per stage likewise —
# its versions' aliases taken from the model's (every alias of a version is one of its
# model's): one index descent less per version of the page.
# Tags and aliases in code-point order whatever the database's collation: as Python sorts
# them, as SQLite orders text, and as a registration answers them (versions.insert).
_TAGS_JSON = ("(SELECT coalesce(json_agg(json_build_array(t.key, t.value) "
              "ORDER BY t.key COLLATE \"C\"), '[]') FROM version_tags t WHERE t.version_id = v.id)")
_ALIASES_JSON = ("(SELECT coalesce(json_agg(a.alias ORDER BY a.alias COLLATE \"C\"), '[]') "
                 "FROM aliases a "
                 "WHERE a.version_id = v.id)")
_BRIEFS_AT_ONCE = (f"SELECT {BRIEF_COLUMNS}, m.name, {_TAGS_JSON}, {_ALIASES_JSON} "
                   "FROM versions v JOIN models m ON m.id = v.model_id", "v.model_id")
_STAGE_VALUES = ", ".join(f"('{stage.value}')" for stage in STAGES)
_MODEL_EXTRAS_JSON = (
    "(SELECT coalesce(json_agg(json_build_array(t.key, t.value) ORDER BY t.key COLLATE \"C\"), "
    "'[]') FROM model_tags t WHERE t.model_id = m.id), "
    "(SELECT coalesce(json_agg(json_build_array(a.alias, x.version) "
    "ORDER BY a.alias COLLATE \"C\"), '[]') "
    "FROM aliases a JOIN versions x ON x.id = a.version_id WHERE a.model_id = m.id), "
    "(SELECT coalesce(json_agg(json_build_array("
    "v.version, v.stage, v.source, v.run_id, v.description, v.status, v.created_at, "
    f"v.updated_at, v.logged_model_id, {_TAGS_JSON})), '[]') "
    f"FROM (VALUES {_STAGE_VALUES}) s (stage) CROSS JOIN LATERAL (SELECT * FROM versions y "
    "WHERE y.model_id = m.id AND y.stage = s.stage ORDER BY y.version DESC LIMIT 1) v)")
MODEL_BRIEFS_AT_ONCE = f"SELECT {MODEL_COLUMNS}, {_MODEL_EXTRAS_JSON} FROM models m"
_MODEL_BRIEF_JSON = (f"{MODEL_COLUMNS}, {_MODEL_EXTRAS_JSON}", "models m", "m.id")


def _brief(raw: Sequence[Any]) -> VersionBrief:
    """A row of ``_BRIEFS_AT_ONCE`` as a VersionBrief."""
    (_, number, stage, source, run_id, description, status, created, updated, logged, name,
     tags, aliases) = raw
    return VersionBrief(name, number, stage, source, run_id, description, status,
                        stored_time(created), stored_time(updated), dict(tags), aliases,
                        logged or "")


def model_brief_of(raw: Sequence[Any]) -> ModelBrief:
    """A row of ``MODEL_BRIEFS_AT_ONCE``, or an item of ``model_briefs``' JSON page (its
    times ISO text, which ``stored_time`` reads too), as a ModelBrief (its newest versions
    in stage order, as ``service.search`` sorts them)."""
    row = ModelRow.of(raw[:7])
    tags, aliases, latest = raw[7:]
    aliased: dict[int, list[str]] = {}
    for alias, number in aliases:  # in alias order, as a version's aliases are listed
        aliased.setdefault(number, []).append(alias)
    briefs = [VersionBrief(row.name, number, stage, source, run_id, description, status,
                           stored_time(created), stored_time(updated), dict(version_tags),
                           aliased.get(number, []), logged or "")
              for (number, stage, source, run_id, description, status, created, updated,
                   logged, version_tags) in latest]
    briefs.sort(key=lambda brief: _STAGE_RANK.get(brief.stage, 9))
    return ModelBrief(row.name, row.description, row.created_at, row.updated_at, dict(tags),
                      {alias: number for alias, number in aliases}, briefs)


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


# --- conditions as SQL -----------------------------------------------------------------------

_COMPARISONS = frozenset({"=", "!=", "<", "<=", ">", ">="})


def _selective(condition: Condition) -> bool:
    """A condition an index answers with a few rows (a name, a run, a source)."""
    return condition.kind == ATTRIBUTE and condition.op in ("=", "IN") and \
        condition.key in ("name", "run_id", "source_path")


class _Where:
    """The WHERE clause of a page. ``tags_filter``: another condition finds the few rows,
    so a tag condition checks each of them (EXISTS on the tag's primary key) instead of
    listing every owner of the tag first (IN, on the (key, value) index)."""

    def __init__(self, dialect: str, *, tags_filter: bool = False) -> None:
        self.dialect = dialect
        self.tags_filter = tags_filter
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.clauses) if self.clauses else ""

    def model(self, condition: Condition) -> None:
        if condition.kind == ATTRIBUTE:  # only "name" is searchable on models
            self.clauses.append(self._name_clause(condition))
        else:
            self._tag(condition, "model_tags", "model_id", "m.id")

    def version(self, condition: Condition) -> None:
        if condition.kind != ATTRIBUTE:
            self._tag(condition, "version_tags", "version_id", "v.id")
        elif condition.key == "name" and condition.op in ("=", "IN"):
            self.clauses.append(self._name_clause(condition))  # the joined model's key
        elif condition.key == "name":
            # The models matched, then their versions by model_id: with the condition on
            # the join, SQLite walks every version newest first and looks its model up.
            self.clauses.append("v.model_id IN (SELECT m.id FROM models m WHERE "
                                f"{self._name_clause(condition)})")
        else:
            column = {"version_number": "v.version", "run_id": "v.run_id"}.get(
                condition.key, "v.source")
            self.clauses.append(self._compare(column, condition.op, condition.value))

    def member(self, column: str, op: str, values: tuple[Any, ...]) -> None:
        self.clauses.append(self._compare(column, op, values))

    def _name_clause(self, condition: Condition) -> str:
        """Equality and membership follow the name's identity (case-insensitive, DESIGN §2.1);
        LIKE matches the name as written, ILIKE ignores case."""
        value = condition.value
        if condition.op in ("=", "!=", "IN", "NOT IN"):
            keyed = (tuple(name_key(v) for v in value) if isinstance(value, tuple)
                     else name_key(str(value)))
            return self._compare("m.name_key", condition.op, keyed)
        return self._compare("m.name", condition.op, value)

    def _tag(self, condition: Condition, table: str, owner: str, owner_id: str) -> None:
        """The tag's owners listed by the (key, value) index, or each row checked when
        another condition drives (``tags_filter``); an absent tag that matches (``!=``)
        adds the owners without the key."""
        self.params.append(condition.key)
        value = self._tag_value(condition.op, condition.value)
        if self.tags_filter:
            match = (f"EXISTS (SELECT 1 FROM {table} t WHERE t.{owner} = {owner_id} "
                     f"AND t.key = ? AND {value})")
        else:
            match = (f"{owner_id} IN (SELECT t.{owner} FROM {table} t "
                     f"WHERE t.key = ? AND {value})")
        if condition.absent_matches:
            self.params.append(condition.key)
            match = (f"({match} OR {owner_id} NOT IN "
                     f"(SELECT t.{owner} FROM {table} t WHERE t.key = ?))")
        self.clauses.append(match)

    def _tag_value(self, op: str, value: Any) -> str:
        """PostgreSQL indexes a tag's value by its md5 (a B-tree entry cannot hold 5,000
        characters; migration 0007), so equality names the md5 too, then the value."""
        if op == "=" and self.dialect == "postgresql":
            self.params.append(value)
            return f"md5(t.value) = md5(?) AND {self._compare('t.value', op, value)}"
        return self._compare("t.value", op, value)

    def _key_range(self, column: str, pattern: str) -> str:
        """For a name pattern with a literal ASCII prefix, the range of ``name_key`` (the
        lowercased name, a unique index) that holds every match: the database then reads
        the few models under the prefix instead of testing the pattern on each. The range
        is exact when text is compared bytewise: SQLite does; PostgreSQL's collation need
        not, so there it is compared in "C", which an index of its own serves (migration
        0010). (ASCII: its lowercase is the key's prefix, char for char; no surrounding
        space: a key is the name stripped.)"""
        prefix = _literal_prefix(pattern).lower()
        if (column != "m.name" or not prefix or not prefix.isascii()
                or prefix != prefix.strip() or prefix[-1] == "\x7f"):
            return ""
        self.params.extend((prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)))
        if self.dialect == "postgresql":
            return ' AND m.name_key COLLATE "C" >= ? AND m.name_key COLLATE "C" < ?'
        return " AND m.name_key >= ? AND m.name_key < ?"

    def _compare(self, column: str, op: str, value: Any) -> str:
        if op in _COMPARISONS:
            self.params.append(value)
            return f"{column} {op} ?"
        if op in ("IN", "NOT IN"):
            if not value:
                return "1 = 0" if op == "IN" else "1 = 1"
            self.params.extend(value)
            return f"{column} {op} ({placeholders(len(value))})"
        if op == "LIKE":
            # Case-sensitive everywhere: SQLite's LIKE ignores ASCII case, its GLOB does not.
            if self.dialect == "sqlite":
                self.params.append(_glob(value))
                return f"{column} GLOB ?" + self._key_range(column, value)
            self.params.append(_escaped_like(value))
            return f"{column} LIKE ? ESCAPE '\\'" + self._key_range(column, value)
        if op == "ILIKE":
            self.params.append(_escaped_like(value))
            if self.dialect == "sqlite":
                return f"lower({column}) LIKE lower(?) ESCAPE '\\'"
            return f"{column} ILIKE ? ESCAPE '\\'"
        raise AssertionError(f"unhandled operator {op}")


def _literal_prefix(pattern: str) -> str:
    """The literal text a LIKE pattern starts with ("" when it starts with a wildcard)."""
    out = []
    for kind, text in like_segments(pattern):
        if kind != "lit":
            break
        out.append(text)
    return "".join(out)


def _escaped_like(pattern: str) -> str:
    out = []
    for kind, text in like_segments(pattern):
        if kind == "lit":
            out.append("\\" + text if text in "\\%_" else text)
        else:
            out.append(text)
    return "".join(out)


def _glob(pattern: str) -> str:
    out = []
    for kind, text in like_segments(pattern):
        if kind == "any":
            out.append("*")
        elif kind == "one":
            out.append("?")
        elif text in "*?[":
            out.append(f"[{text}]")
        else:
            out.append(text)
    return "".join(out)


# --- order -----------------------------------------------------------------------------------

_MODEL_SORT = {"name": "m.name_key", "creation_timestamp": "m.created_at",
               "last_updated_timestamp": "m.updated_at"}
_VERSION_SORT = {"name": "m.name_key", "version_number": "v.version",
                 "creation_timestamp": "v.created_at", "last_updated_timestamp": "v.updated_at"}


def _order_sql(orders: Sequence[Order], columns: dict[str, str]) -> str:
    return ", ".join(f"{columns[o.key]} {'ASC' if o.ascending else 'DESC'}" for o in orders)
