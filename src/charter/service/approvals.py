"""Use cases of four-eyes approvals: request, approve, reject, list.

A request is for one version and one target stage; it counts while the version
stays in the stage it was requested from (``charter.domain.approvals``). Each
decision is an audit event, and the approvals gate reads the current request
inside the promotion's own transaction (``service.gates``).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from charter.domain import events
from charter.domain.access import READ, Role, role_for_move
from charter.domain.approvals import (
    APPROVE,
    REJECT,
    ApprovalRecord,
    Decision,
    check_decider,
    is_current,
    not_requested,
    status_of,
)
from charter.domain.lifecycle import Stage, parse_stage
from charter.domain.values import check_reason
from charter.service.convert import naive, utc
from charter.service.guard import GuardMixin
from charter.service.versions import parse_version
from charter.store import events as audit_log
from charter.store import repository as repo
from charter.store import tables
from charter.store.database import WriteTx

APPROVAL = "approval"  # the operation name in access checks and the denied-attempts log


def current_request(session: Session, row: tables.Version, target: Stage
                    ) -> tables.ApprovalRequest | None:
    """The newest request for moving ``row`` to ``target`` that is not stale."""
    found = session.execute(
        select(tables.ApprovalRequest)
        .where(tables.ApprovalRequest.version_id == row.id,
               tables.ApprovalRequest.to_stage == target.value,
               tables.ApprovalRequest.from_stage == row.stage,
               tables.ApprovalRequest.stage_since == row.stage_changed_at)
        .order_by(tables.ApprovalRequest.id.desc()).limit(1)).scalar_one_or_none()
    return found


def decisions_of(request: tables.ApprovalRequest) -> list[Decision]:
    return [Decision(d.actor, d.decision, d.comment, utc(d.decided_at))
            for d in request.decisions]


def registrant(session: Session, model: tables.Model, number: int) -> str | None:
    """Who registered the version, from its ``version_registered`` event."""
    return audit_log.actor_of(session, repo.model_keys(session, model), number,
                              events.VERSION_REGISTERED)


class ApprovalsMixin(GuardMixin):
    def request_approval(self, name: str, version: int | str, stage: str, *,
                         comment: str = "") -> ApprovalRecord:
        """Ask others to approve moving a version to ``stage``; an open request is reused."""
        target, number = parse_stage(stage), parse_version(version)
        comment = check_reason(comment, required=False)
        with self._write() as tx:
            model, _ = repo.get_model(tx.session, name)
            self._require(APPROVAL, model, needed=Role.CONTRIBUTOR, what="request approvals")
            row = repo.get_version(tx.session, model, number)
            self.policies.transitions.check(Stage(row.stage), target, name=model.name,
                                            version=number)
            open_request = current_request(tx.session, row, target)
            if open_request is not None and not any(
                    d.decision == REJECT for d in open_request.decisions):
                return self._approval_record(tx.session, model, row, open_request)
            request = tables.ApprovalRequest(
                model_id=model.id, version_id=row.id, version=number, from_stage=row.stage,
                to_stage=target.value, stage_since=row.stage_changed_at,
                requested_by=self.actor, requested_at=naive(tx.now), comment=comment)
            tx.session.add(request)
            tx.session.flush()
            tx.record(events.NewEvent(
                events.APPROVAL_REQUESTED, model.name, number, reason=comment,
                payload={"request": request.id, "from": row.stage, "to": target.value}))
            return self._approval_record(tx.session, model, row, request)

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
            model, _ = repo.get_model(tx.session, name)
            row = repo.get_version(tx.session, model, number)
            self._require(APPROVAL, model, needed=role_for_move(Stage(row.stage), target),
                          what=f"decide approvals for moves to {target}")
            subject = f"{model.name} v{number} -> {target}"
            request = current_request(tx.session, row, target)
            if request is None:
                raise not_requested(subject, f"charter request-approval {model.name} "
                                             f"{number} --to {target}")
            check_decider(self.actor, requested_by=request.requested_by,
                          registrant=registrant(tx.session, model, number),
                          not_registrant=self.policies.gates.approver_not_registrant,
                          decisions=decisions_of(request), subject=subject)
            self._record_decision(tx, model, request, decision, comment)
            return self._approval_record(tx.session, model, row, request)

    def _record_decision(self, tx: WriteTx, model: tables.Model,
                         request: tables.ApprovalRequest, decision: str, comment: str) -> None:
        request.decisions.append(tables.ApprovalDecision(
            actor=self.actor, decision=decision, comment=comment, decided_at=naive(tx.now)))
        tx.session.flush()
        approvals = sum(d.decision == APPROVE for d in request.decisions)
        action = events.APPROVAL_GRANTED if decision == APPROVE else events.APPROVAL_REJECTED
        tx.record(events.NewEvent(
            action, model.name, request.version, reason=comment,
            payload={"request": request.id, "to": request.to_stage, "approvals": approvals}))

    def list_approvals(self, name: str, version: int | str | None = None
                       ) -> list[ApprovalRecord]:
        """Every approval request of a model (or of one version), newest first."""
        number = parse_version(version) if version is not None else None
        with self._read() as session:
            model, _ = repo.get_model(session, name)
            self._require(READ, model)
            query = (select(tables.ApprovalRequest, tables.Version)
                     .join(tables.Version, tables.Version.id == tables.ApprovalRequest.version_id)
                     .where(tables.ApprovalRequest.model_id == model.id)
                     .order_by(tables.ApprovalRequest.id.desc()).limit(500))
            if number is not None:
                query = query.where(tables.ApprovalRequest.version == number)
            return [self._approval_record(session, model, row, request)
                    for request, row in session.execute(query).all()]

    def _approval_record(self, session: Session, model: tables.Model, row: tables.Version,
                         request: tables.ApprovalRequest) -> ApprovalRecord:
        decisions = decisions_of(request)
        target = Stage(request.to_stage)
        required = self._gates_of(session, model, target).approvals
        current = is_current(from_stage=request.from_stage, stage_since=request.stage_since,
                             stage=row.stage, stage_changed_at=row.stage_changed_at)
        return ApprovalRecord(
            id=request.id, name=model.name, version=request.version,
            from_stage=request.from_stage, to_stage=request.to_stage,
            requested_by=request.requested_by, requested_at=utc(request.requested_at),
            comment=request.comment,
            status=status_of(current=current, decisions=decisions, required=required),
            required=required, decisions=tuple(decisions))
