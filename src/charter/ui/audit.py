"""The audit page: the event log, newest first, and the hash chain's verification.

Sequence numbers run 1..N without gaps (the chain proves it), so a page is a window
of seqs read with ``events(after, limit)``. Filters by model, action and actor are
applied here while walking the log, for a bounded number of events per request.
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
from charter.service import RegistryService
from charter.ui.page import UIRoute, render
from charter.web import SIGNED_IN, allow, registry

router = APIRouter(route_class=UIRoute, include_in_schema=False)

PAGE_SIZE = 50
CHUNK = 500
SCAN_LIMIT = 5000
ACTIONS = sorted(value for key, value in vars(actions).items()
                 if key.isupper() and isinstance(value, str) and key not in
                 ("GENESIS_HASH", "TIME_FORMAT"))


@dataclass(frozen=True)
class EventFilters:
    model: str = ""
    action: str = ""
    actor: str = ""

    def matches(self, event: EventRecord) -> bool:
        return ((not self.model or self.model.lower() == event.model.lower())
                and (not self.action or self.action == event.action)
                and (not self.actor or self.actor.lower() in event.actor.lower()))

    @property
    def active(self) -> bool:
        return bool(self.model or self.action or self.actor)

    def query(self, **cursor: int | str) -> str:
        params = {"model": self.model, "action": self.action, "actor": self.actor, **cursor}
        return urlencode({k: v for k, v in params.items() if v != ""})


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
        head = last_seq(service)
        before = min(_seq(params["before"]), head + 1) if "before" in params else head + 1
        window = _backward(service, filters, before)
    # Verifying walks the whole chain (seconds at 100k events), so the page does not
    # wait for it: charter.js asks /ui/audit/verify; without JavaScript, ?verify=1 does.
    report = service.verify_audit() if params.get("verify") == "1" else None
    return render(request, "audit.html", {
        "report": report, "window": window, "filters": filters, "actions": ACTIONS,
        "checkpoint": _latest_checkpoint(service), "verified": service.audit_verified(),
        "verify_query": filters.query(verify=1, **_cursor(params))})


def _latest_checkpoint(service: RegistryService) -> SignedCheckpoint | None:
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


def _backward(service: RegistryService, filters: EventFilters, before: int) -> Window:
    """Matching events with seq < ``before``, newest first."""
    found: list[EventRecord] = []
    cursor, examined = before, 0
    while cursor > 1 and len(found) < PAGE_SIZE and examined < SCAN_LIMIT:
        low = max(0, cursor - 1 - CHUNK)
        batch = service.events(after=low, limit=cursor - 1 - low)
        if not batch:      # seqs have no gaps below the head, so nothing older exists
            cursor = 1
            break
        for event in reversed(batch):
            examined, cursor = examined + 1, event.seq
            if filters.matches(event):
                found.append(event)
                if len(found) == PAGE_SIZE:
                    break
    newer = filters.query(after=before - 1) if service.events(after=before - 1, limit=1) else ""
    older = filters.query(before=cursor) if cursor > 1 else ""
    return Window(found, older, newer)


def _forward(service: RegistryService, filters: EventFilters, after: int) -> Window:
    """Matching events with seq > ``after``, shown newest first."""
    found: list[EventRecord] = []
    cursor, examined, more = after, 0, True
    while more and len(found) < PAGE_SIZE and examined < SCAN_LIMIT:
        batch = service.events(after=cursor, limit=CHUNK)
        more = len(batch) == CHUNK
        for index, event in enumerate(batch):
            examined, cursor = examined + 1, event.seq
            if filters.matches(event):
                found.append(event)
                if len(found) == PAGE_SIZE:
                    more = more or index + 1 < len(batch)
                    break
    older = filters.query(before=after + 1) if after > 0 else ""
    newer = filters.query(after=cursor) if more else ""
    return Window(list(reversed(found)), older, newer)


def last_seq(service: RegistryService) -> int:
    """The newest event's seq, found in O(log n) point reads (seqs have no gaps)."""
    if not service.events(after=0, limit=1):
        return 0
    low, high = 1, 2                 # seq ``low`` exists; ``high`` is probed
    while service.events(after=high - 1, limit=1):
        low, high = high, high * 2
    while high - low > 1:            # invariant: low exists, high does not
        middle = (low + high) // 2
        if service.events(after=middle - 1, limit=1):
            low = middle
        else:
            high = middle
    return low
