"""Promotion gates in the service: ``check_gates`` reports, ``enforce_gates`` refuses.

``enforce_gates`` runs inside the transition's own write transaction, after the
move was planned and before it is applied, so what it checks (tags, approvals,
time in Staging) cannot change between the check and the move. An override is
an owner's (or an admin's) decision with a reason, recorded as its own
``gates_overridden`` event in the same transaction as the move.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from charter.domain import approvals as approval_rules
from charter.domain import events
from charter.domain.access import READ, Role
from charter.domain.gate_report import (
    GateReport,
    ModelFacts,
    VersionFacts,
    check_override_reason,
    evaluate,
    gate_failed,
    override_payload,
)
from charter.domain.gates import StageGates
from charter.domain.lifecycle import Stage, parse_stage
from charter.service.approvals import current_request, decisions_of
from charter.service.convert import utc
from charter.service.guard import GuardMixin
from charter.service.versions import parse_version
from charter.store import repository as repo
from charter.store import tables
from charter.store.database import WriteTx

OVERRIDE = "override_gates"


def gate_report(service: GuardMixin, session: Session, model: tables.Model,
                row: tables.Version, target: Stage, gates: StageGates,
                now: datetime) -> GateReport:
    facts = VersionFacts(model.name, row.version, Stage(row.stage), row.description,
                         {t.key: t.value for t in row.tags}, utc(row.stage_changed_at))
    model_facts = ModelFacts(model.name, {t.key: t.value for t in model.tags})
    request = current_request(session, row, target) if gates.approvals else None
    approvals = approval_rules.facts(decisions_of(request) if request is not None else None)
    return evaluate(gates, target, facts, model_facts, approvals, now,
                    service.policies.transitions)


def enforce_gates(service: GuardMixin, tx: WriteTx, model: tables.Model, row: tables.Version,
                  target: Stage, gates: StageGates, *, override: bool, reason: str) -> None:
    """Refuse a move whose gates fail, unless an owner overrides them with a reason."""
    if gates.empty:
        return
    report = gate_report(service, tx.session, model, row, target, gates, tx.now)
    if report.passed:
        return
    if not override:
        raise gate_failed(report)
    check_override_reason(reason)
    service._require(OVERRIDE, model, needed=Role.OWNER, what="override promotion gates")
    tx.record(events.NewEvent(events.GATES_OVERRIDDEN, model.name, row.version,
                              reason=reason, payload=override_payload(report)))


class GatesMixin(GuardMixin):
    def gates_for(self, name: str, stage: str | Stage) -> StageGates:
        """The gates configured for moving a version of ``name`` to ``stage``; per-model
        gates follow the model through renames (domain.per_model)."""
        target = stage if isinstance(stage, Stage) else parse_stage(stage)
        with self._read() as session:
            model, _ = repo.get_model(session, name)
            self._require(READ, model)
            return self._gates_of(session, model, target)

    def check_gates(self, name: str, version: int | str, stage: str) -> GateReport:
        """Every gate of moving a version to ``stage``, passed or failed and why; changes
        nothing (``charter check``)."""
        target, number = parse_stage(stage), parse_version(version)
        with self._read() as session:
            model, _ = repo.get_model(session, name)
            self._require(READ, model)
            row = repo.get_version(session, model, number)
            return gate_report(self, session, model, row, target,
                               self._gates_of(session, model, target), self.clock())
