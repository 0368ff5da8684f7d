"""Unknown paths and wrong methods under /api/v1 answer the one error envelope too.

Starlette would answer ``{"detail": "Not Found"}`` for both; a client that gets a
URL wrong deserves the same body as every other refusal. This router is included
last, so it only sees requests no v1 route took. New v1 routes belong in this
package (a router included after this one under /api/v1 would be shadowed).
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse

from charter.api.errors import native_body
from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput, NotFound, http_status
from charter.web import SIGNED_IN, allow

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def fallback_router(subjects: Iterable[APIRouter]) -> APIRouter:
    routes = [route for subject in subjects for route in subject.routes]
    router = APIRouter()

    @router.api_route("/{rest:path}", methods=METHODS, include_in_schema=False)
    @allow(SIGNED_IN)  # an unknown path answers 401 before 404: no route map for strangers
    async def no_such_route(rest: str, request: Request) -> JSONResponse:
        path = "/" + rest
        allowed = sorted({m for r in routes if r.path_regex.match(path)  # type: ignore[attr-defined]
                          for m in r.methods})  # type: ignore[attr-defined]
        if allowed:
            error = InvalidInput(codes.METHOD_NOT_ALLOWED,
                                 f"{request.method} is not allowed on {request.url.path}",
                                 f"use one of: {', '.join(allowed)}", {"allowed": allowed})
            return JSONResponse(native_body(error), status_code=http_status(error),
                                headers={"Allow": ", ".join(allowed)})
        missing = NotFound(codes.ROUTE_NOT_FOUND, f"There is no route {request.url.path}",
                           "see /api/v1/openapi.json (or docs/rest.md) for the routes")
        return JSONResponse(native_body(missing), status_code=http_status(missing))

    return router
