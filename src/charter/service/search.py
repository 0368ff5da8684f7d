"""Search use cases: MLflow's filter grammar (parsed in ``domain.search``), run by the
store (``store/search.py``) as one page per read transaction, with a fixed number of
queries whatever the page size.
``model_summaries`` / ``model_summary`` add each model's newest version per stage
(MLflow's ``latest_versions``), loaded for the whole page at once. ``model_briefs``,
``model_brief`` and ``version_briefs`` answer the same searches as plain tuples with only
what a listing shows (the MLflow API's shapes): four queries and two for a page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from charter.domain import error_codes as codes
from charter.domain.access import READ
from charter.domain.errors import InvalidInput
from charter.domain.lifecycle import STAGES
from charter.domain.records import (
    ModelBrief,
    ModelRecord,
    Page,
    VersionBrief,
    VersionRecord,
    made,
)
from charter.domain.search import (
    Condition,
    Order,
    parse_model_filter,
    parse_model_order,
    parse_version_filter,
    parse_version_order,
)
from charter.service.base import ServiceBase
from charter.service.models import clamp_page_size, decode_page_token, encode_page_token
from charter.store import models, versions
from charter.store import search as store_search
from charter.store.driver import Reader
from charter.store.models import ModelRow

MAX_VERSION_PAGE = 200_000  # MLflow's own ceiling for search-model-versions
_STAGE_RANK = {stage.value: rank for rank, stage in enumerate(STAGES)}


@dataclass(frozen=True)
class ModelSummary:
    """A model and the newest version in each stage that holds one (None, Staging, …)."""

    model: ModelRecord
    latest: list[VersionRecord]


class SearchMixin(ServiceBase):
    def search_models(self, filter_string: str | None = "", max_results: int = 100,
                      order_by: Iterable[str] | None = None, page_token: str = "") -> Page:
        """One page of ModelRecords matching an MLflow filter, in the asked order."""
        return self._model_page(filter_string, max_results, order_by, page_token,
                                lambda reader, rows: [s.model for s in _summaries(
                                    reader, rows, with_latest=False)])

    def model_summaries(self, filter_string: str | None = "", max_results: int = 100,
                        order_by: Iterable[str] | None = None, page_token: str = "") -> Page:
        """Like ``search_models``, each item a ModelSummary (the latest version per stage)."""
        return self._model_page(filter_string, max_results, order_by, page_token,
                                lambda reader, rows: _summaries(reader, rows, with_latest=True))

    def model_summary(self, name: str) -> ModelSummary:
        """One model with its latest version per stage (a former name resolves too)."""
        with self._read() as reader:
            row, _ = models.get(reader, name)
            self._require(READ, row)
            return _summaries(reader, [row], with_latest=True)[0]

    def search_versions(self, filter_string: str | None = "", max_results: int = 10_000,
                        order_by: Iterable[str] | None = None, page_token: str = "") -> Page:
        """One page of VersionRecords matching an MLflow filter (newest update first)."""
        def records(reader: Reader, conditions: list[Condition], orders: list[Order], limit: int,
                    offset: int) -> Sequence[object]:
            rows = store_search.version_rows(reader, conditions, orders,
                                             readable=self._readable_ids(), limit=limit,
                                             offset=offset)
            return versions.records_of(reader, rows)
        return self._version_page(filter_string, max_results, order_by, page_token, records)

    def model_briefs(self, filter_string: str | None = "", max_results: int = 100,
                     order_by: Iterable[str] | None = None, page_token: str = "") -> Page:
        """Like ``model_summaries``, each item a ModelBrief (on PostgreSQL one statement)."""
        page = self.model_brief_page(filter_string, max_results, order_by, page_token)
        return Page(made(page.items), page.next_token)

    def model_brief_page(self, filter_string: str | None = "", max_results: int = 100,
                         order_by: Iterable[str] | None = None, page_token: str = "") -> Page:
        """``model_briefs`` as the store read them: on PostgreSQL each item Stored (its
        text, made a ModelBrief when asked), so the MLflow search writes a model's JSON
        once for each text it reads (api/mlflow/kept.py); on SQLite ModelBriefs."""
        if self.db.dialect != "postgresql":
            return self._model_page(filter_string, max_results, order_by, page_token, _briefs)
        conditions, orders, limit, offset = _model_query(filter_string, order_by, max_results,
                                                         page_token)
        with self._one_read(heavy=True) as reader:
            items = store_search.model_briefs(reader, conditions, orders,
                                              readable=self._readable_ids(), limit=limit + 1,
                                              offset=offset)
        return _page_of(items, limit, offset)

    def model_brief(self, name: str) -> ModelBrief:
        """``model_summary`` as a ModelBrief. On PostgreSQL one statement when ``name`` is a
        model's current name, or no model's (``_brief_at_once``)."""
        brief = self._brief_at_once(name)
        if brief is not None:
            return brief
        with self._read() as reader:
            row, _ = models.get(reader, name)
            self._require(READ, row)
            return _briefs(reader, [row])[0]

    def version_briefs(self, filter_string: str | None = "", max_results: int = 10_000,
                       order_by: Iterable[str] | None = None, page_token: str = "") -> Page:
        """Like ``search_versions``, each item a VersionBrief."""
        def briefs(reader: Reader, conditions: list[Condition], orders: list[Order], limit: int,
                   offset: int) -> Sequence[object]:
            return store_search.version_briefs(reader, conditions, orders,
                                               readable=self._readable_ids(), limit=limit,
                                               offset=offset)
        return self._version_page(filter_string, max_results, order_by, page_token, briefs,
                                  single=True)

    def _model_page(self, filter_string: str | None, max_results: int,
                    order_by: Iterable[str] | None, page_token: str,
                    present: Callable[[Reader, Sequence[ModelRow]], Sequence[object]]) -> Page:
        """One page of the models a filter finds, each row made an item by ``present``."""
        conditions, orders, limit, offset = _model_query(filter_string, order_by, max_results,
                                                         page_token)
        with self._read() as reader:
            rows = store_search.model_rows(reader, conditions, orders,
                                           readable=self._readable_ids(), limit=limit + 1,
                                           offset=offset)
            items = list(present(reader, rows[:limit]))
            return _page_of(items, limit, offset, more=len(rows) > limit)

    def _version_page(self, filter_string: str | None, max_results: int,
                      order_by: Iterable[str] | None, page_token: str,
                      fetch: Callable[[Reader, list[Condition], list[Order], int, int],
                                     Sequence[object]], *, single: bool = False) -> Page:
        """One page of the versions a filter finds, read by ``fetch`` (one row over the page
        tells whether another page follows); ``single``: ``fetch`` runs one statement on
        PostgreSQL, so it needs no read transaction there (``_one_read``)."""
        conditions = parse_version_filter(filter_string)
        orders = parse_version_order(order_by)
        limit = _version_page_size(max_results)
        offset = decode_page_token(page_token)
        with self._one_read(heavy=True) if single else self._read() as reader:
            return _page_of(list(fetch(reader, conditions, orders, limit + 1, offset)), limit,
                            offset)


def _model_query(filter_string: str | None, order_by: Iterable[str] | None, max_results: int,
                 page_token: str) -> tuple[list[Condition], list[Order], int, int]:
    """A model search's filter, order, page size and offset, each checked."""
    return (parse_model_filter(filter_string), parse_model_order(order_by),
            clamp_page_size(max_results), decode_page_token(page_token))


def _page_of(items: Sequence[Any], limit: int, offset: int, *, more: bool | None = None
             ) -> Page:
    """The first ``limit`` of ``items`` as a page; another follows when one item more was
    found (``more`` says so when the caller read the extra row and left it out)."""
    if more is None:
        more = len(items) > limit
    return Page(list(items[:limit]), encode_page_token(offset + limit) if more else "")


def _summaries(reader: Reader, rows: Sequence[ModelRow], *, with_latest: bool
               ) -> list[ModelSummary]:
    """Records for model rows: their tags, aliases, former names and versions in one query,
    and (``with_latest``) the newest version of each stage with its extras in two more."""
    if not rows:
        return []
    found = models.records(reader, rows)
    latest: dict[str, list[VersionRecord]] = {model.name: [] for model in found}
    if with_latest and any(model.version_count for model in found):
        newest = store_search.latest_per_stage(reader, [row.id for row in rows])
        for record in versions.records_of(reader, newest):
            latest[record.name].append(record)
    return [ModelSummary(model, sorted(latest[model.name],
                                       key=lambda v: _STAGE_RANK.get(v.stage, 9)))
            for model in found]


def _briefs(reader: Reader, rows: Sequence[ModelRow]) -> list[ModelBrief]:
    """ModelBriefs for model rows: tags and aliases in one query, the newest version of
    each stage in two more (none when no model has ever had a version)."""
    ids = [row.id for row in rows]
    tags, aliases = models.tags_and_aliases(reader, ids)
    latest: dict[str, list[VersionBrief]] = {row.name: [] for row in rows}
    if any(row.last_version for row in rows):
        for brief in store_search.latest_briefs(reader, ids):
            latest[brief.name].append(brief)
    return [ModelBrief(row.name, row.description, row.created_at, row.updated_at,
                       tags[row.id], dict(sorted(aliases[row.id].items())),
                       sorted(latest[row.name], key=_stage_rank))
            for row in rows]


def _stage_rank(version: VersionBrief) -> int:
    return _STAGE_RANK.get(version.stage, 9)


def _version_page_size(max_results: Any) -> int:
    if (not isinstance(max_results, int) or isinstance(max_results, bool)
            or not 1 <= max_results <= MAX_VERSION_PAGE):
        raise InvalidInput(codes.MAX_RESULTS_INVALID,
                           f"max_results must be 1..{MAX_VERSION_PAGE}, got {max_results!r}",
                           f"ask for at most {MAX_VERSION_PAGE} versions per page and follow "
                           "next_page_token")
    return max_results
