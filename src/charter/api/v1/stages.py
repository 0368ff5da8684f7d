"""Stage moves and the questions they answer: transition, rollback, latest, resolve."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query
from starlette.responses import JSONResponse

from charter.api.v1.common import Registry, documented, ok
from charter.api.v1.schemas import Reason, ResolutionOut, Transition, VersionList, VersionOut
from charter.domain.lifecycle import ANY
from charter.web import SIGNED_IN, allow

router = APIRouter(tags=["stages"])


@router.post("/models/{name}/versions/{version}/transition", responses=documented(VersionOut))
@allow(SIGNED_IN)
def transition(name: str, version: str, body: Transition, service: Registry) -> JSONResponse:
    """Move a version along an allowed edge; Production needs `archive_existing` when taken."""
    expected = body.expect_production if "expect_production" in body.model_fields_set else ANY
    record = service.transition(name, version, body.stage,
                                archive_existing=body.archive_existing, reason=body.reason,
                                expect_production=expected, override_gates=body.override_gates,
                                accept_breaking=body.accept_breaking, force=body.force)
    return ok(record.to_dict())


@router.post("/models/{name}/rollback", responses=documented(VersionOut))
@allow(SIGNED_IN)
def rollback(name: str, body: Reason, service: Registry) -> JSONResponse:
    """Production goes back to Staging; the previous Production version returns."""
    return ok(service.rollback(name, reason=body.reason).to_dict())


@router.get("/models/{name}/latest", responses=documented(VersionList))
@allow(SIGNED_IN)
def latest_versions(name: str, service: Registry,
                    stage: Annotated[list[str] | None, Query(
                        description="repeat for several stages; all stages when absent")] = None
                    ) -> JSONResponse:
    versions = service.latest_versions(name, stage or None)
    return ok({"versions": [v.to_dict() for v in versions]})


@router.get("/resolve", responses=documented(ResolutionOut))
@allow(SIGNED_IN)
def resolve(uri: Annotated[str, Query(examples=["models:/fraud_detector/Production"])],
            service: Registry,
            as_of: Annotated[datetime | None, Query(
                description="ISO 8601 time; answered from the audit events")] = None,
            x_charter_consumer: Annotated[str | None, Header(
                description="the deployment asking (checkout-api/eu): the answer is "
                            "recorded as what it serves")] = None
            ) -> JSONResponse:
    return ok(service.resolve(uri, as_of=as_of, consumer=x_charter_consumer).to_dict())
