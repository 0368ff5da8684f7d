"""The web UI's routes, which ``charter.server`` mounts: ``router`` (every page),
``static`` (served at ``STATIC_URL``) and ``missing_page`` (a path or a method no
route serves, for a browser).

Pages: ``/`` (registry), ``/models/{name}``, ``/models/{name}/versions/{n}``,
``/audit``, ``/naming`` and the naming page's JSON check ``/ui/lint``. Every form
is a POST that redirects on success; see ``actions.perform``.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from charter.domain import error_codes as codes
from charter.domain.errors import CharterError, InvalidInput, NotFound
from charter.ui import (
    audit,
    governance,
    interfaces,
    models,
    naming,
    registry,
    signin,
    versions,
)
from charter.ui.page import HERE, STATIC_URL, error_page
from charter.web import PUBLIC, allow

__all__ = ["STATIC_URL", "missing_page", "router", "static"]

router = APIRouter()
for _pages in (registry, models, versions, audit, naming, signin, governance, interfaces):
    router.include_router(_pages.router)

static = allow(PUBLIC)(StaticFiles(directory=HERE / "static"))


def missing_page(request: Request, status: int) -> Response:
    """The page for a path no route serves (404) or a method it does not take (405)."""
    return error_page(request, _as_error(request, status), status)


def _as_error(request: Request, status: int) -> CharterError:
    if status == 404:
        return NotFound(codes.PAGE_NOT_FOUND, f"There is no page at {request.url.path}",
                        "start from the registry, or check the address")
    return InvalidInput(codes.METHOD_NOT_ALLOWED,
                        f"{request.method} is not accepted at {request.url.path}",
                        "use the page's links and forms")
