"""The model page and its forms: description, tags, aliases, rollback."""

from __future__ import annotations

from fastapi import APIRouter, Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from charter.domain.errors import CharterError, http_status
from charter.domain.gates import describe_duration
from charter.domain.values import check_reason
from charter.registry import ServerRegistry
from charter.ui.actions import Change, Failure, perform
from charter.ui.page import UIRoute, check_csrf, model_url, render
from charter.ui.timeline import production_timeline, rollback_plan
from charter.web import SIGNED_IN, allow, registry

router = APIRouter(route_class=UIRoute, include_in_schema=False)


@router.get("/models/{name}")
@allow(SIGNED_IN)
def model_page(request: Request, name: str) -> Response:
    return show_model(request, name)


def show_model(request: Request, name: str, failure: Failure | None = None,
               status: int = 200) -> Response:
    service = registry(request)
    model = service.get_model(name)
    if model.name != name and failure is None:   # a former name: show the canonical URL
        return RedirectResponse(model_url(model.name), status_code=302)
    history = service.history(model.name)
    consumers = service.consumers(model.name)
    return render(request, "model.html", {
        "model": model,
        "versions": service.list_versions(model.name),
        "timeline": production_timeline(history),
        "rollback": rollback_plan(model, history),
        "consumers": consumers,
        "expire_after": describe_duration(consumers.expire_after),
        "failure": failure,
    }, status)


def _act(request: Request, name: str, form: str, values: dict[str, str], token: str,
         change: Change) -> Response:
    return perform(request, form=form, values=values, token=token, change=change,
                   success_url=model_url(name),
                   page=lambda failure, status: show_model(request, name, failure, status))


@router.post("/models/{name}/description")
@allow(SIGNED_IN)
def edit_description(request: Request, name: str, description: str = Form(""),
                     reason: str = Form(""), csrf_token: str = Form("")) -> Response:
    def change(service: ServerRegistry, why: str) -> str:
        service.update_model(name, description=description.strip(), reason=why)
        return f"Description of {name} updated"

    return _act(request, name, "description",
                {"description": description, "reason": reason}, csrf_token, change)


@router.post("/models/{name}/tags")
@allow(SIGNED_IN)
def set_tag(request: Request, name: str, key: str = Form(""), value: str = Form(""),
            reason: str = Form(""), csrf_token: str = Form("")) -> Response:
    def change(service: ServerRegistry, why: str) -> str:
        # The service records no reason for tag changes yet; the form still asks for one.
        service.set_model_tag(name, key.strip(), value)
        return f"Tag {key.strip()}={value} set on {name}"

    return _act(request, name, "tag-set", {"key": key, "value": value, "reason": reason},
                csrf_token, change)


@router.post("/models/{name}/tags/delete")
@allow(SIGNED_IN)
def delete_tag(request: Request, name: str, key: str = Form(""), reason: str = Form(""),
               csrf_token: str = Form("")) -> Response:
    def change(service: ServerRegistry, why: str) -> str:
        service.delete_model_tag(name, key)
        return f"Tag {key} removed from {name}"

    return _act(request, name, "tag-delete", {"key": key, "reason": reason}, csrf_token,
                change)


@router.post("/models/{name}/aliases")
@allow(SIGNED_IN)
def set_alias(request: Request, name: str, alias: str = Form(""), version: str = Form(""),
              reason: str = Form(""), csrf_token: str = Form("")) -> Response:
    def change(service: ServerRegistry, why: str) -> str:
        service.set_alias(name, alias.strip(), version)
        return f"@{alias.strip().lower()} now points at v{version.strip().lstrip('vV')}"

    return _act(request, name, "alias-set",
                {"alias": alias, "version": version, "reason": reason}, csrf_token, change)


@router.post("/models/{name}/aliases/delete")
@allow(SIGNED_IN)
def delete_alias(request: Request, name: str, alias: str = Form(""), reason: str = Form(""),
                 csrf_token: str = Form("")) -> Response:
    def change(service: ServerRegistry, why: str) -> str:
        service.delete_alias(name, alias)
        return f"Alias @{alias} removed from {name}"

    return _act(request, name, "alias-delete", {"alias": alias, "reason": reason},
                csrf_token, change)


@router.post("/models/{name}/rollback")
@allow(SIGNED_IN)
def rollback(request: Request, name: str, reason: str = Form(""), confirm: str = Form(""),
             csrf_token: str = Form("")) -> Response:
    """First POST: show what would change and ask again. Second (confirm=yes): do it."""
    values = {"reason": reason}
    if confirm != "yes":
        return _confirm_rollback(request, name, values, csrf_token)

    def change(service: ServerRegistry, why: str) -> str:
        restored = service.rollback(name, reason=why)
        return f"Rolled back {name}: v{restored.version} is in Production again"

    return _act(request, name, "rollback", values, csrf_token, change)


def _confirm_rollback(request: Request, name: str, values: dict[str, str],
                      token: str) -> Response:
    check_csrf(request, token)
    service = registry(request)
    model = service.get_model(name)
    plan = rollback_plan(model, service.history(model.name))
    try:
        reason = check_reason(values["reason"], required=True)
        if plan.refusal is not None:
            raise plan.refusal
    except CharterError as error:
        return show_model(request, name, Failure("rollback", error, values), http_status(error))
    return render(request, "rollback.html", {"model": model, "plan": plan, "reason": reason})
