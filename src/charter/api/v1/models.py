"""Registered models: create, list, read, describe, rename, tag, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
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
from charter.api.v1.schemas import (
    ModelCreate,
    ModelOut,
    ModelPage,
    ModelRename,
    ModelUpdate,
    Reason,
    TagValue,
)
from charter.web import SIGNED_IN, allow

router = APIRouter(tags=["models"])

@router.post("/models", status_code=201, responses=documented(ModelOut, 201, "Created"))
@allow(SIGNED_IN)
def create_model(body: ModelCreate, service: Registry) -> JSONResponse:
    record = service.create_model(body.name, description=body.description, tags=body.tags,
                                  reason=body.reason)
    return ok(record.to_dict(), 201)


@router.get("/models", responses=documented(ModelPage))
@allow(SIGNED_IN)
def list_models(service: Registry, name_like: str = "", tag: str = "", stage: str = "",
                max_results: int = 100, page_token: str = "") -> JSONResponse:
    page = service.list_models(name_like=name_like, tag=tag, stage=stage,
                               max_results=max_results, page_token=page_token)
    return ok({"models": [m.to_dict() for m in page.items], "next_page_token": page.next_token})


@router.get("/models/{name}", responses=documented(ModelOut))
@allow(SIGNED_IN)
def get_model(name: str, service: Registry) -> JSONResponse:
    return ok(service.get_model(name).to_dict())


@router.patch("/models/{name}", responses=documented(ModelOut))
@allow(SIGNED_IN)
def update_model(name: str, body: ModelUpdate, service: Registry) -> JSONResponse:
    record = service.update_model(name, description=body.description, reason=body.reason)
    return ok(record.to_dict())


@router.delete("/models/{name}", status_code=204, responses=NO_CONTENT)
@allow(SIGNED_IN)
def delete_model(name: str, service: Registry, body: Reason | None = None,
                 reason: ReasonQuery = None,
                 force: Annotated[bool, Query(
                     description="an owner deletes a model live consumers still serve "
                                 "(audited)")] = False) -> Response:
    service.delete_model(name, reason=pick_reason(body, reason), force=force)
    return no_content()


@router.post("/models/{name}/rename", responses=documented(ModelOut))
@allow(SIGNED_IN)
def rename_model(name: str, body: ModelRename, service: Registry) -> JSONResponse:
    return ok(service.rename_model(name, body.new_name, reason=body.reason).to_dict())


@router.put("/models/{name}/tags/{key:path}", status_code=204, responses=NO_CONTENT)
@allow(SIGNED_IN)
def set_model_tag(name: str, key: str, body: TagValue, service: Registry) -> Response:
    service.set_model_tag(name, key, body.value)
    return no_content()


@router.delete("/models/{name}/tags/{key:path}", status_code=204, responses=NO_CONTENT)
@allow(SIGNED_IN)
def delete_model_tag(name: str, key: str, service: Registry) -> Response:
    service.delete_model_tag(name, key)
    return no_content()
