"""Request bodies (validated) and response shapes (documented only) of REST v1.

Bodies are pydantic models that refuse unknown fields, so a typo such as
``archiveExisting`` is a 400 instead of a silently ignored flag. Responses are
the records' own ``to_dict()``; the models below only describe them in the
OpenAPI document and never run on a request.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from charter.domain import error_codes as codes


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- requests -------------------------------------------------------------------------

class ModelCreate(Body):
    name: str = Field(examples=["fraud_detector"])
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict, examples=[{"team": "payments"}])
    reason: str = ""


class ModelUpdate(Body):
    description: str
    reason: str = ""


class ModelRename(Body):
    new_name: str = Field(examples=["fraud_detection_binary"])
    reason: str = ""


class Reason(Body):
    reason: str = Field(examples=["replaced by payments_risk_model"])


class TagValue(Body):
    value: str = Field(examples=["payments"])


INTERFACE_EXAMPLE = {"inputs": [{"name": "amount", "type": "double", "required": True}],
                     "outputs": [{"name": "score", "type": "double"}]}


class VersionCreate(Body):
    source: str = Field("", examples=["s3://models/fraud_detector/2024-10-08/"])
    run_id: str = ""
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict, examples=[{"algorithm": "xgboost"}])
    create_model: bool = True
    reason: str = ""
    interface: dict[str, Any] | None = Field(
        None, examples=[INTERFACE_EXAMPLE],
        description="the version's inputs, outputs and params: MLflow's signature or "
                    "Charter's form (docs/contracts.md)")
    model_id: str = Field("", description="MLflow 3's logged-model id it came from")


class InterfaceIn(Body):
    interface: dict[str, Any] = Field(examples=[INTERFACE_EXAMPLE])


class VersionUpdate(Body):
    description: str


class AliasTarget(Body):
    version: int | str = Field(examples=[3])


class Transition(Body):
    """``expect_production`` absent: no precondition; null: Production must be empty."""

    stage: str = Field(examples=["Production"])
    archive_existing: bool = False
    reason: str = ""
    expect_production: int | None = Field(None, examples=[42])
    override_gates: bool = Field(False, description="an owner moves past failing gates; "
                                                    "needs a reason, audited as an override")
    accept_breaking: str = Field("", description="an owner's reason to move a version that "
                                 "breaks the interface of the version in Production")
    force: bool = Field(False, description="an owner archives a version live consumers still "
                                           "serve; needs a reason, audited")


# ---- responses (documentation only) ----------------------------------------------------

class ErrorDetail(BaseModel):
    kind: str = Field(examples=["conflict"])
    code: str = Field(examples=[codes.STAGE_PRODUCTION_TAKEN])
    message: str
    hint: str
    details: dict[str, Any] | None = None
    request_id: str | None = Field(default=None, description="The answer's X-Request-ID: quote "
                                   "it to the operator, it finds the request's log line")


class ErrorEnvelope(BaseModel):
    error: ErrorDetail


class FileOut(BaseModel):
    path: str
    size: int
    sha256: str


class ModelOut(BaseModel):
    name: str
    description: str
    tags: dict[str, str]
    aliases: dict[str, int]
    version_count: int
    last_version: int
    stages: dict[str, list[int]]
    created_at: str
    updated_at: str
    redirects: list[str]


class ModelPage(BaseModel):
    models: list[ModelOut]
    next_page_token: str = Field(description="empty on the last page")


class VersionOut(BaseModel):
    name: str
    version: int
    stage: str
    source: str
    run_id: str
    description: str
    tags: dict[str, str]
    aliases: list[str]
    digest: str
    status: str
    created_at: str
    updated_at: str
    stage_changed_at: str
    files: list[FileOut]
    uri: str
    signer: str | None = Field(None, description="who signed its files: key:sha256:… or "
                               "certificate:<subject> (docs/provenance.md)")
    signature: str | None = Field(None, description="sha256 of its signature bundle")
    model_id: str = Field("", description="MLflow 3's logged-model id it came from, or \"\"")


class VersionList(BaseModel):
    versions: list[VersionOut]


class ResolutionOut(BaseModel):
    uri: str
    version: VersionOut
    artifact_location: str
    digest: str
    warnings: list[str]


class EventOut(BaseModel):
    seq: int
    time: str
    actor: str
    action: str
    model: str
    version: int | None
    from_stage: str | None
    to_stage: str | None
    reason: str
    correlation_id: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class EventList(BaseModel):
    events: list[EventOut]


class CheckpointVerdictOut(BaseModel):
    ok: bool
    seq: int
    problem: str


class AuditOut(BaseModel):
    ok: bool
    events_checked: int
    first_bad_seq: int | None
    problem: str
    checkpoints: list[CheckpointVerdictOut] = Field(
        default_factory=list, description="each signed checkpoint judged against the log")
    proved_through: int = Field(0, description="the highest seq a good checkpoint vouches for")
    warnings: list[str] = Field(default_factory=list)
    verified_from: int = Field(0, description="the walk started after this seq, proved by "
                               "an earlier verify (0: every event was walked)")
    verified_at: str = Field("", description="when that earlier verify proved it")


class AuditPointOut(BaseModel):
    seq: int = Field(description="the chain is proved through this seq (0: never verified)")
    time: str = Field(description="when it was proved")
    full_seq: int = Field(description="the seq the last full walk reached (0: none yet)")
    full_time: str


class FindingOut(BaseModel):
    code: str
    token: str
    message: str
    suggestion: str


class LintResult(BaseModel):
    name: str
    ok: bool
    findings: list[FindingOut]


class LintOut(BaseModel):
    results: list[LintResult]
