"""What every page shares: templates, the CSRF token, flash notices, the error funnel.

Nothing here keeps state in process memory: the CSRF token is a double-submit
cookie (a random value in a SameSite=Strict cookie that each form echoes back),
and a notice after a redirect travels in a short-lived cookie, so any replica
can serve the next request.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from charter.domain import error_codes as codes
from charter.domain.errors import CharterError, PermissionDenied, http_status

log = logging.getLogger("charter.ui")

HERE = Path(__file__).parent
STATIC_URL = "/ui/static"
CSRF_COOKIE = "charter_csrf"
CSRF_FIELD = "csrf_token"
FLASH_COOKIE = "charter_flash"
# Pages carry forms that change Production: no framing (clickjacking), and nothing
# but this server's own stylesheet and script may run.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
STAGE_CLASSES = {"Production": "production", "Staging": "staging", "None": "none",
                 "Archived": "archived"}


def model_url(name: str) -> str:
    return f"/models/{quote(name, safe='')}"


def version_url(name: str, version: int) -> str:
    return f"{model_url(name)}/versions/{version}"


def short_time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def upfirst(text: str) -> str:
    """Capitalise the first letter only (Jinja's ``capitalize`` lowercases the rest)."""
    return text[:1].upper() + text[1:]


def sentence(text: str) -> str:
    text = upfirst(text.strip())
    return text if not text or text[-1] in ".?!" else text + "."


def with_code(text: str) -> Markup:
    """Escape ``text`` and show its `backticked` spans (commands, in hints) as code."""
    parts = str(escape(text)).split("`")
    if len(parts) % 2 == 0:          # an unmatched backtick: leave the text as it is
        return escape(text)
    return Markup("".join(f"<code>{part}</code>" if index % 2 else part
                          for index, part in enumerate(parts)))


templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals.update(model_url=model_url, version_url=version_url,
                             static_url=STATIC_URL, stage_class=STAGE_CLASSES.get)
templates.env.filters.update(short_time=short_time, human_size=human_size, upfirst=upfirst,
                             sentence=sentence, code=with_code)
templates.env.trim_blocks = templates.env.lstrip_blocks = True


# --- CSRF: double-submit cookie ------------------------------------------------------


def csrf_token(request: Request) -> str:
    """The browser's token: its cookie's value, or a new one the response will set."""
    token = getattr(request.state, "csrf_token", None)
    if token is None:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        token = cookie if 32 <= len(cookie) <= 128 and cookie.isascii() else ""
        request.state.csrf_new = not token
        request.state.csrf_token = token = token or secrets.token_urlsafe(32)
    return str(token)


def check_csrf(request: Request, submitted: str) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), (submitted or "").encode()):
        raise PermissionDenied(
            codes.CSRF_INVALID,
            "This form was not sent from a page of this registry, or it expired",
            "reload the page and submit the form again (cookies must be enabled)")


# --- rendering -----------------------------------------------------------------------


def render(request: Request, template: str, context: dict[str, Any] | None = None,
           status: int = 200) -> Response:
    token = csrf_token(request)
    notice = unquote(request.cookies.get(FLASH_COOKIE, ""))
    response = templates.TemplateResponse(
        request, template, {"csrf_token": token, "notice": notice, **(context or {})},
        status_code=status)
    response.headers.update(SECURITY_HEADERS)
    if getattr(request.state, "csrf_new", False):
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
    if notice:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(url: str, notice: str) -> Response:
    """Post/Redirect/Get: the next page shows ``notice`` once, at the top of its content."""
    response = RedirectResponse(url + "#main", status_code=303)
    response.set_cookie(FLASH_COOKIE, quote(notice[:500], safe=""), max_age=60, httponly=True,
                        samesite="strict", path="/")
    return response


def error_page(request: Request, error: CharterError, status: int | None = None) -> Response:
    status = status or http_status(error)
    template = "not_found.html" if status == 404 else "error.html"
    return render(request, template, {"error": error, "status": status}, status)


def crash_page(request: Request) -> Response:
    error = CharterError(codes.INTERNAL, "The server failed to show this page",
                         "this is a bug in Charter; the server log has the details")
    return render(request, "error.html", {"error": error, "status": 500}, 500)


class UIRoute(APIRoute):
    """The UI's one error funnel: a refusal becomes an HTML page, never a JSON body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def html_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except CharterError as error:
                return error_page(request, error)
            except HTTPException:
                raise
            except Exception:
                log.exception("unhandled error on %s %s", request.method, request.url.path)
                return crash_page(request)

        return html_errors
