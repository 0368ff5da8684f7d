"""``mount(app)``: the web UI's pages, its static files and its HTML 404 page.

Pages: ``/`` (registry), ``/models/{name}``, ``/models/{name}/versions/{n}``,
``/audit``, ``/naming`` and the naming page's JSON check ``/ui/lint``. Every form
is a POST that redirects on success; see ``actions.perform``.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from charter.api.errors import is_mlflow_path
from charter.domain import error_codes as codes
from charter.domain.errors import CharterError, InvalidInput, NotFound
from charter.ui import audit, governance, models, naming, registry, signin, versions
from charter.ui.page import HERE, STATIC_URL, error_page

API_PREFIXES = ("/api/", "/ajax-api/")


def mount(app: FastAPI) -> None:
    app.mount(STATIC_URL, StaticFiles(directory=HERE / "static"), name="ui-static")
    for module in (registry, models, versions, audit, naming, signin, governance):
        app.include_router(module.router)
    _serve_html_errors(app)


def _serve_html_errors(app: FastAPI) -> None:
    """Unknown paths answer a browser with the UI's 404 page; API clients keep JSON."""
    previous = app.exception_handlers.get(HTTPException, http_exception_handler)

    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if wants_html(request) and exc.status_code in (404, 405):
            return error_page(request, _as_error(request, exc.status_code), exc.status_code)
        result = previous(request, exc)
        return await result if hasattr(result, "__await__") else result  # type: ignore[no-any-return]

    app.add_exception_handler(HTTPException, handler)


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(API_PREFIXES) or is_mlflow_path(path):
        return False
    return "text/html" in request.headers.get("accept", "")


def _as_error(request: Request, status: int) -> CharterError:
    if status == 404:
        return NotFound(codes.PAGE_NOT_FOUND, f"There is no page at {request.url.path}",
                        "start from the registry, or check the address")
    return InvalidInput(codes.METHOD_NOT_ALLOWED,
                        f"{request.method} is not accepted at {request.url.path}",
                        "use the page's links and forms")
