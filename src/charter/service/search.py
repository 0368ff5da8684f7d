"""Search use cases: MLflow's filter grammar (parsed in ``domain.search``) run as SQL.

Each call answers one page in one read transaction, with a fixed number of queries
whatever the page size: the page's rows, then their tags, files and aliases together.
``model_summaries`` / ``model_summary`` add each model's newest version per stage
(MLflow's ``latest_versions``), loaded for the whole page at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    String,
    and_,
    bindparam,
    cast,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    union_all,
)
from sqlalchemy.engine import Connection

from charter.domain.access import READ
from charter.domain.errors import InvalidInput
from charter.domain.lifecycle import STAGES
from charter.domain.records import FileRecord, ModelRecord, Page, VersionRecord
from charter.domain.search import (
    ATTRIBUTE,
    Condition,
    Order,
    like_segments,
    parse_model_filter,
    parse_model_order,
    parse_version_filter,
    parse_version_order,
)
from charter.service.convert import utc
from charter.service.guard import GuardMixin
from charter.service.models import clamp_page_size, decode_page_token, encode_page_token
from charter.store import reads, tables
from charter.store.repository import name_key

M = tables.Model.__table__
V = tables.Version.__table__
MT = tables.ModelTag.__table__
VT = tables.VersionTag.__table__
VF = tables.VersionFile.__table__
A = tables.Alias.__table__
R = tables.Redirect.__table__

MAX_VERSION_PAGE = 200_000  # MLflow's own ceiling for search-model-versions
_STAGE_RANK = {stage.value: rank for rank, stage in enumerate(STAGES)}


@dataclass(frozen=True)
class ModelSummary:
    """A model and the newest version in each stage that holds one (None, Staging, …)."""

    model: ModelRecord
    latest: list[VersionRecord]


class SearchMixin(GuardMixin):
    def search_models(self, filter_string: str | None = "", max_results: int = 100,
                      order_by: Iterable[str] | None = None, page_token: str = "") -> Page:
        """One page of ModelRecords matching an MLflow filter, in the asked order."""
        return self._model_page(filter_string, max_results, order_by, page_token,
                                with_latest=False)

    def model_summaries(self, filter_string: str | None = "", max_results: int = 100,
                        order_by: Iterable[str] | None = None, page_token: str = "") -> Page:
        """Like ``search_models``, each item a ModelSummary (the latest version per stage)."""
        return self._model_page(filter_string, max_results, order_by, page_token,
                                with_latest=True)

    def model_summary(self, name: str) -> ModelSummary:
        """One model with its latest version per stage (a former name resolves too)."""
        with self._read() as session:
            conn = session.connection()
            row = conn.execute(_MODEL_BY_KEY, {"key": name_key(name)}).first()
            if row is None:  # a former name, or no such model (with a "did you mean")
                row, _ = reads.get_model_row(session, name)
            self._require(READ, row)
            return _summaries(conn, [row], with_latest=True)[0]

    def search_versions(self, filter_string: str | None = "", max_results: int = 10_000,
                        order_by: Iterable[str] | None = None, page_token: str = "") -> Page:
        """One page of VersionRecords matching an MLflow filter (newest update first)."""
        conditions = parse_version_filter(filter_string)
        orders = parse_version_order(order_by)
        limit = _version_page_size(max_results)
        offset = decode_page_token(page_token)
        with self._read() as session:
            conn = session.connection()
            dialect = conn.dialect.name
            query = (select(V, M.c.name.label("model_name"))
                     .join(M, M.c.id == V.c.model_id)
                     .where(*[_version_clause(c, dialect) for c in conditions],
                            *self._visible(V.c.model_id))
                     .order_by(*[_version_sort(o) for o in orders])
                     .offset(offset).limit(limit + 1))
            rows = list(conn.execute(query))
            more = len(rows) > limit
            rows = rows[:limit]
            extras = (conn.execute(_EXTRAS_BY_IDS, {"ids": [row.id for row in rows]})
                      if rows else [])
            items = _version_records(rows, extras)
            return Page(items, encode_page_token(offset + limit) if more else "")

    def _model_page(self, filter_string: str | None, max_results: int,
                    order_by: Iterable[str] | None, page_token: str, *, with_latest: bool
                    ) -> Page:
        conditions = parse_model_filter(filter_string)
        orders = parse_model_order(order_by)
        limit = clamp_page_size(max_results)
        offset = decode_page_token(page_token)
        with self._read() as session:
            conn = session.connection()
            dialect = conn.dialect.name
            query = (select(M)
                     .where(*[_model_clause(c, dialect) for c in conditions],
                            *self._visible(M.c.id))
                     .order_by(*[_model_sort(o) for o in orders])
                     .offset(offset).limit(limit + 1))
            rows = list(conn.execute(query))
            more = len(rows) > limit
            found = _summaries(conn, rows[:limit], with_latest=with_latest)
            items = found if with_latest else [s.model for s in found]
            return Page(items, encode_page_token(offset + limit) if more else "")


# --- loading: prebuilt statements, a fixed number of queries per page ------------------------
#
# Statements are built once with bind parameters, so a request pays for executing them,
# not for constructing them. Each comes in two variants: for one model (a plain ``:id``)
# and for a page of models (an "expanding" ``:ids``, which costs a little more to run).

_MODEL_BY_KEY = select(M).where(M.c.name_key == bindparam("key"))


def _owned_by(column: Any, many: bool) -> ColumnElement[bool]:
    return column.in_(bindparam("ids", expanding=True)) if many else column == bindparam("id")


def _version_extras(owned: Any) -> Any:
    """Tags, files and aliases of the versions whose id satisfies ``owned(column)``."""
    return union_all(
        select(literal("t").label("kind"), VT.c.version_id, VT.c.key.label("a"),
               VT.c.value.label("b"), literal(0).label("n")).where(owned(VT.c.version_id)),
        select(literal("f"), VF.c.version_id, VF.c.path, VF.c.sha256, VF.c.size)
        .where(owned(VF.c.version_id)),
        select(literal("a"), A.c.version_id, A.c.alias, cast(literal(""), String), literal(0))
        .where(owned(A.c.version_id)),
    )


class _Statements:
    def __init__(self, many: bool) -> None:
        # the models' tags, aliases, former names and versions, in one round trip
        self.model_extras = union_all(
            select(literal("t").label("kind"), MT.c.model_id.label("owner"),
                   MT.c.key.label("a"), MT.c.value.label("b"), literal(0).label("n"))
            .where(_owned_by(MT.c.model_id, many)),
            select(literal("a"), A.c.model_id, A.c.alias, cast(literal(""), String),
                   V.c.version)
            .join(V, V.c.id == A.c.version_id).where(_owned_by(A.c.model_id, many)),
            select(literal("r"), R.c.model_id, R.c.name, cast(literal(""), String), literal(0))
            .where(_owned_by(R.c.model_id, many)),
            select(literal("v"), V.c.model_id, V.c.stage, cast(literal(""), String),
                   V.c.version)
            .where(_owned_by(V.c.model_id, many)),
        )
        # the newest version of each (model, stage): MLflow's latest_versions
        newest = (select(V.c.model_id, func.max(V.c.version).label("version"))
                  .where(_owned_by(V.c.model_id, many))
                  .group_by(V.c.model_id, V.c.stage).subquery())
        latest_ids = select(V.c.id).join(newest, and_(newest.c.model_id == V.c.model_id,
                                                      newest.c.version == V.c.version))
        self.latest_rows = (select(V, M.c.name.label("model_name"))
                            .join(M, M.c.id == V.c.model_id).where(V.c.id.in_(latest_ids)))
        self.latest_extras = _version_extras(lambda column: column.in_(latest_ids))


_ONE, _PAGE = _Statements(many=False), _Statements(many=True)
_EXTRAS_BY_IDS = _version_extras(lambda column: column.in_(bindparam("ids", expanding=True)))


@dataclass
class _ModelParts:
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    redirects: list[str] = field(default_factory=list)
    versions: list[tuple[int, str]] = field(default_factory=list)  # (number, stage)


def _summaries(conn: Connection, rows: Sequence[Row[Any]], *, with_latest: bool
               ) -> list[ModelSummary]:
    """Records for model rows: their tags, aliases, former names and versions in one query,
    and (``with_latest``) the newest version of each stage with its extras in two more."""
    if not rows:
        return []
    statements, params = ((_PAGE, {"ids": [row.id for row in rows]}) if len(rows) > 1
                          else (_ONE, {"id": rows[0].id}))
    parts = {row.id: _ModelParts() for row in rows}
    for kind, owner, a, b, n in conn.execute(statements.model_extras, params):
        part = parts[owner]
        if kind == "t":
            part.tags[a] = b
        elif kind == "a":
            part.aliases[a] = n
        elif kind == "r":
            part.redirects.append(a)
        else:
            part.versions.append((n, a))
    latest: dict[int, list[VersionRecord]] = {row.id: [] for row in rows}
    if with_latest and any(part.versions for part in parts.values()):
        version_rows = list(conn.execute(statements.latest_rows, params))
        extras = conn.execute(statements.latest_extras, params)
        for record, row in zip(_version_records(version_rows, extras), version_rows,
                               strict=True):
            latest[row.model_id].append(record)
    return [ModelSummary(_model_record(row, parts[row.id]),
                         sorted(latest[row.id], key=lambda v: _STAGE_RANK.get(v.stage, 9)))
            for row in rows]


def _model_record(row: Row[Any], part: _ModelParts) -> ModelRecord:
    by_stage: dict[str, list[int]] = {}
    for number, stage in sorted(part.versions):
        by_stage.setdefault(stage, []).append(number)
    return ModelRecord(
        name=row.name, description=row.description, tags=part.tags,
        aliases=dict(sorted(part.aliases.items())), version_count=len(part.versions),
        last_version=row.last_version,
        stages={s: by_stage[s] for s in reads.STAGE_ORDER if s in by_stage},
        created_at=utc(row.created_at), updated_at=utc(row.updated_at),
        redirects=sorted(part.redirects))


def _version_records(rows: Sequence[Row[Any]], extras: Iterable[Row[Any]]
                     ) -> list[VersionRecord]:
    """Records for version rows (of any models) and the rows of a ``_version_extras`` query."""
    ids = [row.id for row in rows]
    tags: dict[int, dict[str, str]] = {i: {} for i in ids}
    files: dict[int, list[FileRecord]] = {i: [] for i in ids}
    aliases: dict[int, list[str]] = {i: [] for i in ids}
    for kind, version_id, a, b, n in extras:
        if version_id not in tags:
            continue
        if kind == "t":
            tags[version_id][a] = b
        elif kind == "f":
            files[version_id].append(FileRecord(a, n, b))
        else:
            aliases[version_id].append(a)
    return [VersionRecord(
        name=row.model_name, version=row.version, stage=row.stage, source=row.source,
        run_id=row.run_id, description=row.description, tags=tags[row.id],
        aliases=sorted(aliases[row.id]), digest=row.digest, status=row.status,
        created_at=utc(row.created_at), updated_at=utc(row.updated_at),
        stage_changed_at=utc(row.stage_changed_at),
        files=sorted(files[row.id], key=lambda f: f.path)) for row in rows]


def _version_page_size(max_results: Any) -> int:
    if (not isinstance(max_results, int) or isinstance(max_results, bool)
            or not 1 <= max_results <= MAX_VERSION_PAGE):
        raise InvalidInput("max_results.invalid",
                           f"max_results must be 1..{MAX_VERSION_PAGE}, got {max_results!r}",
                           f"ask for at most {MAX_VERSION_PAGE} versions per page and follow "
                           "next_page_token")
    return max_results


# --- conditions as SQL -----------------------------------------------------------------------


def _model_clause(condition: Condition, dialect: str) -> ColumnElement[bool]:
    if condition.kind == ATTRIBUTE:  # only "name" is searchable on models
        return _name_clause(condition, dialect)
    return _tag_clause(condition, dialect, MT, MT.c.model_id, M.c.id)


def _version_clause(condition: Condition, dialect: str) -> ColumnElement[bool]:
    if condition.kind != ATTRIBUTE:
        return _tag_clause(condition, dialect, VT, VT.c.version_id, V.c.id)
    if condition.key == "name":
        return _name_clause(condition, dialect)
    if condition.key == "version_number":
        return _compare(V.c.version, condition.op, condition.value, dialect)
    column = V.c.run_id if condition.key == "run_id" else V.c.source
    return _compare(column, condition.op, condition.value, dialect)


def _name_clause(condition: Condition, dialect: str) -> ColumnElement[bool]:
    """Equality and membership follow the name's identity (case-insensitive, DESIGN §2.1);
    LIKE matches the name as written, ILIKE ignores case."""
    value = condition.value
    if condition.op in ("=", "!=", "IN", "NOT IN"):
        keyed = (tuple(name_key(v) for v in value) if isinstance(value, tuple)
                 else name_key(str(value)))
        return _compare(M.c.name_key, condition.op, keyed, dialect)
    return _compare(M.c.name, condition.op, value, dialect)


def _tag_clause(condition: Condition, dialect: str, table: Any, owner_column: Any,
                owner_id: Any) -> ColumnElement[bool]:
    has_key = and_(owner_column == owner_id, table.c.key == condition.key)
    match = exists().where(has_key, _compare(table.c.value, condition.op, condition.value,
                                             dialect))
    if condition.absent_matches:
        return or_(match, not_(exists().where(has_key)))
    return match


def _compare(column: Any, op: str, value: Any, dialect: str) -> ColumnElement[bool]:
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    if op == "IN":
        return column.in_(list(value))
    if op == "NOT IN":
        return column.not_in(list(value))
    if op == "LIKE":
        return _like(column, value, dialect)
    if op == "ILIKE":
        return column.ilike(_escaped_like(value), escape="\\")
    raise AssertionError(f"unhandled operator {op}")


def _like(column: Any, pattern: str, dialect: str) -> ColumnElement[bool]:
    """Case-sensitive LIKE everywhere: SQLite's LIKE ignores ASCII case, its GLOB does not."""
    if dialect == "sqlite":
        return column.op("GLOB")(_glob(pattern))
    return column.like(_escaped_like(pattern), escape="\\")


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


def _model_sort(order: Order) -> Any:
    column = {"name": M.c.name_key, "creation_timestamp": M.c.created_at,
              "last_updated_timestamp": M.c.updated_at}[order.key]
    return column.asc() if order.ascending else column.desc()


def _version_sort(order: Order) -> Any:
    column = {"name": M.c.name_key, "version_number": V.c.version,
              "creation_timestamp": V.c.created_at,
              "last_updated_timestamp": V.c.updated_at}[order.key]
    return column.asc() if order.ascending else column.desc()
