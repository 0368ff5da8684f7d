"""The naming page: check a name against the policy (live, through ``/ui/lint``), and
list the registry's names that break it (registered under ``warn`` or ``off``, or
before a rule was added)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from charter.domain.naming import MAX_LENGTH, Finding, suggest_name
from charter.registry import ServerRegistry
from charter.ui.page import UIRoute, render
from charter.web import SIGNED_IN, allow, registry

router = APIRouter(route_class=UIRoute, include_in_schema=False)

LINT_INPUT_LIMIT = 256   # longer input is cut: the finding says it is too long anyway


@dataclass(frozen=True)
class Check:
    name: str
    findings: list[Finding]
    suggested: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": not self.findings, "suggested_name": self.suggested,
                "findings": [finding.to_dict() for finding in self.findings]}


def check(service: ServerRegistry, name: str) -> Check:
    name = name[:LINT_INPUT_LIMIT]
    findings = service.lint(name)
    suggested = suggest_name(name, service.policies.naming) if findings else ""
    return Check(name, findings, suggested)


@router.get("/naming")
@allow(SIGNED_IN)
def naming_page(request: Request) -> Response:
    service = registry(request)
    name = request.query_params.get("name", "")
    return render(request, "naming.html", {
        "checked": check(service, name) if name else None, "name": name[:LINT_INPUT_LIMIT],
        "mode": service.policies.naming.mode, "max_length": MAX_LENGTH,
        "offenders": offenders(service)})


@router.get("/ui/lint")
@allow(SIGNED_IN)
def lint_json(request: Request) -> JSONResponse:
    """The naming page's live check: ``{"name", "ok", "findings", "suggested_name"}``."""
    service = registry(request)
    result = check(service, request.query_params.get("name", ""))
    return JSONResponse(result.to_dict(), headers={"Cache-Control": "no-store"})


def offenders(service: ServerRegistry) -> list[Check]:
    """Every registered name with findings, walking the registry a page at a time."""
    found, token = [], ""
    while True:
        page = service.list_models(max_results=1000, page_token=token)
        found += [c for c in (check(service, m.name) for m in page.items) if c.findings]
        token = page.next_token
        if not token:
            return found
