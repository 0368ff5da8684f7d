"""What the version page shows of governance: for every move its lifecycle allows that
has gates, the same report ``charter check`` prints, with the approval request that
counts for it (the forms that act on them are ``governance.py``'s)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from charter.domain.approvals import APPROVED, PENDING, ApprovalRecord
from charter.domain.gate_report import GateReport, GateResult
from charter.domain.lifecycle import Stage
from charter.domain.records import VersionRecord
from charter.registry import ServerRegistry


@dataclass(frozen=True)
class GateView:
    report: GateReport
    checks: list[GateResult]                # the gates, without the "transition" line
    needs_approval: bool
    request: ApprovalRecord | None          # the open request for this move, if any


def version_governance(service: ServerRegistry, record: VersionRecord) -> dict[str, Any]:
    """The gate reports of the moves that have gates, and the version's approval requests."""
    gates = {move: service.gates_for(record.name, move)
             for move in service.policies.transitions.allowed_from(Stage(record.stage))}
    moves = [move for move, configured in gates.items() if not configured.empty]
    approvals = service.list_approvals(record.name, record.version) if moves else []
    views = []
    for move in moves:
        report = service.check_gates(record.name, record.version, move.value)
        # newest first: the newest request for this move counts, unless stale or rejected
        request = next((r for r in approvals if r.to_stage == move.value), None)
        views.append(GateView(
            report, [r for r in report.results if r.name != "transition"],
            gates[move].approvals > 0,
            request if request is not None and request.status in (PENDING, APPROVED) else None))
    return {"gate_views": views, "approvals": approvals}
