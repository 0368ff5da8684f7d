"""Gates and approvals on the version page, and the webhook delivery log page.

The version page shows, for every move its lifecycle allows that has gates, the
same report ``charter check`` prints, with the approval request that counts
for it; its forms request, approve and reject. ``/webhooks`` lists the
subscriptions and their deliveries (admins only, as the API).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form
from jinja2 import pass_context
from starlette.requests import Request
from starlette.responses import Response

from charter.api.deps import registry
from charter.domain import error_codes as codes
from charter.domain.approvals import APPROVED, PENDING, ApprovalRecord
from charter.domain.errors import CharterError
from charter.domain.gate_report import GateReport, GateResult
from charter.domain.lifecycle import Stage
from charter.domain.records import VersionRecord
from charter.service import RegistryService
from charter.ui.actions import Change, perform
from charter.ui.page import UIRoute, model_url, render, templates

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


@dataclass(frozen=True)
class GateView:
    report: GateReport
    checks: list[GateResult]                # the gates, without the "transition" line
    needs_approval: bool
    request: ApprovalRecord | None          # the open request for this move, if any


def version_governance(service: RegistryService, record: VersionRecord) -> dict[str, Any]:
    """The gate reports of the moves that have gates, and the version's approval requests."""
    gates = {move: service.gates_for(record.name, move)
             for move in service.policies.transitions.allowed_from(Stage(record.stage))}
    moves = [move for move, configured in gates.items() if not configured.empty]
    approvals = service.list_approvals(record.name, record.version) if moves else []
    views = []
    for move in moves:
        report = service.check_gates(record.name, record.version, move.value)
        # newest first: the newest request for this move counts, unless stale or rejected
        request = next((r for r in approvals if r.to_stage == move.value), None)
        views.append(GateView(
            report, [r for r in report.results if r.name != "transition"],
            gates[move].approvals > 0,
            request if request is not None and request.status in (PENDING, APPROVED) else None))
    return {"gate_views": views, "approvals": approvals}


def _act(request: Request, name: str, version: str, form: str, values: dict[str, str],
         token: str, change: Change) -> Response:
    from charter.ui.versions import show_version  # the page this form lives on

    return perform(
        request, form=form, values=values, token=token, change=change,
        success_url=f"{model_url(name)}/versions/{quote(version, safe='')}#h-gates",
        page=lambda failure, status: show_version(request, name, version, failure, status))


@router.post("/models/{name}/versions/{version}/approvals")
def request_approval(request: Request, name: str, version: str, stage: str = Form(""),
                     reason: str = Form(""), csrf_token: str = Form("")) -> Response:
    def change(service: RegistryService, why: str) -> str:
        asked = service.request_approval(name, version, stage, comment=why)
        return f"Approval requested for v{asked.version} → {asked.to_stage}"

    return _act(request, name, version, f"approval-request-{stage}",
                {"stage": stage, "reason": reason}, csrf_token, change)


@router.post("/models/{name}/versions/{version}/approvals/approve")
def approve(request: Request, name: str, version: str, stage: str = Form(""),
            reason: str = Form(""), csrf_token: str = Form("")) -> Response:
    def change(service: RegistryService, why: str) -> str:
        decided = service.approve(name, version, stage, comment=why)
        return f"Approved v{decided.version} → {decided.to_stage} ({decided.status})"

    return _act(request, name, version, f"approval-decide-{stage}",
                {"stage": stage, "reason": reason}, csrf_token, change)


@router.post("/models/{name}/versions/{version}/approvals/reject")
def reject(request: Request, name: str, version: str, stage: str = Form(""),
           reason: str = Form(""), csrf_token: str = Form("")) -> Response:
    def change(service: RegistryService, why: str) -> str:
        decided = service.reject(name, version, stage, comment=why)
        return f"Rejected v{decided.version} → {decided.to_stage}"

    return _act(request, name, version, f"approval-decide-{stage}",
                {"stage": stage, "reason": reason}, csrf_token, change)


@router.get("/webhooks")
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
