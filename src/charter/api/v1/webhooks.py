"""Webhook subscriptions and their delivery log (docs/governance.md).

Every route is an admin's (``ADMIN``): a webhook sends every event to a URL of the
caller's choosing. The service checks it too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from charter.api.v1.common import NO_CONTENT, Registry, documented, no_content, ok
from charter.api.v1.schemas import Body
from charter.web import ADMIN, allow

router = APIRouter(tags=["webhooks"])


class WebhookCreate(Body):
    url: str = Field(examples=["https://deployer.internal/charter-hook"])
    secret: str = Field("", description="signs every delivery; generated (and shown once) "
                                        "when empty")
    events: list[str] = Field(default_factory=list, examples=[["stage_changed", "rolled_back"]],
                              description="actions to deliver; empty or [\"*\"]: every event")
    description: str = ""


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    description: str
    active: bool
    secret_hint: str = Field(examples=["9f2c…"])
    created_by: str
    created_at: str
    secret: str | None = Field(None, description="only in the answer that generated it")


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class AttemptOut(BaseModel):
    attempt: int
    at: str
    status_code: int | None
    ok: bool
    error: str
    duration_ms: int


class DeliveryOut(BaseModel):
    id: int
    uuid: str
    webhook_id: int
    url: str
    action: str
    event_seq: int | None
    model: str
    status: str = Field(examples=["delivered"], description="pending | delivered | dead")
    attempts: int
    created_at: str
    next_attempt_at: str | None
    delivered_at: str | None
    last_status_code: int | None
    last_error: str
    log: list[AttemptOut]


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]


@router.post("/webhooks", status_code=201, responses=documented(WebhookOut, 201, "Created"))
@allow(ADMIN)
def add_webhook(body: WebhookCreate, service: Registry) -> JSONResponse:
    """Subscribe a URL to events; deliveries are signed with the secret (HMAC-SHA256)."""
    record = service.add_webhook(body.url, secret=body.secret, events_filter=body.events,
                                 description=body.description)
    return ok(record.to_dict(), 201)


@router.get("/webhooks", responses=documented(WebhookList))
@allow(ADMIN)
def list_webhooks(service: Registry) -> JSONResponse:
    return ok({"webhooks": [w.to_dict() for w in service.list_webhooks()]})


# Before /webhooks/{webhook}: "deliveries" is not a webhook id.
@router.get("/webhooks/deliveries", responses=documented(DeliveryList))
@allow(ADMIN)
def deliveries(service: Registry,
               webhook: Annotated[str | None, Query(description="one subscription")] = None,
               status: Annotated[str | None, Query(
                   description="pending | delivered | dead")] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 50) -> JSONResponse:
    """The delivery log, newest first, each delivery with its attempts."""
    found = service.webhook_deliveries(webhook, status=status, limit=limit)
    return ok({"deliveries": [d.to_dict() for d in found]})


@router.post("/webhooks/deliveries/{delivery}/redeliver", responses=documented(DeliveryOut))
@allow(ADMIN)
def redeliver(delivery: str, service: Registry) -> JSONResponse:
    """Give a dead (or delivered) delivery a fresh round of attempts."""
    return ok(service.redeliver(delivery).to_dict())


@router.get("/webhooks/{webhook}", responses=documented(WebhookOut))
@allow(ADMIN)
def get_webhook(webhook: str, service: Registry) -> JSONResponse:
    return ok(service.get_webhook(webhook).to_dict())


@router.delete("/webhooks/{webhook}", status_code=204, responses=NO_CONTENT)
@allow(ADMIN)
def remove_webhook(webhook: str, service: Registry) -> Response:
    service.remove_webhook(webhook)
    return no_content()


@router.post("/webhooks/{webhook}/test", responses=documented(DeliveryOut))
@allow(ADMIN)
def test_webhook(webhook: str, service: Registry) -> JSONResponse:
    """Send a signed ``ping`` now and answer how the receiver took it."""
    return ok(service.test_webhook(webhook).to_dict())
