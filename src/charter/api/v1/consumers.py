"""Consumers: what named deployments serve of a model, and who lags after a move.

A lookup reports by the ``X-Charter-Consumer`` header (``GET /resolve`` here, and the
MLflow surface's lookups); ``POST /consumers/report`` reports explicitly.
docs/contracts.md "Consumers".
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from charter.api.v1.common import Registry, documented, ok
from charter.api.v1.schemas import Body
from charter.web import SIGNED_IN, allow

router = APIRouter(tags=["consumers"])


class ConsumerReportIn(Body):
    consumer: str = Field(examples=["checkout-api/eu"])
    uri: str = Field(examples=["models:/fraud_detector/Production"])
    version: int | None = Field(None, description="the version it serves; absent: what the "
                                                  "URI points at now", examples=[42])


class ConsumerOut(BaseModel):
    consumer: str
    model: str
    uri: str
    version: int
    expected: int | None
    status: str = Field(examples=["lagging"])
    live: bool
    since: str
    last_seen: str


class StageOut(BaseModel):
    stage: str
    version: int | None
    converged: bool
    current: list[str]
    lagging: list[str]


class ConsumersOut(BaseModel):
    model: str
    consumers: list[ConsumerOut]
    stages: list[StageOut]
    expire_after_seconds: int


@router.get("/models/{name}/consumers", responses=documented(ConsumersOut))
@allow(SIGNED_IN)
def model_consumers(name: str, service: Registry,
                    include_stale: Annotated[bool, Query(
                        description="also consumers not seen within expire_after")] = False
                    ) -> JSONResponse:
    """Who serves which version, against what each URI points at now; per stage, who
    already serves its version and who lags."""
    return ok(service.consumers(name, include_stale=include_stale).to_dict())


@router.post("/consumers/report", responses=documented(ConsumerOut))
@allow(SIGNED_IN)
def report_consumer(body: ConsumerReportIn, service: Registry) -> JSONResponse:
    """Record that a consumer serves a URI (the version given, else the current one)."""
    return ok(service.report_consumer(body.consumer, body.uri, version=body.version).to_dict())
