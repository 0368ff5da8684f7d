"""The version page's approval forms, and the webhook delivery log page.

The version page (``versions.py``) shows the gate reports and approval requests
(``gates.py``); the forms here request, approve and reject, then show that page again.
``/webhooks`` lists the subscriptions and their deliveries (admins only, as the API).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form
from jinja2 import pass_context
from starlette.requests import Request
from starlette.responses import Response

from charter.domain import error_codes as codes
from charter.domain.errors import CharterError
from charter.registry import ServerRegistry
from charter.ui.actions import Change, perform
from charter.ui.page import UIRoute, model_url, render, templates
from charter.ui.versions import show_version
from charter.web import ADMIN, SIGNED_IN, allow, registry

router = APIRouter(route_class=UIRoute, include_in_schema=False)


@pass_context
def sees_webhooks(context: Any) -> bool:
    """The Webhooks page is an admin's (the delivery log names every subscription's URL);
    with authentication off everyone is a local admin."""
    request = context.get("request")
    principal = getattr(request.state, "principal", None) if request is not None else None
    return principal is None or bool(principal.admin)


templates.env.globals.update(sees_webhooks=sees_webhooks)

DELIVERY_PAGE = 100


def _act(request: Request, name: str, version: str, form: str, values: dict[str, str],
         token: str, change: Change) -> Response:
    return perform(
        request, form=form, values=values, token=token, change=change,
        success_url=f"{model_url(name)}/versions/{quote(version, safe='')}#h-gates",
        page=lambda failure, status: show_version(request, name, version, failure, status))


@router.post("/models/{name}/versions/{version}/approvals")
@allow(SIGNED_IN)
def request_approval(request: Request, name: str, version: str, stage: str = Form(""),
                     reason: str = Form(""), csrf_token: str = Form("")) -> Response:
    def change(service: ServerRegistry, why: str) -> str:
        asked = service.request_approval(name, version, stage, comment=why)
        return f"Approval requested for v{asked.version} → {asked.to_stage}"

    return _act(request, name, version, f"approval-request-{stage}",
                {"stage": stage, "reason": reason}, csrf_token, change)


@router.post("/models/{name}/versions/{version}/approvals/approve")
@allow(SIGNED_IN)
def approve(request: Request, name: str, version: str, stage: str = Form(""),
            reason: str = Form(""), csrf_token: str = Form("")) -> Response:
    def change(service: ServerRegistry, why: str) -> str:
        decided = service.approve(name, version, stage, comment=why)
        return f"Approved v{decided.version} → {decided.to_stage} ({decided.status})"

    return _act(request, name, version, f"approval-decide-{stage}",
                {"stage": stage, "reason": reason}, csrf_token, change)


@router.post("/models/{name}/versions/{version}/approvals/reject")
@allow(SIGNED_IN)
def reject(request: Request, name: str, version: str, stage: str = Form(""),
           reason: str = Form(""), csrf_token: str = Form("")) -> Response:
    def change(service: ServerRegistry, why: str) -> str:
        decided = service.reject(name, version, stage, comment=why)
        return f"Rejected v{decided.version} → {decided.to_stage}"

    return _act(request, name, version, f"approval-decide-{stage}",
                {"stage": stage, "reason": reason}, csrf_token, change)


@router.get("/webhooks")
@allow(ADMIN)  # the delivery log names every subscription's URL
def webhooks_page(request: Request, webhook: str = "", status: str = "") -> Response:
    service = registry(request)
    hooks = service.list_webhooks()
    try:
        deliveries = service.webhook_deliveries(webhook or None, status=status or None,
                                                limit=DELIVERY_PAGE)
    except CharterError as error:
        if error.code != codes.WEBHOOK_NOT_FOUND:
            raise
        deliveries = []
    return render(request, "webhooks.html", {
        "webhooks": hooks, "deliveries": deliveries,
        "filters": {"webhook": webhook, "status": status},
        "statuses": ["pending", "delivered", "dead"]})
