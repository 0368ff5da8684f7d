"""Provenance: signatures, allowed signers, held versions, attestations, checkpoints and
proofs (docs/provenance.md)::

    GET|PUT /models/{name}/versions/{version}/signature       the bundle / attach one
    GET|PATCH /models/{name}/signers                          allowed signers / edit them
    POST /models/{name}/versions/{version}/hold/release|reject  an owner's decision
    GET|POST /models/{name}/versions/{version}/attestations   list / attach
    GET /models/{name}/versions/{version}/attestations/{sha256}  the document as sent
    GET /checkpoints, GET /checkpoints/latest, POST /checkpoints  (sign now: admins)
    GET /proofs?uri=…&as_of=…                                 events + checkpoint
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from charter.api.v1.common import Registry, documented, ok
from charter.api.v1.schemas import Body, Reason, VersionOut
from charter.domain.checkpoints import SignedCheckpoint
from charter.web import SIGNED_IN, allow

router = APIRouter(tags=["provenance"])

VERSION = "/models/{name}/versions/{version}"
PEM = ("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE…\n"
       "-----END PUBLIC KEY-----\n")


class SignatureIn(Body):
    signature: str = Field(description="the OpenSSF model-signing bundle (the .sig file's text)")
    signer_key: str | None = Field(None, description="the signer's PEM public key, when the "
                                   "registry does not know it yet", examples=[PEM])
    reason: str = ""


class SignersEdit(Body):
    add: list[str] = Field(default_factory=list, description="signers (key:sha256:…, "
                           "certificate:…) or PEM public keys",
                           examples=[["key:sha256:3f2a" + "0" * 60]])
    remove: list[str] = Field(default_factory=list)
    reason: str


class AttestationIn(Body):
    document: str = Field(description="an in-toto Statement v1, a DSSE envelope or a "
                          "Sigstore bundle holding one (the file's text)")
    signer_key: str | None = Field(None, description="the PEM public key that signed the "
                                   "envelope, when the registry does not know it")


class SignerOut(BaseModel):
    signer: str
    public_key: str
    added_by: str
    added_at: str


class SignerList(BaseModel):
    signers: list[SignerOut]


class AttestationOut(BaseModel):
    name: str
    version: int
    sha256: str
    predicate_type: str
    predicate: dict[str, Any]
    signer: str | None
    size: int
    created_by: str
    created_at: str


class AttestationList(BaseModel):
    attestations: list[AttestationOut]


class CheckpointOut(BaseModel):
    format: str = Field(examples=["charter-audit-checkpoint/v1"])
    seq: int
    hash: str
    time: str
    key_id: str
    public_key: str
    signature: str


class CheckpointList(BaseModel):
    checkpoints: list[CheckpointOut]


class ProofEventOut(BaseModel):
    fields: dict[str, Any]
    prev_hash: str
    hash: str


class ProofOut(BaseModel):
    uri: str
    as_of: str
    version: int | None
    model_keys: list[str]
    events: list[ProofEventOut]
    checkpoint: CheckpointOut


def _raw(data: bytes, media_type: str = "application/json") -> Response:
    return Response(data, media_type=media_type)


@router.get(VERSION + "/signature", responses={200: {"description": "the bundle as sent",
                                                     "content": {"application/json": {}}}})
@allow(SIGNED_IN)
def get_signature(name: str, version: str, service: Registry) -> Response:
    return _raw(service.signature_bundle(name, version))


@router.put(VERSION + "/signature", responses=documented(VersionOut))
@allow(SIGNED_IN)
def sign_version(name: str, version: str, body: SignatureIn, service: Registry) -> JSONResponse:
    """Attach a signature to a version registered unsigned (once)."""
    record = service.sign_version(name, version, body.signature, signer_key=body.signer_key,
                                  reason=body.reason)
    return ok(record.to_dict())


@router.get("/models/{name}/signers", responses=documented(SignerList))
@allow(SIGNED_IN)
def signers(name: str, service: Registry) -> JSONResponse:
    return ok({"signers": [s.to_dict() for s in service.signers(name)]})


@router.patch("/models/{name}/signers", responses=documented(SignerList))
@allow(SIGNED_IN)
def edit_signers(name: str, body: SignersEdit, service: Registry) -> JSONResponse:
    """An owner adds or removes allowed signers, with a reason (audited)."""
    found = service.edit_signers(name, add=body.add, remove=body.remove, reason=body.reason)
    return ok({"signers": [s.to_dict() for s in found]})


@router.post(VERSION + "/hold/release", responses=documented(VersionOut))
@allow(SIGNED_IN)
def release_hold(name: str, version: str, body: Reason, service: Registry) -> JSONResponse:
    return ok(service.release_hold(name, version, reason=body.reason).to_dict())


@router.post(VERSION + "/hold/reject", responses=documented(VersionOut))
@allow(SIGNED_IN)
def reject_hold(name: str, version: str, body: Reason, service: Registry) -> JSONResponse:
    return ok(service.reject_hold(name, version, reason=body.reason).to_dict())


@router.post(VERSION + "/attestations", status_code=201,
             responses=documented(AttestationOut, 201, "Attached"))
@allow(SIGNED_IN)
def attest(name: str, version: str, body: AttestationIn, service: Registry) -> JSONResponse:
    record = service.attest(name, version, body.document, signer_key=body.signer_key)
    return ok(record.to_dict(), 201)


@router.get(VERSION + "/attestations", responses=documented(AttestationList))
@allow(SIGNED_IN)
def attestations(name: str, version: str, service: Registry) -> JSONResponse:
    return ok({"attestations": [a.to_dict() for a in service.attestations(name, version)]})


@router.get(VERSION + "/attestations/{sha256}",
            responses={200: {"description": "the attestation exactly as attached",
                             "content": {"application/json": {}}}})
@allow(SIGNED_IN)
def attestation_document(name: str, version: str, sha256: str, service: Registry) -> Response:
    return _raw(service.attestation_document(name, version, sha256))


def _checkpoints(found: list[SignedCheckpoint]) -> JSONResponse:
    return ok({"checkpoints": [c.to_dict() for c in found]})


@router.get("/checkpoints", responses=documented(CheckpointList))
@allow(SIGNED_IN)
def checkpoints(service: Registry,
                after: Annotated[int, Query(ge=0, description="an event seq")] = 0,
                limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> JSONResponse:
    """The signed checkpoints recorded after event ``after``, oldest first."""
    return _checkpoints(service.checkpoints(after=after, limit=limit))


@router.get("/checkpoints/latest", responses=documented(CheckpointOut))
@allow(SIGNED_IN)
def latest_checkpoint(service: Registry) -> JSONResponse:
    """The newest checkpoint: save it elsewhere, and `charter audit verify --checkpoint`
    proves later that the log up to it was not rewritten."""
    return ok(service.latest_checkpoint().to_dict())


@router.post("/checkpoints", responses=documented(CheckpointOut))
@allow(SIGNED_IN)
def sign_checkpoint(service: Registry) -> JSONResponse:
    """Sign the chain head now (admins)."""
    return ok(service.sign_checkpoint().to_dict())


@router.get("/proofs", responses=documented(ProofOut))
@allow(SIGNED_IN)
def prove(uri: Annotated[str, Query(examples=["models:/fraud_detector/Production"])],
          as_of: Annotated[datetime, Query(description="ISO 8601 time")],
          service: Registry) -> JSONResponse:
    """The events and the signed checkpoint that prove what ``uri`` pointed at ``as_of``."""
    return ok(service.prove_resolution(uri, as_of).to_dict())
