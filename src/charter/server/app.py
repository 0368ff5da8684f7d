"""``create_app(service)``: the one ASGI app — the MLflow surface, REST v1 and the web UI.

This is the composition root of the web: it mounts ``api/``'s routers and ``ui/``'s
pages, which never import each other, installs the error funnels (JSON for API
clients, HTML pages for browsers), the access middleware and the input boundary.
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp

import charter.metrics as metrics
from charter._version import __version__
from charter.api import boundary, mlflow, v1
from charter.api.errors import (
    charter_error_handler,
    client_gone_handler,
    http_error_handler,
    is_api_path,
    unexpected_error_handler,
    validation_error_handler,
)
from charter.api.mlflow import kept
from charter.api.mlflow.cache import AnswerCache
from charter.config import Settings
from charter.domain.errors import CharterError
from charter.server import access, ops
from charter.server.briefs import install_brief_refresher
from charter.server.checkpoints import install_checkpoint_timer
from charter.server.delivery import install_worker
from charter.server.heap import install_heap_settings
from charter.server.logs import FORMAT_ENV
from charter.server.observe import Observe
from charter.service import RegistryService
from charter.ui import routes as ui
from charter.web import PUBLIC, allow

MIGRATED_ENV = "CHARTER_SERVE_MIGRATED"  # set by `charter serve` once it has migrated


class CharterApp(FastAPI):
    """FastAPI, with the observer (server/observe.py) around its whole middleware stack:
    outside even Starlette's server-error funnel, so an answer to an unexpected error is
    counted, logged and carries its request id like every other answer."""

    log_requests = False

    def build_middleware_stack(self) -> ASGIApp:
        return Observe(super().build_middleware_stack(), routes=self.router.routes,
                       log_requests=self.log_requests)


def create_app(service: RegistryService | None = None,
               settings: Settings | None = None, *, log_format: str | None = None) -> FastAPI:
    settings = settings or Settings.load()
    metrics.enable()
    if service is None:
        from charter.bootstrap import build_service

        service = build_service(settings, actor="server",
                                migrate=os.environ.get(MIGRATED_ENV) != "1")
    app = CharterApp(title="Charter", version=__version__,
                  description="A model registry in which names and stages are product contracts.",
                  openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs", redoc_url=None)
    app.log_requests = (log_format or os.environ.get(FORMAT_ENV, "text")) == "json"
    app.state.service = service
    app.state.settings = settings
    # MLflow read answers, valid until the next change; sized by configuration.
    app.state.answers = AnswerCache(max_bytes=settings.answer_cache_mb * 1024 * 1024)
    # One per process: a worker has one app (in tests the last app's setting holds).
    kept.MODELS.resize(settings.kept_models_mb * 1024 * 1024)
    _handle_errors(app)
    _mount(app)
    ops.install(app)  # /readyz and /metrics (docs/operations.md)
    install_worker(app)  # webhook deliveries, from the outbox (docs/governance.md)
    install_checkpoint_timer(app)  # signs a quiet registry's last events (docs/provenance.md)
    install_brief_refresher(app)  # PostgreSQL: keeps model briefs (store/model_briefs.py)
    install_heap_settings(app)  # last at startup: freezes what the others started (heap.py)
    # The loop's PostgreSQL read connections (store/pg_loop.py) close with the server.
    app.router.add_event_handler("shutdown", service.db.close_loop_reads)
    access.install(app, enabled=settings.auth_enabled)  # tokens and the route rules
    boundary.install(app)  # outermost: text and numbers are checked before anything else
    return app


def _mount(app: FastAPI) -> None:
    # MLflow's routes first: its clients are the hottest path, and routes match in order.
    # They go into the app's own table, not through include_router: an included router
    # is matched twice per request (FastAPI's lazy inclusion), a fifth of a point read.
    app.router.routes[:0] = mlflow.router.routes
    app.include_router(v1.router, prefix="/api/v1")
    app.mount(ui.STATIC_URL, ui.static, name="ui-static")
    app.include_router(ui.router)

    @app.get("/healthz", include_in_schema=False)
    @allow(PUBLIC)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    # FastAPI's own routes, the API's documentation, read nothing of the registry.
    documentation = {app.openapi_url, app.docs_url, app.swagger_ui_oauth2_redirect_url}
    for route in app.router.routes:
        if getattr(route, "path", None) in documentation:
            allow(PUBLIC)(route.endpoint)  # type: ignore[attr-defined]


def _handle_errors(app: FastAPI) -> None:
    app.add_exception_handler(CharterError, charter_error_handler)
    app.add_exception_handler(ClientDisconnect, client_gone_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, unexpected_error_handler)


async def _http_error(request: Request, exc: Exception) -> Response:
    """A path or a method no route serves: the UI's page for a browser, the API's error
    body for everyone else."""
    assert isinstance(exc, HTTPException)
    browser = "text/html" in request.headers.get("accept", "")
    if exc.status_code in (404, 405) and browser and not is_api_path(request.url.path):
        return ui.missing_page(request, exc.status_code)
    return await http_error_handler(request, exc)


def factory() -> FastAPI:
    """Entry point for uvicorn workers (``--factory``); settings come from the environment."""
    return create_app()
