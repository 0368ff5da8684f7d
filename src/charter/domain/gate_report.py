"""The gates of one move, judged: ``evaluate`` answers one result per gate (name,
passed, detail, fix) and never refuses by itself; ``gate_failed`` turns a failing
report into the refusal, and an owner's override is checked and recorded here.

The gates themselves come from the configuration (``domain.gates``). Pure: time, the
version's facts and the approvals are passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from charter.domain import error_codes as codes
from charter.domain.compatibility import InterfaceDiff
from charter.domain.errors import Conflict, InvalidInput
from charter.domain.evidence import (
    AttestationFacts,
    evidence_test,
    signature_test,
    signers_test,
)
from charter.domain.gates import StageGates, describe_duration
from charter.domain.lifecycle import Stage, TransitionTable
from charter.domain.signers import Signer

# --- facts and the report -------------------------------------------------------------


@dataclass(frozen=True)
class VersionFacts:
    name: str
    version: int
    stage: Stage
    description: str
    tags: Mapping[str, str]
    stage_changed_at: datetime
    signer: Signer | None = None                       # who signed its files, if anyone
    attestations: tuple[AttestationFacts, ...] = ()    # oldest first


@dataclass(frozen=True)
class ModelFacts:
    name: str
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ApprovalFacts:
    """The approval request that counts for this move, if any (see domain.approvals)."""

    requested: bool = False
    approvers: tuple[str, ...] = ()
    rejected_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class InterfaceFacts:
    """The version in Production (None: none is) and the diff from its interface to the
    candidate's (domain.compatibility)."""

    production: int | None
    diff: InterfaceDiff


INTERFACE_GATE = "interface"


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail,
                "fix": self.fix}


@dataclass(frozen=True)
class GateReport:
    name: str
    version: int
    from_stage: str
    to_stage: str
    results: tuple[GateResult, ...] = ()

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[GateResult]:
        return [r for r in self.results if not r.passed]

    def hint(self) -> str:
        return "; ".join(r.fix or r.detail for r in self.failures)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "from_stage": self.from_stage,
                "to_stage": self.to_stage, "passed": self.passed,
                "results": [r.to_dict() for r in self.results]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateReport:
        return cls(data["name"], int(data["version"]), data["from_stage"], data["to_stage"],
                   tuple(GateResult(r["name"], bool(r["passed"]), r["detail"], r.get("fix", ""))
                         for r in data.get("results", [])))


def evaluate(gates: StageGates, target: Stage, version: VersionFacts, model: ModelFacts,
             approvals: ApprovalFacts, now: datetime,
             table: TransitionTable | None = None,
             interface: InterfaceFacts | None = None) -> GateReport:
    """One result per declared gate, in declaration order; no gates: an empty, passing report.

    With the transition ``table``, the first result says whether the move itself is
    allowed, so a check of an impossible move does not look like a green light.
    """
    results: list[GateResult] = [] if table is None else [
        _edge_result(table, version.stage, target)]
    subject = f"{version.name}/{version.version}"
    for key in gates.required_tags:
        results.append(_tag_gate(key, version, model, subject))
    if gates.description:
        has = bool(version.description.strip())
        results.append(GateResult(
            "description", has, "the version has a description" if has
            else "the version has no description",
            "" if has else f"describe it: `charter describe {subject} \"…\"`"))
    results += _evidence_results(gates, version, subject)
    for check in gates.checks:
        passed, detail, fix = (check.test_attested(version.attestations,
                                                   gates.evidence_signers(check.evidence))
                               if check.evidence else check.test(version.tags))
        results.append(GateResult(f"check:{check}", passed, detail, fix))
    if gates.min_time_in_staging is not None:
        results.append(_staging_time_gate(gates.min_time_in_staging, version, now))
    if gates.approvals:
        results.append(_approvals_gate(gates.approvals, target, version, approvals))
    if interface is not None and gates.checks_interface(target):
        results.append(interface_gate(interface, version, target))
    return GateReport(version.name, version.version, version.stage.value, target.value,
                      tuple(results))


def _evidence_results(gates: StageGates, version: VersionFacts, subject: str
                      ) -> list[GateResult]:
    results = []
    if gates.require_signature and not gates.signers:
        results.append(GateResult("signature", *signature_test(version.signer, subject)))
    if gates.signers:
        results.append(GateResult("signers", *signers_test(version.signer, gates.signers)))
    for required in gates.evidence:
        results.append(GateResult(f"evidence:{required}",
                                  *evidence_test(required, version.attestations, subject)))
    return results


def _edge_result(table: TransitionTable, current: Stage, target: Stage) -> GateResult:
    try:
        table.check(current, target)
    except Conflict as refused:
        return GateResult("transition", False, refused.message, refused.hint)
    return GateResult("transition", True, f"{current} -> {target} is an allowed move")


def _tag_gate(key: str, version: VersionFacts, model: ModelFacts, subject: str) -> GateResult:
    name = f"tag:{key}"
    if version.tags.get(key, "").strip():
        return GateResult(name, True, f"{key} = {version.tags[key][:60]}")
    if model.tags.get(key, "").strip():
        return GateResult(name, True, f"{key} = {model.tags[key][:60]} (model tag)")
    return GateResult(name, False, f"tag {key} is not set on the version or the model",
                      f"set it: `charter tag {subject} {key}=…`")


def _staging_time_gate(needed: timedelta, version: VersionFacts, now: datetime) -> GateResult:
    name = f"min_time_in_staging:{describe_duration(needed)}"
    if version.stage is not Stage.STAGING:
        return GateResult(name, False, f"the version is in {version.stage}, not Staging",
                          "move it to Staging first and let it soak there")
    spent = now - version.stage_changed_at
    if spent >= needed:
        return GateResult(name, True, f"in Staging for {describe_duration(spent)}")
    return GateResult(name, False, f"in Staging for {describe_duration(spent)} of "
                      f"{describe_duration(needed)}",
                      f"wait {describe_duration(needed - spent)} more in Staging")


def _approvals_gate(needed: int, target: Stage, version: VersionFacts,
                    approvals: ApprovalFacts) -> GateResult:
    name = f"approvals:{needed}"
    subject = f"{version.name} {version.version} --to {target}"
    have = len(approvals.approvers)
    if approvals.rejected_by:
        return GateResult(name, False, f"rejected by {', '.join(approvals.rejected_by)}",
                          f"address the rejection, then request approval again: "
                          f"`charter request-approval {subject}`")
    if not approvals.requested:
        return GateResult(name, False, f"needs {needed} approval(s); none was requested",
                          f"request approval: `charter request-approval {subject}`")
    who = f" ({', '.join(approvals.approvers)})" if have else ""
    if have >= needed:
        return GateResult(name, True, f"{have} of {needed} approval(s){who}")
    return GateResult(name, False, f"{have} of {needed} approval(s){who}",
                      f"needs {needed - have} more: `charter approve {subject}` "
                      "by someone other than the requester")


def interface_gate(facts: InterfaceFacts, version: VersionFacts, target: Stage) -> GateResult:
    """Does the version keep the interface of the version in Production?"""
    if facts.production is None or facts.production == version.version:
        return GateResult(INTERFACE_GATE, True, "no other version is in Production; "
                          "there is no interface to keep")
    live = f"v{facts.production}"
    if not facts.diff.known:
        return GateResult(INTERFACE_GATE, True,
                          f"nothing to compare with {live}: {facts.diff.note}")
    if facts.diff.compatible:
        changed = len(facts.diff.changes)
        more = f" ({changed} compatible change(s))" if changed else ""
        return GateResult(INTERFACE_GATE, True, f"keeps {live}'s interface{more}")
    return GateResult(
        INTERFACE_GATE, False, f"breaks {live}'s interface: {facts.diff.summary(3)}",
        f"keep what {live} accepts and answers, or accept the break with a reason: "
        f"`charter promote {version.name} {version.version} --to {target} --reason … "
        "--accept-breaking \"…\"` (owners)")


def interface_breaking(report: GateReport, facts: InterfaceFacts) -> Conflict:
    """The refusal of a move whose only failing gate is the interface: the diff is the
    explanation (details carry it and the report)."""
    failed = next(r for r in report.failures if r.name == INTERFACE_GATE)
    return Conflict(
        codes.GATE_INTERFACE_BREAKING,
        f"{report.name} v{report.version} cannot move to {report.to_stage}: it "
        f"{failed.detail}", failed.fix,
        {"report": report.to_dict(), "production": facts.production,
         "diff": facts.diff.to_dict()})


def gate_failed(report: GateReport) -> Conflict:
    """The refusal of a move whose gates do not all pass; details carry the whole report."""
    failed = report.failures
    names = ", ".join(r.name for r in failed)
    return Conflict(
        codes.GATE_FAILED,
        f"{report.name} v{report.version} cannot move to {report.to_stage}: "
        f"{len(failed)} of {len(report.results)} gate(s) failed ({names})",
        report.hint(), {"report": report.to_dict()})


def check_override_reason(reason: str) -> None:
    """An override names why; the caller checks who may give it."""
    if not reason:
        raise InvalidInput(codes.GATE_OVERRIDE_REASON_REQUIRED,
                           "overriding gates requires a reason and none was given",
                           "say why the gates do not apply this time, e.g. 'hotfix for "
                           "incident 4711, approvals follow'")


def override_payload(report: GateReport) -> dict[str, Any]:
    return {"report": report.to_dict(), "failed": [r.name for r in report.failures]}
