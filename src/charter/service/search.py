"""Search use cases: MLflow's filter grammar (parsed in ``domain.search``) run as SQL.

Each call answers one page in one read transaction, with a fixed number of queries
whatever the page size: the page's rows, then their tags, files and aliases together.
The queries are plain SQL on the driver's connection (store/driver.py): the filter
becomes fixed SQL fragments with bound parameters.
``model_summaries`` / ``model_summary`` add each model's newest version per stage
(MLflow's ``latest_versions``), loaded for the whole page at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from charter.domain.access import READ
from charter.domain.errors import InvalidInput
from charter.domain.lifecycle import STAGES
from charter.domain.records import ModelRecord, Page, VersionRecord
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
from charter.service.guard import GuardMixin
from charter.service.models import clamp_page_size, decode_page_token, encode_page_token
from charter.store import reads
from charter.store.driver import Reader, placeholders
from charter.store.repository import name_key

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
        with self._snapshot() as reader:
            row, _ = reads.get_model_row(reader, name)
            self._require(READ, row)
            return _summaries(reader, [row], with_latest=True)[0]

    def search_versions(self, filter_string: str | None = "", max_results: int = 10_000,
                        order_by: Iterable[str] | None = None, page_token: str = "") -> Page:
        """One page of VersionRecords matching an MLflow filter (newest update first)."""
        conditions = parse_version_filter(filter_string)
        orders = parse_version_order(order_by)
        limit = _version_page_size(max_results)
        offset = decode_page_token(page_token)
        with self._snapshot() as reader:
            where = _Where(reader.dialect)
            for condition in conditions:
                where.version(condition)
            self._visible_where(where, "v.model_id")
            rows = [reads.VersionRow.of(raw) for raw in reader.all(
                f"SELECT {reads.VERSION_COLUMNS}, m.name FROM versions v "
                f"JOIN models m ON m.id = v.model_id{where.sql()} "
                f"ORDER BY {_order_sql(orders, _VERSION_SORT)} LIMIT ? OFFSET ?",
                [*where.params, limit + 1, offset])]
            more = len(rows) > limit
            items = reads.records_of_versions(reader, rows[:limit])
            return Page(items, encode_page_token(offset + limit) if more else "")

    def _model_page(self, filter_string: str | None, max_results: int,
                    order_by: Iterable[str] | None, page_token: str, *, with_latest: bool
                    ) -> Page:
        conditions = parse_model_filter(filter_string)
        orders = parse_model_order(order_by)
        limit = clamp_page_size(max_results)
        offset = decode_page_token(page_token)
        with self._snapshot() as reader:
            where = _Where(reader.dialect)
            for condition in conditions:
                where.model(condition)
            self._visible_where(where, "m.id")
            rows = [reads.ModelRow.of(raw) for raw in reader.all(
                f"SELECT {reads.MODEL_COLUMNS} FROM models m{where.sql()} "
                f"ORDER BY {_order_sql(orders, _MODEL_SORT)} LIMIT ? OFFSET ?",
                [*where.params, limit + 1, offset])]
            more = len(rows) > limit
            found = _summaries(reader, rows[:limit], with_latest=with_latest)
            items = found if with_latest else [s.model for s in found]
            return Page(items, encode_page_token(offset + limit) if more else "")

    def _visible_where(self, where: _Where, model_id_column: str) -> None:
        """Keep a listing to the models the principal may read."""
        if not self.principal.sees_all:
            where.member(model_id_column, "IN", tuple(self.principal.readable_ids()))


# --- loading: a fixed number of queries per page --------------------------------------------

_LATEST_ROWS = (
    "SELECT {columns}, m.name FROM versions v JOIN models m ON m.id = v.model_id "
    "JOIN (SELECT model_id, max(version) AS newest FROM versions WHERE model_id IN ({ids}) "
    "GROUP BY model_id, stage) n ON n.model_id = v.model_id AND n.newest = v.version")


def _summaries(reader: Reader, rows: Sequence[reads.ModelRow], *, with_latest: bool
               ) -> list[ModelSummary]:
    """Records for model rows: their tags, aliases, former names and versions in one query,
    and (``with_latest``) the newest version of each stage with its extras in two more."""
    if not rows:
        return []
    models = reads.model_records(reader, rows)
    latest: dict[str, list[VersionRecord]] = {model.name: [] for model in models}
    if with_latest and any(model.version_count for model in models):
        ids = [row.id for row in rows]
        version_rows = [reads.VersionRow.of(raw) for raw in reader.all(_LATEST_ROWS.format(
            columns=reads.VERSION_COLUMNS, ids=placeholders(len(ids))), ids)]
        for record in reads.records_of_versions(reader, version_rows):
            latest[record.name].append(record)
    return [ModelSummary(model, sorted(latest[model.name],
                                       key=lambda v: _STAGE_RANK.get(v.stage, 9)))
            for model in models]


def _version_page_size(max_results: Any) -> int:
    if (not isinstance(max_results, int) or isinstance(max_results, bool)
            or not 1 <= max_results <= MAX_VERSION_PAGE):
        raise InvalidInput("max_results.invalid",
                           f"max_results must be 1..{MAX_VERSION_PAGE}, got {max_results!r}",
                           f"ask for at most {MAX_VERSION_PAGE} versions per page and follow "
                           "next_page_token")
    return max_results


# --- conditions as SQL -----------------------------------------------------------------------
#
# The parsed filter (domain.search) becomes a WHERE clause of fixed SQL fragments; every
# value is a bound parameter.

_COMPARISONS = frozenset({"=", "!=", "<", "<=", ">", ">="})


class _Where:
    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.clauses) if self.clauses else ""

    def model(self, condition: Condition) -> None:
        if condition.kind == ATTRIBUTE:  # only "name" is searchable on models
            self._name(condition)
        else:
            self._tag(condition, "model_tags", "model_id", "m.id")

    def version(self, condition: Condition) -> None:
        if condition.kind != ATTRIBUTE:
            self._tag(condition, "version_tags", "version_id", "v.id")
        elif condition.key == "name":
            self._name(condition)
        else:
            column = {"version_number": "v.version", "run_id": "v.run_id"}.get(
                condition.key, "v.source")
            self.clauses.append(self._compare(column, condition.op, condition.value))

    def member(self, column: str, op: str, values: tuple[Any, ...]) -> None:
        self.clauses.append(self._compare(column, op, values))

    def _name(self, condition: Condition) -> None:
        """Equality and membership follow the name's identity (case-insensitive, DESIGN §2.1);
        LIKE matches the name as written, ILIKE ignores case."""
        value = condition.value
        if condition.op in ("=", "!=", "IN", "NOT IN"):
            keyed = (tuple(name_key(v) for v in value) if isinstance(value, tuple)
                     else name_key(str(value)))
            self.clauses.append(self._compare("m.name_key", condition.op, keyed))
        else:
            self.clauses.append(self._compare("m.name", condition.op, value))

    def _tag(self, condition: Condition, table: str, owner: str, owner_id: str) -> None:
        has_key = f"SELECT 1 FROM {table} t WHERE t.{owner} = {owner_id} AND t.key = ?"
        self.params.append(condition.key)
        match = f"EXISTS ({has_key} AND {self._compare('t.value', condition.op, condition.value)})"
        if condition.absent_matches:
            self.params.append(condition.key)
            match = f"({match} OR NOT EXISTS ({has_key}))"
        self.clauses.append(match)

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
                return f"{column} GLOB ?"
            self.params.append(_escaped_like(value))
            return f"{column} LIKE ? ESCAPE '\\'"
        if op == "ILIKE":
            self.params.append(_escaped_like(value))
            if self.dialect == "sqlite":
                return f"lower({column}) LIKE lower(?) ESCAPE '\\'"
            return f"{column} ILIKE ? ESCAPE '\\'"
        raise AssertionError(f"unhandled operator {op}")


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
