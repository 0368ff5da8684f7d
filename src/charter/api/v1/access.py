"""Access control over REST: who am I, my tokens, and the grants on a model or the registry.

Users are created on the server's machine (``charter user create``); everything
else here works with a token. The service decides who may do what: your own
tokens are yours, an admin's are everyone's; grants on a model are its owner's,
registry-wide grants an admin's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from charter.api.v1.common import (
    NO_CONTENT,
    ReasonQuery,
    Registry,
    documented,
    no_content,
    ok,
    pick_reason,
)
from charter.api.v1.schemas import Body, Reason
from charter.domain.access import EVERY_MODEL
from charter.web import SIGNED_IN, allow

router = APIRouter(tags=["access"])


class TokenCreate(Body):
    user: str | None = Field(None, description="whose token; yourself when absent "
                                               "(others: admins only)")
    expires: str | None = Field(None, examples=["30d"],
                                description="lifetime: 90m, 12h, 30d, 2w; none or 'never'")
    note: str = Field("", examples=["CI deploy job"])


class GrantBody(Body):
    role: str = Field(examples=["maintainer"],
                      description="reader, contributor, maintainer or owner")
    reason: str = ""


class WhoAmIOut(BaseModel):
    name: str
    admin: bool
    local: bool
    registry_role: str | None
    models: dict[str, str]


class TokenOut(BaseModel):
    id: int
    user: str
    prefix: str
    note: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None


class TokenIssued(TokenOut):
    token: str = Field(description="the secret: shown in this answer only, never again")


class TokenList(BaseModel):
    tokens: list[TokenOut]


class GrantOut(BaseModel):
    model: str
    user: str
    role: str
    created_at: str


class GrantList(BaseModel):
    grants: list[GrantOut]


@router.get("/whoami", responses=documented(WhoAmIOut))
@allow(SIGNED_IN)
def whoami(service: Registry) -> JSONResponse:
    """The caller: its name, whether it is an admin, its registry-wide and per-model roles."""
    return ok(service.whoami())


@router.get("/tokens", responses=documented(TokenList))
@allow(SIGNED_IN)
def list_tokens(service: Registry, user: Annotated[str | None, Query(
        description="whose tokens (admins only); yours when absent")] = None) -> JSONResponse:
    return ok({"tokens": [t.to_dict() for t in service.list_tokens(user)]})


@router.post("/tokens", status_code=201, responses=documented(TokenIssued, 201, "Created"))
@allow(SIGNED_IN)
def create_token(body: TokenCreate, service: Registry) -> JSONResponse:
    """A new token; the answer is the only place its secret ever appears."""
    issued = service.create_token(body.user, expires=body.expires, note=body.note)
    return ok(issued.to_dict(), 201)


@router.delete("/tokens/{token_id}", responses=documented(TokenOut))
@allow(SIGNED_IN)
def revoke_token(token_id: str, service: Registry) -> JSONResponse:
    return ok(service.revoke_token(token_id).to_dict())


@router.get("/grants", responses=documented(GrantList))
@allow(SIGNED_IN)
def list_registry_grants(service: Registry) -> JSONResponse:
    """Registry-wide grants (a role on every model)."""
    return ok({"grants": [g.to_dict() for g in service.list_grants(EVERY_MODEL)]})


@router.put("/grants/{user}", responses=documented(GrantOut))
@allow(SIGNED_IN)
def grant_registry_role(user: str, body: GrantBody, service: Registry) -> JSONResponse:
    """Give ``user`` a role on every model (admins only)."""
    return ok(service.grant(EVERY_MODEL, user, body.role, reason=body.reason).to_dict())


@router.delete("/grants/{user}", status_code=204, responses=NO_CONTENT)
@allow(SIGNED_IN)
def revoke_registry_role(user: str, service: Registry, body: Reason | None = None,
                         reason: ReasonQuery = None) -> Response:
    service.revoke(EVERY_MODEL, user, reason=pick_reason(body, reason))
    return no_content()


@router.get("/models/{name}/grants", responses=documented(GrantList))
@allow(SIGNED_IN)
def list_model_grants(name: str, service: Registry) -> JSONResponse:
    return ok({"grants": [g.to_dict() for g in service.list_grants(name)]})


@router.put("/models/{name}/grants/{user}", responses=documented(GrantOut))
@allow(SIGNED_IN)
def grant_model_role(name: str, user: str, body: GrantBody, service: Registry
                     ) -> JSONResponse:
    """Give ``user`` a role on the model (its owners and admins only); an audit event."""
    return ok(service.grant(name, user, body.role, reason=body.reason).to_dict())


@router.delete("/models/{name}/grants/{user}", status_code=204, responses=NO_CONTENT)
@allow(SIGNED_IN)
def revoke_model_role(name: str, user: str, service: Registry, body: Reason | None = None,
                      reason: ReasonQuery = None) -> Response:
    service.revoke(name, user, reason=pick_reason(body, reason))
    return no_content()
