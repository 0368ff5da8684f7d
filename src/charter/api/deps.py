"""Request-scoped access to the service, acting as the caller."""

from __future__ import annotations

from starlette.requests import Request

from charter.service import RegistryService

ACTOR_HEADER = "x-charter-actor"


def actor_of(request: Request) -> str:
    """Who the request acts as.

    The access-control layer sets ``request.state.actor`` from a verified token;
    without it (a loopback server with auth off) the client's claimed name is kept,
    marked as unverified so the audit trail never passes it off as proven.
    """
    verified = getattr(request.state, "actor", None)
    if verified:
        return verified
    claimed = request.headers.get(ACTOR_HEADER, "").strip()[:128]
    return f"{claimed} (unverified)" if claimed else "anonymous"


def registry(request: Request) -> RegistryService:
    service: RegistryService = request.app.state.service
    return service.as_actor(actor_of(request))
