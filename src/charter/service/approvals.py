"""Use cases of four-eyes approvals: request, approve, reject, list.

A request is for one version and one target stage; it counts while the version
stays in the stage it was requested from (``charter.domain.approvals``). Each
decision is an audit event, and the approvals gate reads the current request
inside the promotion's own transaction (``service.gates``).
"""

from __future__ import annotations

from datetime import datetime

from charter.domain import events
from charter.domain.access import READ, Role, role_for_move
from charter.domain.approvals import (
    APPROVE,
    REJECT,
    ApprovalRecord,
    check_decider,
    is_current,
    not_requested,
    status_of,
)
from charter.domain.lifecycle import Stage, parse_stage
from charter.domain.values import check_reason
from charter.service.base import ServiceBase
from charter.service.versions import parse_version
from charter.store import events as audit_log
from charter.store import governance, models, versions
from charter.store.driver import Conn
from charter.store.models import ModelRow

MAX_LISTED = 500

APPROVAL = "approval"  # the operation name in access checks and the denied-attempts log


class ApprovalsMixin(ServiceBase):
    def request_approval(self, name: str, version: int | str, stage: str, *,
                         comment: str = "") -> ApprovalRecord:
        """Ask others to approve moving a version to ``stage``; an open request is reused."""
        target, number = parse_stage(stage), parse_version(version)
        comment = check_reason(comment, required=False)
        with self._write() as tx:
            model, via = models.get(tx, name)
            self._require(APPROVAL, model, needed=Role.CONTRIBUTOR, what="request approvals")
            row = versions.row(tx, model, number, via=via)
            number = row.version  # a folded former name's number, mapped
            self.policies.transitions.check(Stage(row.stage), target, name=model.name,
                                            version=number)
            request = governance.current_request(tx, row.id, target.value)
            if request is None or any(d.decision == REJECT for d in request.decisions):
                request = governance.insert_request(tx, row, target.value,
                                                    requested_by=self.actor, comment=comment,
                                                    now=tx.now)
                tx.record(events.NewEvent(
                    events.APPROVAL_REQUESTED, model.name, number, reason=comment,
                    payload={"request": request.id, "from": row.stage, "to": target.value}))
            return self._approval_record(tx, model, row.stage, row.stage_since, request)

    def approve(self, name: str, version: int | str, stage: str, *,
                comment: str = "") -> ApprovalRecord:
        """Approve the pending request to move a version to ``stage`` (not your own)."""
        return self._decide(name, version, stage, APPROVE,
                            check_reason(comment, required=False))

    def reject(self, name: str, version: int | str, stage: str, *,
               comment: str) -> ApprovalRecord:
        """Reject the pending request; a comment saying why is required."""
        return self._decide(name, version, stage, REJECT, check_reason(comment, required=True))

    def _decide(self, name: str, version: int | str, stage: str, decision: str,
                comment: str) -> ApprovalRecord:
        target, number = parse_stage(stage), parse_version(version)
        with self._write() as tx:
            model, via = models.get(tx, name)
            # a model hidden from the caller is refused before its versions are read: a
            # missing version's refusal would tell that the model is there
            self._require(APPROVAL, model, needed=Role.READER)
            row = versions.row(tx, model, number, via=via)
            number = row.version  # the number it became
            self._require(APPROVAL, model, needed=role_for_move(Stage(row.stage), target),
                          what=f"decide approvals for moves to {target}")
            subject = f"{model.name} v{number} -> {target}"
            request = governance.current_request(tx, row.id, target.value)
            if request is None:
                raise not_requested(subject, f"charter request-approval {model.name} "
                                             f"{number} --to {target}")
            registrant = audit_log.actor_of(tx, models.keys_of(tx, model), number,
                                            events.VERSION_REGISTERED)
            check_decider(self.actor, requested_by=request.requested_by, registrant=registrant,
                          not_registrant=self.policies.gates.approver_not_registrant,
                          decisions=request.decisions, subject=subject)
            request = governance.add_decision(tx, request, self.actor, decision, comment, tx.now)
            approvals = sum(d.decision == APPROVE for d in request.decisions)
            action = events.APPROVAL_GRANTED if decision == APPROVE else events.APPROVAL_REJECTED
            tx.record(events.NewEvent(
                action, model.name, request.version, reason=comment,
                payload={"request": request.id, "to": request.to_stage,
                         "approvals": approvals}))
            return self._approval_record(tx, model, row.stage, row.stage_since, request)

    def list_approvals(self, name: str, version: int | str | None = None
                       ) -> list[ApprovalRecord]:
        """Every approval request of a model (or of one version), newest first."""
        number = parse_version(version) if version is not None else None
        with self._read() as reader:
            model, via = models.get(reader, name)
            self._require(READ, model)
            if number is not None and via is not None:  # a folded former name's number
                number = versions.former_number(reader, model, via, number)
            return [self._approval_record(reader, model, found.stage, found.stage_since,
                                          found.request)
                    for found in governance.requests_of(reader, model.id, version=number,
                                                        limit=MAX_LISTED)]

    def _approval_record(self, conn: Conn, model: ModelRow, stage: str, stage_since: datetime,
                         request: governance.Request) -> ApprovalRecord:
        """The request as it stands for a version now in ``stage`` since ``stage_since``."""
        target = Stage(request.to_stage)
        required = self._gates_of(conn, model, target).approvals
        current = is_current(from_stage=request.from_stage, stage_since=request.stage_since,
                             stage=stage, stage_changed_at=stage_since)
        return ApprovalRecord(
            id=request.id, name=model.name, version=request.version,
            from_stage=request.from_stage, to_stage=request.to_stage,
            requested_by=request.requested_by, requested_at=request.requested_at,
            comment=request.comment,
            status=status_of(current=current, decisions=request.decisions, required=required),
            required=required, decisions=request.decisions)
