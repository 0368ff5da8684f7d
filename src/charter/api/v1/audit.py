"""The audit trail and the naming policy: history, the event feed, chain check, lint."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from charter.api.v1.common import Registry, documented, ok
from charter.api.v1.schemas import AuditOut, AuditPointOut, EventList, LintOut
from charter.web import SIGNED_IN, allow

router = APIRouter(tags=["audit"])

MAX_EVENTS = 10_000
MAX_WAIT = 60.0        # seconds a long poll of /events may be held
POLL_INTERVAL = 0.5    # how often a held long poll looks for new events


@router.get("/models/{name}/history", responses=documented(EventList))
@allow(SIGNED_IN)
def history(name: str, service: Registry,
            version: int | None = None,
            limit: Annotated[int, Query(ge=1, le=MAX_EVENTS)] = 1000) -> JSONResponse:
    """The model's events, oldest first, its former names' included."""
    events = service.history(name, version, limit=limit)
    return ok({"events": [e.to_dict() for e in events]})


@router.get("/events", responses=documented(EventList))
@allow(SIGNED_IN)
async def events(request: Request, service: Registry,
                 after: Annotated[int, Query(ge=0, description="the last seq already seen")] = 0,
                 limit: Annotated[int, Query(ge=1, le=MAX_EVENTS)] = 100,
                 wait: Annotated[float, Query(ge=0, le=MAX_WAIT, description=(
                     "long poll: seconds to wait for an event after `after` when there is "
                     "none yet (at most 60)"))] = 0) -> JSONResponse:
    """Every event after ``after``, in sequence order: poll it to follow the registry.

    With ``wait``, an empty answer is held until an event arrives or the wait ends; the
    database is read every half second in a worker thread, never on the event loop.
    """
    deadline = time.monotonic() + wait
    while True:
        found = await run_in_threadpool(service.events, after=after, limit=limit)
        remaining = deadline - time.monotonic()
        if found or remaining <= 0 or await request.is_disconnected():
            return ok({"events": [e.to_dict() for e in found]})
        await asyncio.sleep(min(POLL_INTERVAL, remaining))


@router.get("/audit/verify", responses=documented(AuditOut))
@allow(SIGNED_IN)
def verify_audit(service: Registry, full: Annotated[bool, Query(description=(
        "recompute every event, not only those after the point the last verify proved"))
        ] = False) -> JSONResponse:
    """Walk the hash chain; ``first_bad_seq`` names the first altered event.

    Without ``full``, the walk starts at the point the last verify proved (checked first:
    the event there must still hash to the remembered hash; ``verified_from`` says where).
    """
    return ok(service.verify_audit(full=full).to_dict())


@router.get("/audit/verified", responses=documented(AuditPointOut))
@allow(SIGNED_IN)
def audit_verified(service: Registry) -> JSONResponse:
    """The last verified point of the chain (seq, time) and the last full walk's."""
    return ok(service.audit_verified().to_dict())


@router.get("/lint", responses=documented(LintOut))
@allow(SIGNED_IN)
def lint(service: Registry,
         name: Annotated[list[str], Query(min_length=1, max_length=100,
                                          description="repeat for several names")]
         ) -> JSONResponse:
    results = []
    for each in name:
        findings = service.lint(each)
        results.append({"name": each, "ok": not findings,
                        "findings": [f.to_dict() for f in findings]})
    return ok({"results": results})
