"""The registry page: the seed's tree for every model, filtered and paged.

A page costs one ``list_models`` call: the name, tag and stage filters run in SQL
(store/model_listing.page) and the next page resumes after the last name shown (a keyset
token), so a filtered page, or the 80th, costs what the first does. Each ModelRecord
already carries its stage map, so no version rows are loaded per model.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput
from charter.domain.lifecycle import STAGES, Stage
from charter.domain.paging import ModelFilter
from charter.domain.records import ModelRecord
from charter.registry import ServerRegistry
from charter.ui.page import UIRoute, render
from charter.web import SIGNED_IN, allow, registry

PAGE_SIZE = 25
LIVE_SHOWN = 4           # Staging versions listed in a tree before "… more"


@dataclass(frozen=True)
class Filters:
    name: str = ""
    tag: str = ""
    stage: str = ""

    @classmethod
    def from_query(cls, request: Request) -> Filters:
        params = request.query_params
        name, tag = params.get("q", "").strip(), params.get("tag", "").strip()
        parsed = ModelFilter.parse(name, tag, params.get("stage", ""))  # refuses a bad one
        return cls(name, tag, parsed.stage)

    @property
    def active(self) -> bool:
        return bool(self.name or self.tag or self.stage)

    def query(self, **extra: str | int) -> str:
        params = {"q": self.name, "tag": self.tag, "stage": self.stage, **extra}
        return urlencode({k: v for k, v in params.items() if v not in ("", 0, None)})


@dataclass
class Listing:
    models: list[ModelRecord]
    start: int                        # 1-based position of the first model shown
    next_query: str = ""              # query string of the next page, "" on the last


def find_models(service: ServerRegistry, filters: Filters, token: str, start: int) -> Listing:
    page = service.list_models(name_like=filters.name, tag=filters.tag, stage=filters.stage,
                               max_results=PAGE_SIZE, page_token=token)
    following = filters.query(page=page.next_token, start=start + len(page.items))
    return Listing(page.items, start, following if page.next_token else "")


# --- the tree -----------------------------------------------------------------------


@dataclass(frozen=True)
class Branch:
    version: int
    stage: str
    aliases: list[str]


@dataclass(frozen=True)
class Tree:
    """The seed's view of one model: its live versions as branches, the rest summarised."""

    model: ModelRecord
    branches: list[Branch]
    rest: list[tuple[str, int]]       # [("Archived", 190), ("None", 7)]

    @property
    def owner(self) -> str:
        return self.model.tags.get("owner", "")

    @property
    def rest_count(self) -> int:
        return sum(count for _, count in self.rest)


def tree_of(model: ModelRecord) -> Tree:
    aliases: dict[int, list[str]] = {}
    for alias, version in sorted(model.aliases.items()):
        aliases.setdefault(version, []).append(alias)
    shown: list[tuple[int, str]] = []
    for stage in (Stage.PRODUCTION, Stage.STAGING):
        versions = sorted(model.stages.get(stage, []), reverse=True)
        shown += [(v, stage.value) for v in versions[:LIVE_SHOWN]]
    newest = model.stages.get(Stage.NONE, [])
    if newest and max(newest) > max((v for v, _ in shown), default=0):
        shown.append((max(newest), Stage.NONE.value))   # the newest candidate, not yet staged
    for alias_version in aliases:                        # every alias stays visible
        if alias_version not in {v for v, _ in shown}:
            holding = next((s for s, vs in model.stages.items() if alias_version in vs), "")
            if holding:
                shown.append((alias_version, holding))
    shown.sort(reverse=True)
    listed = {v for v, _ in shown}
    rest = [(stage.value, sum(1 for v in model.stages.get(stage, []) if v not in listed))
            for stage in STAGES]
    return Tree(model, [Branch(v, s, aliases.get(v, [])) for v, s in shown],
                [(s, n) for s, n in rest if n])


# --- the page -----------------------------------------------------------------------

router = APIRouter(route_class=UIRoute, include_in_schema=False)


@router.get("/")
@allow(SIGNED_IN)
def registry_page(request: Request) -> Response:
    filters = Filters.from_query(request)
    params = request.query_params
    start = max(1, _count(params.get("start", "1")))
    listing = find_models(registry(request), filters, params.get("page", ""), start)
    return render(request, "registry.html", {
        "filters": filters, "listing": listing, "stages": [s.value for s in STAGES],
        "trees": [tree_of(model) for model in listing.models]})


def _count(text: str) -> int:
    if not text.isdigit():
        raise InvalidInput(codes.PAGE_INVALID, f"'{text}' is not a position in the list",
                           "follow the page links, or start again from the first page")
    return int(text)
