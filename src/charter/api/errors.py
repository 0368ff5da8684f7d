"""The one error funnel: a CharterError's kind decides the status and the body.

Native routes answer ``{"error": {"code", "message", "hint"}}``; MLflow routes
answer MLflow's ``{"error_code", "message"}`` with the hint folded into the
message, because MLflow's body has no field for it. The statuses and MLflow's codes
are the error catalogue's (``charter.domain.errors.OUTCOMES``). Never a 5xx for a
client error: the MLflow client retries 5xx for minutes.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from charter.domain import error_codes as codes
from charter.domain.errors import CharterError, InvalidInput, NotFound, http_status, outcome

log = logging.getLogger("charter.api")

MLFLOW_PREFIX = "/api/2.0/mlflow/"
API_PREFIXES = ("/api/", "/ajax-api/")  # REST v1, the MLflow surface and its artifacts


def is_api_path(path: str) -> bool:
    """Whether an API client (not a browser on a page) asked for ``path``."""
    return path.startswith(API_PREFIXES)


def is_mlflow_path(path: str) -> bool:
    return path.startswith((MLFLOW_PREFIX, "/ajax-api/2.0/mlflow/",
                            "/api/2.0/mlflow-artifacts/"))


def native_body(error: CharterError) -> dict[str, Any]:
    # "kind" lets the remote client rebuild the same error class (409 is exists or conflict).
    return {"error": {"kind": error.kind, **error.to_dict()}}


def mlflow_body(error: CharterError) -> dict[str, Any]:
    message = f"{error.message}; {error.hint}" if error.hint else error.message
    return {"error_code": outcome(error).mlflow_code, "message": message,
            "charter_code": error.code}


class ErrorJSON(JSONResponse):
    """An error body that can always be encoded: a value a refusal quotes may hold text
    UTF-8 cannot carry (a lone surrogate); it is replaced rather than failing the answer."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "replace")


# A 503 (the database unreachable for a moment, ...) tells the client when to try again.
RETRY_AFTER_S = "1"


def mlflow_error_response(error: CharterError) -> JSONResponse:
    return ErrorJSON(mlflow_body(error), status_code=outcome(error).mlflow_status)


def error_response(request: Request, error: CharterError) -> JSONResponse:
    # the scope's path: building request.url costs ~5 µs a refusal, its prefix is the same
    if is_mlflow_path(request.scope["path"]):
        response = mlflow_error_response(error)
    else:
        response = ErrorJSON(native_body(error), status_code=http_status(error))
    if response.status_code == 503:
        response.headers["Retry-After"] = RETRY_AFTER_S
    return response


async def charter_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CharterError)
    return error_response(request, exc)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (a path no route matches, a body it cannot parse) in the
    API's error shape; the web UI keeps Starlette's answer."""
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if not (path == "/api/v1" or path.startswith("/api/v1/") or is_mlflow_path(path)):
        return await http_exception_handler(request, exc)
    error: CharterError
    if exc.status_code == 404:
        error = NotFound(codes.ROUTE_NOT_FOUND, f"There is no route {path}",
                         "see /api/v1/openapi.json (or docs/rest.md) for the routes")
    else:
        error = InvalidInput(codes.REQUEST_INVALID, f"The request was refused: {exc.detail}",
                             "see /api/v1/openapi.json for the expected shape")
    response = error_response(request, error)
    response.status_code = exc.status_code if 400 <= exc.status_code < 500 else 400
    response.headers.update(exc.headers or {})
    return response


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    """FastAPI's refusal of a body or parameter that does not match a v1 route's models."""
    assert isinstance(exc, RequestValidationError)
    problems = [f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}"
                for e in exc.errors()]
    error = InvalidInput(codes.REQUEST_INVALID,
                         "The request is malformed: " + "; ".join(problems),
                         "see /api/v1/openapi.json for the expected shape",
                         {"problems": problems})
    return error_response(request, error)


async def client_gone_handler(request: Request, exc: Exception) -> Response:
    """A client that closed its connection mid-request: nobody reads the answer, and it is
    not a server error (what it had sent is dropped: an upload stores nothing)."""
    log.info("client left during %s %s", request.method, request.url.path)
    return Response(status_code=400)


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    error = CharterError(codes.INTERNAL, "The server failed to handle this request",
                         "this is a bug in Charter; the server log has the details")
    return error_response(request, error)
