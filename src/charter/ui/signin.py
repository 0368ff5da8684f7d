"""Signing in to the web UI with a token, and showing only the actions the user may take.

The sign-in form takes an API token once; the server opens a session and answers
with a cookie holding a random session id (HttpOnly, SameSite=Strict, Secure over
https). The token itself is never stored in the browser, and the database keeps
only the session id's sha256. A session ends after 12 hours, on sign-out, or when
its token is revoked or expires.

``may``/``movable``/``signed_in`` are template globals: pages offer a form only when
the user's role allows it (the service refuses it anyway if a form is forged).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Form
from jinja2 import pass_context
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from charter.domain.access import Principal
from charter.domain.errors import CharterError
from charter.domain.lifecycle import Stage
from charter.ui.page import UIRoute, check_csrf, render, templates
from charter.web import PUBLIC, SESSION_COOKIE, allow, auth_enabled

router = APIRouter(route_class=UIRoute, include_in_schema=False)


def safe_next(target: str) -> str:
    """Only a path on this site (no scheme, no host, no backslash tricks) is followed."""
    if (not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ord(c) < 0x20 for c in target)):
        return "/"
    return target


@router.get("/signin")
@allow(PUBLIC)
def sign_in_page(request: Request, next: str = "/") -> Response:
    return render(request, "signin.html", {
        "next": safe_next(next), "auth_enabled": auth_enabled(request), "failure": None})


@router.post("/signin")
@allow(PUBLIC)
async def sign_in(request: Request, token: str = Form(""), next: str = Form("/"),
                  csrf_token: str = Form("")) -> Response:
    check_csrf(request, csrf_token)
    target = safe_next(next)
    service = request.app.state.service
    try:
        secret, until, _ = await run_in_threadpool(service.open_session, token.strip())
    except CharterError as error:
        service.denials.record({"method": "POST", "path": "/signin", "code": error.code,
                                "status": error.kind,
                                "client": request.client.host if request.client else ""})
        return render(request, "signin.html", {
            "next": target, "auth_enabled": auth_enabled(request), "failure": error}, 401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, secret, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/", expires=until)
    return response


@router.post("/signout")
@allow(PUBLIC)
async def sign_out(request: Request, csrf_token: str = Form("")) -> Response:
    check_csrf(request, csrf_token)
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        await run_in_threadpool(request.app.state.service.close_session, secret)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- what a page may offer ----------------------------------------------------------------


def _principal(context: Any) -> Principal | None:
    request = context.get("request")
    return getattr(request.state, "principal", None) if request is not None else None


@pass_context
def may(context: Any, operation: str, model: str) -> bool:
    """Whether the signed-in user may ``operation`` (edit, alias, rollback…) on ``model``;
    always true with authentication off (a local admin)."""
    principal = _principal(context)
    if principal is None:
        return True
    return principal.may(operation, principal.model_keys.get(model.strip().lower()))


@pass_context
def movable(context: Any, model: str, stage: str, moves: Iterable[Stage]) -> list[Stage]:
    """The stage moves the user's role allows, out of those the lifecycle allows."""
    principal = _principal(context)
    moves = list(moves)
    if principal is None:
        return moves
    model_id = principal.model_keys.get(model.strip().lower())
    return [move for move in moves if principal.may_move(model_id, Stage(stage), move)]


@pass_context
def signed_in(context: Any) -> str:
    principal = _principal(context)
    return principal.name if principal is not None else ""


templates.env.globals.update(may=may, movable=movable, signed_in=signed_in)
