"""Versions of a model: register, list, read, describe, tag, alias, delete.

``{version}`` is the number (``3``) or its ``v`` form (``v3``), as everywhere else.
"""

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
    AliasTarget,
    Reason,
    TagValue,
    VersionCreate,
    VersionList,
    VersionOut,
    VersionUpdate,
)
from charter.web import SIGNED_IN, allow

router = APIRouter(tags=["versions"])

VERSION = "/models/{name}/versions/{version}"


@router.post("/models/{name}/versions", status_code=201,
             responses=documented(VersionOut, 201, "Registered"))
@allow(SIGNED_IN)
def register(name: str, body: VersionCreate, service: Registry) -> JSONResponse:
    """Register the next version from a source URI (files: POST …/uploads, docs/artifacts.md)."""
    record = service.register(name, body.source, run_id=body.run_id,
                              description=body.description, tags=body.tags,
                              create_model=body.create_model, reason=body.reason,
                              interface=body.interface, model_id=body.model_id)
    return ok(record.to_dict(), 201)


@router.get("/models/{name}/versions", responses=documented(VersionList))
@allow(SIGNED_IN)
def list_versions(name: str, service: Registry,
                  stage: Annotated[str | None, Query(description="only this stage")] = None
                  ) -> JSONResponse:
    versions = service.list_versions(name, stage=stage)
    return ok({"versions": [v.to_dict() for v in versions]})


@router.get(VERSION, responses=documented(VersionOut))
@allow(SIGNED_IN)
def get_version(name: str, version: str, service: Registry) -> JSONResponse:
    return ok(service.get_version(name, version).to_dict())


@router.patch(VERSION, responses=documented(VersionOut))
@allow(SIGNED_IN)
def update_version(name: str, version: str, body: VersionUpdate,
                   service: Registry) -> JSONResponse:
    return ok(service.update_version(name, version, description=body.description).to_dict())


@router.delete(VERSION, status_code=204, responses=NO_CONTENT)
@allow(SIGNED_IN)
def delete_version(name: str, version: str, service: Registry, body: Reason | None = None,
                   reason: ReasonQuery = None,
                   force: Annotated[bool, Query(
                       description="an owner deletes a version live consumers still serve "
                                   "(audited)")] = False) -> Response:
    service.delete_version(name, version, reason=pick_reason(body, reason), force=force)
    return no_content()


@router.put(VERSION + "/tags/{key:path}", status_code=204, responses=NO_CONTENT)
@allow(SIGNED_IN)
def set_version_tag(name: str, version: str, key: str, body: TagValue,
                    service: Registry) -> Response:
    service.set_version_tag(name, version, key, body.value)
    return no_content()


@router.delete(VERSION + "/tags/{key:path}", status_code=204, responses=NO_CONTENT)
@allow(SIGNED_IN)
def delete_version_tag(name: str, version: str, key: str, service: Registry) -> Response:
    service.delete_version_tag(name, version, key)
    return no_content()


@router.put("/models/{name}/aliases/{alias}", status_code=204, responses=NO_CONTENT)
@allow(SIGNED_IN)
def set_alias(name: str, alias: str, body: AliasTarget, service: Registry) -> Response:
    service.set_alias(name, alias, body.version)
    return no_content()


@router.get("/models/{name}/aliases/{alias}", responses=documented(VersionOut))
@allow(SIGNED_IN)
def get_version_by_alias(name: str, alias: str, service: Registry) -> JSONResponse:
    return ok(service.get_version_by_alias(name, alias).to_dict())


@router.delete("/models/{name}/aliases/{alias}", status_code=204, responses=NO_CONTENT)
@allow(SIGNED_IN)
def delete_alias(name: str, alias: str, service: Registry) -> Response:
    service.delete_alias(name, alias)
    return no_content()
