"""The audit trail and the naming policy: history, the event feed, chain check, lint."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import JSONResponse

from charter.api.v1.common import Registry, documented, ok
from charter.api.v1.schemas import AuditOut, EventList, LintOut

router = APIRouter(tags=["audit"])

MAX_EVENTS = 10_000


@router.get("/models/{name}/history", responses=documented(EventList))
def history(name: str, service: Registry,
            version: int | None = None,
            limit: Annotated[int, Query(ge=1, le=MAX_EVENTS)] = 1000) -> JSONResponse:
    """The model's events, oldest first, its former names' included."""
    events = service.history(name, version, limit=limit)
    return ok({"events": [e.to_dict() for e in events]})


@router.get("/events", responses=documented(EventList))
def events(service: Registry,
           after: Annotated[int, Query(ge=0, description="the last seq already seen")] = 0,
           limit: Annotated[int, Query(ge=1, le=MAX_EVENTS)] = 100) -> JSONResponse:
    """Every event after ``after``, in sequence order: poll it to follow the registry."""
    return ok({"events": [e.to_dict() for e in service.events(after=after, limit=limit)]})


@router.get("/audit/verify", responses=documented(AuditOut))
def verify_audit(service: Registry) -> JSONResponse:
    """Walk the hash chain; ``first_bad_seq`` names the first altered event."""
    return ok(service.verify_audit().to_dict())


@router.get("/lint", responses=documented(LintOut))
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
