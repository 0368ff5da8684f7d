"""A version's interface, and two versions compared (docs/contracts.md, "The interface")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from starlette.responses import JSONResponse

from charter.api.v1.common import Registry, documented, ok
from charter.api.v1.schemas import InterfaceIn
from charter.web import SIGNED_IN, allow

router = APIRouter(tags=["interfaces"])

INTERFACE = "/models/{name}/versions/{version}/interface"


class InterfaceOut(BaseModel):
    name: str
    version: int
    origin: str
    interface: dict[str, Any] | None


class DiffOut(BaseModel):
    name: str
    a: int
    b: int
    interface: dict[str, Any]
    files: dict[str, Any]
    digests: dict[str, str]
    tags: dict[str, Any]
    description: dict[str, str] | None


@router.get(INTERFACE, responses=documented(InterfaceOut))
@allow(SIGNED_IN)
def get_interface(name: str, version: str, service: Registry) -> JSONResponse:
    """The version's inputs, outputs and params; `interface` is null when it declares none."""
    return ok(service.get_interface(name, version).to_dict())


@router.put(INTERFACE, responses=documented(InterfaceOut))
@allow(SIGNED_IN)
def set_interface(name: str, version: str, body: InterfaceIn, service: Registry
                  ) -> JSONResponse:
    """Declare a registered version's interface; set once (`409 interface.already_set`)."""
    return ok(service.set_interface(name, version, body.interface).to_dict())


@router.get("/models/{name}/diff", responses=documented(DiffOut))
@allow(SIGNED_IN)
def diff_versions(name: str, service: Registry,
                  a: Annotated[str, Query(description="the version compared from", examples=["3"])],
                  b: Annotated[str, Query(description="the version compared to", examples=["4"])]
                  ) -> JSONResponse:
    """What changed from version `a` to `b`: the interface (judged as if `a` were in
    Production), files by digest, tags and descriptions."""
    return ok(service.diff_versions(name, a, b).to_dict())
