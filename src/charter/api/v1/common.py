"""What every v1 handler shares: the acting registry, cheap JSON answers, documented errors.

Handlers are thin: parse, call the service, answer ``record.to_dict()``. They
return a ``JSONResponse`` themselves so FastAPI neither validates nor re-encodes
the answer; the shapes are documented through ``responses=`` instead.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Query
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from charter.api.v1.schemas import ErrorEnvelope, Reason
from charter.domain.errors import OUTCOMES
from charter.registry import ServerRegistry
from charter.web import registry


async def acting_registry(
    request: Request,
    x_charter_actor: Annotated[str | None, Header(
        description="who the caller is (recorded in the audit trail, marked unverified "
                    "unless a token proves it)")] = None,
) -> ServerRegistry:
    # async on purpose: a trivial dependency should not cost a thread-pool hop.
    return registry(request)


Registry = Annotated[ServerRegistry, Depends(acting_registry)]

ReasonQuery = Annotated[str | None, Query(
    description="why; required on deletes (or send {\"reason\": …} as the JSON body)")]


def pick_reason(body: Reason | None, query: str | None) -> str:
    """Deletes take their required reason from the JSON body or from ``?reason=``."""
    return body.reason if body is not None else (query or "")

_ERROR_STATUSES = {
    400: "Invalid input: a malformed request or a broken value rule",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    409: "Exists or conflict: the current state refuses it",
    503: "Unavailable: the registry cannot do this until its operator acts (e.g. installs "
         "charter-registry[signing])",
}


def error_responses() -> dict[int | str, dict[str, Any]]:
    """Every v1 route documents the one error envelope; "4XX" replaces FastAPI's 422.
    Which kinds answer each status is the error catalogue's."""
    documented: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorEnvelope, "description": f"{text} (kind {_kinds(status)})"}
        for status, text in _ERROR_STATUSES.items()
    }
    documented["4XX"] = {"model": ErrorEnvelope, "description": "Any other client error"}
    return documented


def _kinds(status: int) -> str:
    return " / ".join(f"`{kind}`" for kind, answer in OUTCOMES.items()
                      if answer.http_status == status)


def documented(model: type, status: int = 200, description: str = "OK"
               ) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": model, "description": description}}


def ok(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)


def no_content() -> Response:
    return Response(status_code=204)


NO_CONTENT: dict[int | str, dict[str, Any]] = {204: {"description": "Done; no body"}}
