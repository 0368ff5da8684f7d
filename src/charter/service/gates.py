"""Promotion gates in the service: ``check_gates`` reports, ``enforce_gates`` refuses.

``enforce_gates`` runs inside the transition's own write transaction, after the
move was planned and before it is applied, so what it checks (tags, approvals,
time in Staging) cannot change between the check and the move. An override is
an owner's (or an admin's) decision with a reason, recorded as its own
``gates_overridden`` event in the same transaction as the move.
"""

from __future__ import annotations

from datetime import datetime

from charter.domain import approvals as approval_rules
from charter.domain import events
from charter.domain.access import READ, Role
from charter.domain.compatibility import compare
from charter.domain.consumers import is_live
from charter.domain.evidence import AttestationFacts
from charter.domain.gate_report import (
    INTERFACE_GATE,
    GateReport,
    InterfaceFacts,
    ModelFacts,
    VersionFacts,
    check_override_reason,
    evaluate,
    gate_failed,
    interface_breaking,
    override_payload,
)
from charter.domain.gates import StageGates
from charter.domain.lifecycle import Stage, parse_stage
from charter.domain.signers import parse_signer
from charter.domain.values import check_reason
from charter.service.base import ServiceBase
from charter.service.versions import parse_version
from charter.store import consumers as consumer_rows
from charter.store import governance, interfaces, models, provenance, versions
from charter.store.database import WriteTx
from charter.store.driver import Conn
from charter.store.models import ModelRow
from charter.store.versions import VersionRow

OVERRIDE = "override_gates"
ACCEPT_BREAKING = "accept_breaking"


def gate_report(service: ServiceBase, conn: Conn, model: ModelRow, row: VersionRow,
                target: Stage, gates: StageGates, now: datetime,
                interface: InterfaceFacts | None = None) -> GateReport:
    if interface is None and gates.checks_interface(target):
        interface = interface_facts(conn, model, row)
    facts = VersionFacts(model.name, row.version, Stage(row.stage), row.description,
                         versions.tags_of(conn, row.id), row.stage_since,
                         parse_signer(row.signer) if row.signer else None,
                         _attestation_facts(conn, model, row) if _reads_evidence(gates)
                         else ())
    model_facts = ModelFacts(model.name, models.tags_of(conn, model.id))
    request = governance.current_request(conn, row.id, target.value) if gates.approvals else None
    approvals = approval_rules.facts(request.decisions if request is not None else None)
    return evaluate(gates, target, facts, model_facts, approvals, now,
                    service.policies.transitions, interface)


def interface_facts(conn: Conn, model: ModelRow, row: VersionRow) -> InterfaceFacts:
    """The version in Production and how ``row``'s interface differs from its."""
    live = versions.newest_in_stage(conn, model.id, Stage.PRODUCTION.value)
    if live is None or live == row.version:
        return InterfaceFacts(live, compare(None, None))
    current = interfaces.get(conn, versions.row(conn, model, live).id)
    candidate = interfaces.get(conn, row.id)
    return InterfaceFacts(live, compare(current.interface if current else None,
                                        candidate.interface if candidate else None))


def _reads_evidence(gates: StageGates) -> bool:
    return bool(gates.evidence) or any(check.evidence for check in gates.checks)


def _attestation_facts(conn: Conn, model: ModelRow, row: VersionRow
                       ) -> tuple[AttestationFacts, ...]:
    return tuple(AttestationFacts(a.sha256, a.predicate_type, a.predicate,
                                  parse_signer(a.signer) if a.signer else None)
                 for a in provenance.attestations(conn, model.name, row.version, row.id))


def enforce_gates(service: ServiceBase, tx: WriteTx, model: ModelRow, row: VersionRow,
                  target: Stage, gates: StageGates, *, override: bool, reason: str,
                  accept_breaking: str = "") -> None:
    """Refuse a move whose gates fail, unless an owner overrides them with a reason.

    The interface gate is apart: ``override`` does not pass it; an owner accepts a
    breaking change with its own reason (``accept_breaking``), audited as an
    ``interface_break_accepted`` event that names the diff and the model's consumers.
    """
    checks_interface = gates.checks_interface(target)
    if gates.empty and not checks_interface:
        return
    facts = interface_facts(tx, model, row) if checks_interface else None
    report = gate_report(service, tx, model, row, target, gates, tx.now, facts)
    if report.passed:
        return
    others = [r for r in report.failures if r.name != INTERFACE_GATE]
    breaking = len(others) < len(report.failures)
    if others and not override:
        raise gate_failed(report)
    if breaking and facts is not None:
        if not accept_breaking.strip():
            raise interface_breaking(report, facts)
        _accept_break(service, tx, model, row, facts, accept_breaking)
    if others:
        check_override_reason(reason)
        service._require(OVERRIDE, model, needed=Role.OWNER, what="override promotion gates")
        tx.record(events.NewEvent(events.GATES_OVERRIDDEN, model.name, row.version,
                                  reason=reason, payload=override_payload(report)))


def _accept_break(service: ServiceBase, tx: WriteTx, model: ModelRow, row: VersionRow,
                  facts: InterfaceFacts, reason: str) -> None:
    reason = check_reason(reason, required=True)
    service._require(ACCEPT_BREAKING, model, needed=Role.OWNER,
                     what="accept a breaking interface change")
    tx.record(events.NewEvent(
        events.INTERFACE_BREAK_ACCEPTED, model.name, row.version, reason=reason,
        payload={"production": facts.production, "diff": facts.diff.to_dict(),
                 # who serves the model (the consumers registry fills this in)
                 "consumers": consumers_of(service, tx, model)}))


def consumers_of(service: ServiceBase, tx: WriteTx, model: ModelRow) -> list[str]:
    """The live consumers of ``model`` (any URI, any version), named in a breaking
    change's event: the deployments that will receive the new interface."""
    settings = service.policies.consumers
    return sorted({r.consumer for r in consumer_rows.reports(tx, model.id, model.name)
                   if is_live(r, tx.now, settings)})


class GatesMixin(ServiceBase):
    def gates_for(self, name: str, stage: str | Stage) -> StageGates:
        """The gates configured for moving a version of ``name`` to ``stage``; per-model
        gates follow the model through renames (domain.per_model)."""
        target = stage if isinstance(stage, Stage) else parse_stage(stage)
        with self._read() as reader:
            model, _ = models.get(reader, name)
            self._require(READ, model)
            return self._gates_of(reader, model, target)

    def check_gates(self, name: str, version: int | str, stage: str) -> GateReport:
        """Every gate of moving a version to ``stage``, passed or failed and why; changes
        nothing (``charter check``)."""
        target, number = parse_stage(stage), parse_version(version)
        with self._read() as reader:
            model, via = models.get(reader, name)
            self._require(READ, model)
            row = versions.row(reader, model, number, via=via)
            return gate_report(self, reader, model, row, target,
                               self._gates_of(reader, model, target), self.clock())
