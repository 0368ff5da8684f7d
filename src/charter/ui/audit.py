"""The audit page: the event log, newest first, and the hash chain's verification.

A page is one indexed window of the log (``audit_events``): the newest events below a
cursor, or the oldest above one, with the model, action and actor filters applied in
SQL — a model's events through its (model_key, seq) index — so every event of a model
is reachable by paging, and an old page costs what the newest does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from charter.domain import error_codes as codes
from charter.domain import events as actions
from charter.domain.checkpoints import SignedCheckpoint
from charter.domain.errors import InvalidInput, NotFound
from charter.domain.records import EventRecord
from charter.registry import ServerRegistry
from charter.ui.page import UIRoute, render
from charter.web import SIGNED_IN, allow, registry

router = APIRouter(route_class=UIRoute, include_in_schema=False)

PAGE_SIZE = 50
ACTIONS = sorted(value for key, value in vars(actions).items()
                 if key.isupper() and isinstance(value, str) and key not in
                 ("GENESIS_HASH", "TIME_FORMAT"))


@dataclass(frozen=True)
class EventFilters:
    model: str = ""
    action: str = ""
    actor: str = ""

    @property
    def active(self) -> bool:
        return bool(self.model or self.action or self.actor)

    def query(self, **cursor: int | str) -> str:
        params = {"model": self.model, "action": self.action, "actor": self.actor, **cursor}
        return urlencode({k: v for k, v in params.items() if v != ""})

    def window(self, service: ServerRegistry, limit: int = PAGE_SIZE + 1,
               **cursor: int | None) -> list[EventRecord]:
        """By default one more than a page of matching events (the extra one says that
        another page follows)."""
        return service.audit_events(model=self.model, action=self.action, actor=self.actor,
                                    limit=limit, **cursor)


@dataclass
class Window:
    events: list[EventRecord]     # newest first
    older: str = ""               # query of the older page, "" when none
    newer: str = ""


@router.get("/audit")
@allow(SIGNED_IN)
def audit_page(request: Request) -> Response:
    service = registry(request)
    params = request.query_params
    filters = EventFilters(params.get("model", "").strip(), params.get("action", "").strip(),
                           params.get("actor", "").strip())
    if "after" in params:
        window = _forward(service, filters, _seq(params["after"]))
    else:
        window = _backward(service, filters,
                           _seq(params["before"]) if "before" in params else None)
    # Verifying walks the whole chain (seconds at 100k events), so the page does not
    # wait for it: charter.js asks /ui/audit/verify; without JavaScript, ?verify=1 does.
    report = service.verify_audit() if params.get("verify") == "1" else None
    return render(request, "audit.html", {
        "report": report, "window": window, "filters": filters, "actions": ACTIONS,
        "checkpoint": _latest_checkpoint(service), "verified": service.audit_verified(),
        "verify_query": filters.query(verify=1, **_cursor(params))})


def _latest_checkpoint(service: ServerRegistry) -> SignedCheckpoint | None:
    try:
        return service.latest_checkpoint()
    except NotFound:
        return None


def _cursor(params: Mapping[str, str]) -> dict[str, int]:
    return {key: _seq(params[key]) for key in ("before", "after") if key in params}


@router.get("/ui/audit/verify")
@allow(SIGNED_IN)
def verify_json(request: Request) -> JSONResponse:
    """The audit page's chain check: ``{"ok", "events_checked", "first_bad_seq", "problem"}``."""
    report = registry(request).verify_audit()
    return JSONResponse(report.to_dict(), headers={"Cache-Control": "no-store"})


def _seq(text: str) -> int:
    if not text.isdigit():
        raise InvalidInput(codes.AUDIT_CURSOR, f"'{text}' is not an event sequence number",
                           "follow the Older and Newer links, or start again from /audit")
    return int(text)


def _backward(service: ServerRegistry, filters: EventFilters, before: int | None) -> Window:
    """Matching events with seq < ``before`` (None: the newest), newest first."""
    found = filters.window(service, before=before)
    older = filters.query(before=found[PAGE_SIZE - 1].seq) if len(found) > PAGE_SIZE else ""
    newer = ""
    if before is not None and filters.window(service, 1, after=before - 1):
        newer = filters.query(after=before - 1)
    return Window(found[:PAGE_SIZE], older, newer)


def _forward(service: ServerRegistry, filters: EventFilters, after: int) -> Window:
    """Matching events with seq > ``after``, shown newest first."""
    found = filters.window(service, after=after)
    newer = filters.query(after=found[PAGE_SIZE - 1].seq) if len(found) > PAGE_SIZE else ""
    older = filters.query(before=after + 1) if after > 0 else ""
    return Window(list(reversed(found[:PAGE_SIZE])), older, newer)
