"""The version page and its forms: stage transitions, description, tags."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from charter.domain.lifecycle import ANY, Stage, parse_stage
from charter.registry import ServerRegistry
from charter.ui.actions import Change, Failure, perform
from charter.ui.gates import version_governance
from charter.ui.interfaces import interface_context
from charter.ui.page import UIRoute, model_url, render, version_url
from charter.web import SIGNED_IN, allow, registry

router = APIRouter(route_class=UIRoute, include_in_schema=False)


@router.get("/models/{name}/versions/{version}")
@allow(SIGNED_IN)
def version_page(request: Request, name: str, version: str) -> Response:
    return show_version(request, name, version)


def show_version(request: Request, name: str, version: str, failure: Failure | None = None,
                 status: int = 200) -> Response:
    service = registry(request)
    record = service.get_version(name, version)
    if (record.name != name or str(record.version) != version) and failure is None:
        return RedirectResponse(version_url(record.name, record.version), status_code=302)
    model = service.get_model(record.name)
    production = next(iter(model.stages.get(Stage.PRODUCTION, [])), None)
    return render(request, "version.html", {
        "model": model, "version": record, "production": production,
        "moves": service.policies.transitions.allowed_from(Stage(record.stage)),
        "events": list(reversed(service.history(record.name, record.version))),
        "failure": failure, **version_governance(service, record),
        "signers": service.signers(record.name),
        "attestations": service.attestations(record.name, record.version),
        **interface_context(service, record, production),
    }, status)


def _act(request: Request, name: str, version: str, form: str, values: dict[str, str],
         token: str, change: Change) -> Response:
    return perform(
        request, form=form, values=values, token=token, change=change,
        success_url=f"{model_url(name)}/versions/{quote(version, safe='')}",
        page=lambda failure, status: show_version(request, name, version, failure, status))


@router.post("/models/{name}/versions/{version}/stage")
@allow(SIGNED_IN)
def transition(request: Request, name: str, version: str, stage: str = Form(""),
               archive_existing: str = Form(""), expect_production: str = Form(""),
               reason: str = Form(""), accept_breaking: str = Form(""),
               csrf_token: str = Form("")) -> Response:
    values = {"stage": stage, "archive_existing": archive_existing, "reason": reason,
              "accept_breaking": accept_breaking}

    def change(service: ServerRegistry, why: str) -> str:
        target = parse_stage(stage)
        # The page showed who held Production; promote only if that still holds, so two
        # release owners acting on the same stale page cannot both win.
        expected = _expected(expect_production) if target is Stage.PRODUCTION else ANY
        before = service.get_version(name, version).stage
        moved = service.transition(name, version, target.value, reason=why,
                                   archive_existing=archive_existing == "on",
                                   expect_production=expected,
                                   accept_breaking=accept_breaking.strip())
        return f"{moved.name} v{moved.version}: {before} → {target.value}"

    return _act(request, name, version, "stage", values, csrf_token, change)


def _expected(text: str) -> object:
    if text == "none":
        return None
    return int(text) if text.isdigit() else ANY


@router.post("/models/{name}/versions/{version}/description")
@allow(SIGNED_IN)
def edit_description(request: Request, name: str, version: str, description: str = Form(""),
                     reason: str = Form(""), csrf_token: str = Form("")) -> Response:
    def change(service: ServerRegistry, why: str) -> str:
        # update_version records no reason yet; the form still asks for one.
        moved = service.update_version(name, version, description=description.strip())
        return f"Description of {moved.name} v{moved.version} updated"

    return _act(request, name, version, "description",
                {"description": description, "reason": reason}, csrf_token, change)


@router.post("/models/{name}/versions/{version}/tags")
@allow(SIGNED_IN)
def set_tag(request: Request, name: str, version: str, key: str = Form(""),
            value: str = Form(""), reason: str = Form(""),
            csrf_token: str = Form("")) -> Response:
    def change(service: ServerRegistry, why: str) -> str:
        service.set_version_tag(name, version, key.strip(), value)
        return f"Tag {key.strip()}={value} set on v{version}"

    return _act(request, name, version, "tag-set",
                {"key": key, "value": value, "reason": reason}, csrf_token, change)


@router.post("/models/{name}/versions/{version}/tags/delete")
@allow(SIGNED_IN)
def delete_tag(request: Request, name: str, version: str, key: str = Form(""),
               reason: str = Form(""), csrf_token: str = Form("")) -> Response:
    def change(service: ServerRegistry, why: str) -> str:
        service.delete_version_tag(name, version, key)
        return f"Tag {key} removed from v{version}"

    return _act(request, name, version, "tag-delete", {"key": key, "reason": reason},
                csrf_token, change)
