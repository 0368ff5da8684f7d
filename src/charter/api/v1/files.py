"""A version's files, and registering a version by uploading them.

Reading (docs/artifacts.md)::

    GET  /models/{name}/versions/{version}/files           the list: path, size, sha256
    GET  /models/{name}/versions/{version}/files/{path}    the bytes (Range: one range)
    HEAD /models/{name}/versions/{version}/files/{path}    the headers only
    PUT  /models/{name}/versions/{version}/files/{path}    always 409: files are immutable

Uploading: open a session, PUT each file's raw bytes (streamed into the blob store,
hashed on the way), commit with the manifest, or abort::

    POST   /models/{name}/uploads                          -> 201 {upload_id, …}
    GET    /models/{name}/uploads/{upload_id}              what was received so far
    PUT    /models/{name}/uploads/{upload_id}/files/{path} -> 201 {path, size, sha256}
    POST   /models/{name}/uploads/{upload_id}/commit       -> 201 the version
    DELETE /models/{name}/uploads/{upload_id}              -> 204

Every ``{path}`` is read from the raw URL and passes the one path rule
(``charter.domain.paths``) before anything is looked up.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from charter.api.files import expected_digest, file_response, raw_tail, receive_into
from charter.api.v1.common import NO_CONTENT, Registry, documented, no_content, ok
from charter.api.v1.schemas import Body, ErrorEnvelope, FileOut, VersionOut
from charter.domain import error_codes as codes
from charter.domain.access import REGISTER
from charter.domain.errors import OUTCOMES, Conflict
from charter.web import SIGNED_IN, allow, on_model

router = APIRouter(tags=["files"])

FILES = "/models/{name}/versions/{version}/files"
UPLOADS = "/models/{name}/uploads"
UPLOAD = UPLOADS + "/{upload_id}"


class FileList(BaseModel):
    name: str
    version: int
    digest: str = Field(description="sha256 over the sorted (path, sha256) pairs")
    files: list[FileOut]


class StoredFileOut(FileOut):
    xxh3_128: str = Field(description="XXH3-128 (hex) of the bytes received: the sender "
                                      "compares it with its file's to check the transfer")


class UploadStart(Body):
    create_model: bool = Field(True, description="create the model if it does not exist")


class UploadOut(BaseModel):
    upload_id: str
    model: str
    actor: str
    created_at: str
    files: list[FileOut]
    version: int | None = Field(description="the version made by the commit, once committed")
    wants_digest_first: bool = Field(
        description="send each file's sha256 as X-Charter-Sha256 (the store then writes it "
                    "straight to its final place)")


class ManifestEntryIn(Body):
    path: str = Field(examples=["data/model.pkl"])
    size: int = Field(examples=[1048576])
    sha256: str


class UploadCommit(Body):
    files: list[ManifestEntryIn] = Field(description="every uploaded file, as the client "
                                                     "hashed it")
    source: str = Field("", description="provenance only, e.g. runs:/<run_id>/model")
    run_id: str = ""
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    reason: str = ""
    signature: str | None = Field(None, description="an OpenSSF model-signing bundle (the "
                                  ".sig file's text) that must cover exactly these files")
    signer_key: str | None = Field(None, description="the signer's PEM public key, when the "
                                   "registry does not know it yet")
    interface: dict[str, Any] | None = Field(
        None, description="the version's interface (else an MLmodel among the files "
                          "declares it: docs/contracts.md)")
    model_id: str = Field("", description="MLflow 3's logged-model id it came from")


# Routes that write bytes or staging records into the blob store.
STORES_BYTES: dict[int | str, dict[str, Any]] = {OUTCOMES["storage_full"].http_status: {
    "model": ErrorEnvelope, "description": "No room (kind `storage_full`): the blob store's "
    "disk cannot hold the bytes; nothing was stored"}}

OCTETS: dict[int | str, dict[str, Any]] = {
    200: {"description": "The file's bytes", "content": {"application/octet-stream": {}}},
    206: {"description": "The asked byte range (Content-Range)",
          "content": {"application/octet-stream": {}}},
    416: {"description": "The range starts past the end (Content-Range: bytes */size)"},
}


# ---- reading --------------------------------------------------------------------------

@router.get(FILES, responses=documented(FileList))
@allow(SIGNED_IN)
def list_files(name: str, version: str, service: Registry) -> JSONResponse:
    """The version's files; empty for a version registered from a source URI only."""
    record = service.list_files(name, version)
    return ok({"name": record.name, "version": record.version, "digest": record.digest,
               "files": [file.to_dict() for file in record.files]})


@router.get(FILES + "/{path:path}", responses=OCTETS, response_class=Response)
@allow(SIGNED_IN)
async def download_file(name: str, version: str, path: str, request: Request,
                        service: Registry) -> Response:
    """One file as an attachment; `Range: bytes=N-M` gets one range (206). HEAD works too."""
    file = await run_in_threadpool(service.get_file, name, version, raw_tail(request, path))
    return await file_response(service, file, request)


router.add_api_route(FILES + "/{path:path}", download_file, methods=["HEAD"],
                     operation_id="head_file", responses=OCTETS, response_class=Response)


@router.put(FILES + "/{path:path}", status_code=409)
@allow(SIGNED_IN)
def overwrite_file(name: str, version: str, path: str, request: Request,
                   service: Registry) -> Response:
    """Refused: a registered version's files never change (register a new version)."""
    file = service.get_file(name, version, raw_tail(request, path))
    raise Conflict(codes.FILE_IMMUTABLE, f"{file.path} of {name} v{version} is published and "
                   "cannot be rewritten", "upload it as a new version: charter register "
                   f"{name} PATH", {"path": file.path})


# ---- uploading ------------------------------------------------------------------------

@router.post(UPLOADS, status_code=201,
             responses={**documented(UploadOut, 201, "Started"), **STORES_BYTES})
@allow(on_model(REGISTER))  # bytes are stored before any version exists: check it first
def start_upload(name: str, service: Registry, body: UploadStart | None = None
                 ) -> JSONResponse:
    """Open an upload session for the next version of `name` (the name is checked now)."""
    record = service.start_upload(name, create_model=body.create_model if body else True)
    return ok(record.to_dict(), 201)


@router.get(UPLOAD, responses=documented(UploadOut))
@allow(SIGNED_IN)
def get_upload(name: str, upload_id: str, service: Registry) -> JSONResponse:
    """What the session has received so far (resume an interrupted upload from here)."""
    return ok(service.get_upload(name, upload_id).to_dict())


@router.put(UPLOAD + "/files/{path:path}", status_code=201,
            responses={**documented(StoredFileOut, 201, "Stored and hashed"), **STORES_BYTES})
@allow(on_model(REGISTER))  # as start_upload: the bytes land before any use case runs
async def upload_file(name: str, upload_id: str, path: str, request: Request,
                      service: Registry) -> JSONResponse:
    """The raw request body is the file: streamed into the blob store and hashed on the way.

    Send `X-Charter-Sha256` to have the bytes checked against it (a mismatch stores
    nothing); a second PUT of the same path is refused with 409. The answer's
    `xxh3_128` is the XXH3-128 of the bytes received: compare it with the file's to
    know they arrived intact without computing the file's sha256 yourself.
    """
    upload = await run_in_threadpool(service.begin_file, name, upload_id,
                                     raw_tail(request, path),
                                     expected_sha256=expected_digest(request))
    file = await receive_into(request, upload)
    return ok({**file.to_dict(), "xxh3_128": upload.transit_checksum()}, 201)


@router.post(UPLOAD + "/commit", status_code=201,
             responses={**documented(VersionOut, 201, "Registered"), **STORES_BYTES})
@allow(SIGNED_IN)
def commit_upload(name: str, upload_id: str, body: UploadCommit,
                  service: Registry) -> JSONResponse:
    """Register the version: every manifest entry must match a stored file's size and sha256."""
    record = service.commit_upload(
        name, upload_id, [entry.model_dump() for entry in body.files], source=body.source,
        run_id=body.run_id, description=body.description, tags=body.tags, reason=body.reason,
        signature=body.signature, signer_key=body.signer_key, interface=body.interface,
        model_id=body.model_id)
    return ok(record.to_dict(), 201)


@router.delete(UPLOAD, status_code=204, responses=NO_CONTENT)
@allow(SIGNED_IN)
def abort_upload(name: str, upload_id: str, service: Registry) -> Response:
    """Forget an uncommitted session; `charter gc` collects its blobs."""
    service.abort_upload(name, upload_id)
    return no_content()
