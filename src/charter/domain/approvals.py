"""Four-eyes approvals: who may decide, and when an approval still counts.

A request asks for a version to move from the stage it is in to a target stage.
Others approve or reject it, each once, with a comment. An approval counts only
while the version is still where it was when approval was requested: the
request keeps the stage and the moment the version entered it, and a version
that left the stage (and perhaps came back) makes the request stale. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from charter.domain import error_codes as codes
from charter.domain.errors import Conflict, PermissionDenied
from charter.domain.gate_report import ApprovalFacts

PENDING, APPROVED, REJECTED, STALE = "pending", "approved", "rejected", "stale"
APPROVE, REJECT = "approve", "reject"


@dataclass(frozen=True)
class Decision:
    actor: str
    decision: str           # approve | reject
    comment: str
    decided_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"actor": self.actor, "decision": self.decision, "comment": self.comment,
                "decided_at": self.decided_at.isoformat()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        return cls(data["actor"], data["decision"], data.get("comment", ""),
                   datetime.fromisoformat(data["decided_at"]))


@dataclass(frozen=True)
class ApprovalRecord:
    id: int
    name: str
    version: int
    from_stage: str
    to_stage: str
    requested_by: str
    requested_at: datetime
    comment: str
    status: str             # pending | approved | rejected | stale
    required: int           # approvals the gates ask for now (0: no approvals gate)
    decisions: tuple[Decision, ...] = field(default_factory=tuple)

    @property
    def approvers(self) -> list[str]:
        return [d.actor for d in self.decisions if d.decision == APPROVE]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "version": self.version,
                "from_stage": self.from_stage, "to_stage": self.to_stage,
                "requested_by": self.requested_by,
                "requested_at": self.requested_at.isoformat(), "comment": self.comment,
                "status": self.status, "required": self.required,
                "approvals": len(self.approvers),
                "decisions": [d.to_dict() for d in self.decisions]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApprovalRecord:
        return cls(int(data["id"]), data["name"], int(data["version"]), data["from_stage"],
                   data["to_stage"], data["requested_by"],
                   datetime.fromisoformat(data["requested_at"]), data.get("comment", ""),
                   data["status"], int(data.get("required", 0)),
                   tuple(Decision.from_dict(d) for d in data.get("decisions", [])))


def is_current(*, from_stage: str, stage_since: datetime, stage: str,
               stage_changed_at: datetime) -> bool:
    """The version has not left the stage the request was made from."""
    return stage == from_stage and stage_changed_at == stage_since


def status_of(*, current: bool, decisions: Sequence[Decision], required: int) -> str:
    if not current:
        return STALE
    if any(d.decision == REJECT for d in decisions):
        return REJECTED
    approvals = sum(d.decision == APPROVE for d in decisions)
    return APPROVED if approvals >= max(required, 1) else PENDING


def facts(decisions: Sequence[Decision] | None) -> ApprovalFacts:
    """What the approvals gate sees: the current request's decisions (None: no request)."""
    if decisions is None:
        return ApprovalFacts()
    return ApprovalFacts(
        requested=True,
        approvers=tuple(d.actor for d in decisions if d.decision == APPROVE),
        rejected_by=tuple(d.actor for d in decisions if d.decision == REJECT))


def check_decider(actor: str, *, requested_by: str, registrant: str | None,
                  not_registrant: bool, decisions: Sequence[Decision], subject: str) -> None:
    """Four eyes: the decider is neither the requester nor (configurably) the registrant,
    and decides once; a rejected request takes no further decisions."""
    if actor == requested_by:
        raise PermissionDenied(
            codes.APPROVAL_SELF_APPROVAL, f"{actor} requested approval for {subject} and cannot "
            "also decide it", "ask someone else to approve or reject it (four eyes)",
            {"actor": actor})
    if not_registrant and registrant is not None and actor == registrant:
        raise PermissionDenied(
            codes.APPROVAL_REGISTRANT, f"{actor} registered {subject} and cannot approve it",
            "ask someone who did not register this version "
            "([approvals] approver_not_registrant = true)", {"actor": actor})
    if any(d.actor == actor for d in decisions):
        raise Conflict(codes.APPROVAL_ALREADY_DECIDED, f"{actor} already decided on {subject}",
                       "each person decides once; another approver is needed",
                       {"actor": actor})
    rejected = [d.actor for d in decisions if d.decision == REJECT]
    if rejected:
        raise Conflict(codes.APPROVAL_REJECTED, f"The request for {subject} was rejected by "
                       f"{', '.join(rejected)}", "request approval again once the reason "
                       "for the rejection is addressed", {"rejected_by": rejected})


def not_requested(subject: str, command: str) -> Conflict:
    return Conflict(codes.APPROVAL_NOT_REQUESTED, f"No approval is pending for {subject}",
                    f"request it first: `{command}` (a request goes stale when the version "
                    "leaves its stage)")
