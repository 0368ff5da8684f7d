"""Gates, approvals and retention: check a move, ask for and give approvals, purge.

Gates are enforced by the transition route itself (a failing move is a 409
``gate.failed`` whose details carry the report); ``/gates`` only reports.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from charter.api.v1.common import Registry, documented, ok
from charter.api.v1.schemas import Body
from charter.web import SIGNED_IN, allow

router = APIRouter(tags=["governance"])

VERSION = "/models/{name}/versions/{version}"


# ---- bodies -----------------------------------------------------------------------------

class ApprovalAsk(Body):
    stage: str = Field(examples=["Production"], description="the stage the move is to")
    comment: str = ""


class ApprovalDecisionIn(Body):
    stage: str = Field(examples=["Production"])
    comment: str = Field("", examples=["shadow metrics look good"])


class RejectionIn(Body):
    stage: str = Field(examples=["Production"])
    comment: str = Field(examples=["recall dropped on the October holdout"])


class RetentionRun(Body):
    apply: bool = Field(False, description="false (the default) only lists what would go")
    name: str | None = Field(None, description="one model; all models when absent")


# ---- responses (documentation only) --------------------------------------------------------

class GateResultOut(BaseModel):
    name: str = Field(examples=["check:val_auc >= 0.85"])
    passed: bool
    detail: str = Field(examples=["val_auc is 0.81; needs >= 0.85"])
    fix: str


class GateReportOut(BaseModel):
    name: str
    version: int
    from_stage: str
    to_stage: str
    passed: bool
    results: list[GateResultOut]


class DecisionOut(BaseModel):
    actor: str
    decision: str = Field(examples=["approve"])
    comment: str
    decided_at: str


class ApprovalOut(BaseModel):
    id: int
    name: str
    version: int
    from_stage: str
    to_stage: str
    requested_by: str
    requested_at: str
    comment: str
    status: str = Field(examples=["pending"], description="pending | approved | rejected | stale")
    required: int
    approvals: int
    decisions: list[DecisionOut]


class ApprovalList(BaseModel):
    approvals: list[ApprovalOut]


class RetentionDecisionOut(BaseModel):
    name: str
    version: int
    purge: bool
    reason: str
    archived_at: str | None


class RetentionOut(BaseModel):
    applied: bool
    decisions: list[RetentionDecisionOut]
    purge_count: int
    blobs_removed: int


# ---- routes -----------------------------------------------------------------------------

@router.get(VERSION + "/gates", responses=documented(GateReportOut))
@allow(SIGNED_IN)
def check_gates(name: str, version: str, service: Registry,
                stage: Annotated[str, Query(examples=["Production"],
                                            description="the target stage")]) -> JSONResponse:
    """Every gate of moving the version to ``stage``: passed or failed, and why. Changes nothing."""
    return ok(service.check_gates(name, version, stage).to_dict())


@router.get("/models/{name}/approvals", responses=documented(ApprovalList))
@allow(SIGNED_IN)
def list_approvals(name: str, service: Registry,
                   version: Annotated[str | None, Query(description="one version")] = None
                   ) -> JSONResponse:
    records = service.list_approvals(name, version)
    return ok({"approvals": [r.to_dict() for r in records]})


@router.post(VERSION + "/approvals", status_code=201,
             responses=documented(ApprovalOut, 201, "Requested (or the open request)"))
@allow(SIGNED_IN)
def request_approval(name: str, version: str, body: ApprovalAsk,
                     service: Registry) -> JSONResponse:
    """Ask others to approve moving the version to ``stage``."""
    record = service.request_approval(name, version, body.stage, comment=body.comment)
    return ok(record.to_dict(), 201)


@router.post(VERSION + "/approvals/approve", responses=documented(ApprovalOut))
@allow(SIGNED_IN)
def approve(name: str, version: str, body: ApprovalDecisionIn, service: Registry
            ) -> JSONResponse:
    """Approve the pending request; the requester (and the registrant) may not."""
    return ok(service.approve(name, version, body.stage, comment=body.comment).to_dict())


@router.post(VERSION + "/approvals/reject", responses=documented(ApprovalOut))
@allow(SIGNED_IN)
def reject(name: str, version: str, body: RejectionIn, service: Registry) -> JSONResponse:
    """Reject the pending request, saying why."""
    return ok(service.reject(name, version, body.stage, comment=body.comment).to_dict())


@router.get("/retention", responses=documented(RetentionOut))
@allow(SIGNED_IN)
def retention_plan(service: Registry,
                   name: Annotated[str | None, Query(description="one model")] = None
                   ) -> JSONResponse:
    """What the retention policy would purge, and why every other Archived version stays."""
    return ok(service.retention(name=name).to_dict())


@router.post("/retention", responses=documented(RetentionOut))
@allow(SIGNED_IN)
def retention_run(body: RetentionRun, service: Registry) -> JSONResponse:
    """Run the retention policy: a dry run unless ``apply`` is true (admins only)."""
    report: Any = service.retention(apply=body.apply, name=body.name)
    return ok(report.to_dict())
