"""``create_app(service)``: the ASGI app — native REST v1, the MLflow surface, the UI."""

from __future__ import annotations

import os

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from charter._version import __version__
from charter.api import access, boundary
from charter.api.delivery import install_worker
from charter.api.errors import (
    charter_error_handler,
    client_gone_handler,
    error_response,
    http_error_handler,
    unexpected_error_handler,
)
from charter.api.mlflow.cache import AnswerCache
from charter.config import Settings
from charter.domain import error_codes as codes
from charter.domain.errors import CharterError, InvalidInput
from charter.service import RegistryService

MIGRATED_ENV = "CHARTER_SERVE_MIGRATED"  # set by `charter serve` once it has migrated


def create_app(service: RegistryService | None = None,
               settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.load()
    if service is None:
        from charter.bootstrap import build_service

        service = build_service(settings, actor="server",
                                migrate=os.environ.get(MIGRATED_ENV) != "1")
    app = FastAPI(title="Charter", version=__version__,
                  description="A model registry in which names and stages are product contracts.",
                  openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs", redoc_url=None)
    app.state.service = service
    app.state.settings = settings
    app.state.answers = AnswerCache()  # MLflow read answers, valid until the next change
    app.add_exception_handler(CharterError, charter_error_handler)
    app.add_exception_handler(ClientDisconnect, client_gone_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
    _include_routers(app)
    install_worker(app)  # webhook deliveries, from the outbox (docs/governance.md)
    access.install(app, enabled=settings.auth_enabled)  # tokens and the route rules
    boundary.install(app)  # outermost: text and numbers are checked before anything else

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app


def _include_routers(app: FastAPI) -> None:
    from charter.api import mlflow, v1

    # MLflow's routes first: its clients are the hottest path, and routes match in order.
    app.include_router(mlflow.router)
    app.include_router(v1.router, prefix="/api/v1")
    try:
        from charter.ui import routes as ui_routes
    except ImportError:  # the UI package is optional until it lands
        return
    ui_routes.mount(app)


async def _validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}"
                for e in exc.errors()]
    error = InvalidInput(codes.REQUEST_INVALID, "The request is malformed: " + "; ".join(problems),
                         "see /api/v1/openapi.json for the expected shape",
                         {"problems": problems})
    return error_response(request, error)


def factory() -> FastAPI:
    """Entry point for uvicorn workers (``--factory``); settings come from the environment."""
    return create_app()
