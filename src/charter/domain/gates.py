"""Promotion gates: what a version must show before it may enter a stage.

Gates are data, declared per target stage in the configuration file, with
per-model overrides (docs/governance.md)::

    [gates.Production]
    required_tags = ["owner", "team"]
    description = true
    checks = ["val_auc >= 0.85"]
    min_time_in_staging = "24h"
    approvals = 2

    [models.fraud_detector.gates.Production]
    approvals = 1

Evidence gates (``require_signature``, ``signers``, ``evidence`` and checks that read
attested predicates) are described in ``domain.evidence``.

This module reads them from the configuration; ``domain.gate_report`` judges a
move against them. Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from charter.domain import error_codes as codes
from charter.domain.attestations import MISSING, predicate_value
from charter.domain.errors import InvalidInput
from charter.domain.evidence import (
    AttestationFacts,
    Evidence,
    newest,
    parse_evidence,
    parse_evidence_names,
)
from charter.domain.lifecycle import Stage, parse_stage
from charter.domain.per_model import declared_for, name_key
from charter.domain.signers import Signer, parse_signers

GATE_KEYS = ("required_tags", "description", "checks", "min_time_in_staging", "approvals",
             "require_signature", "signers", "evidence", "interface")
# ``interface = "compatible"``: the version keeps the interface of the version in Production
# (domain.compatibility); ``"any"`` turns the check off. Undeclared, it is on for Production.
INTERFACE_RULES = ("compatible", "any")

# --- durations ("24h", "90m", "2d") ------------------------------------------------------

_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw])\s*")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: object, *, where: str) -> timedelta:
    """``"30s"``, ``"90m"``, ``"24h"``, ``"2d"``, ``"1w"``; a bare number is seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool) and text >= 0:
        return timedelta(seconds=float(text))
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput(codes.CONFIG_INVALID, f"{where}: {text!r} is not a duration",
                           "write a number and a unit: 30s, 90m, 24h, 2d or 1w")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def describe_duration(span: timedelta) -> str:
    """A short human form: 1d 2h, 3h 20m, 45s."""
    seconds = max(0, math.ceil(span.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s"))
             if n]
    return " ".join(parts[:2]) or "0s"


# --- numeric checks on version tags ("val_auc >= 0.85") or attested values ("eval.auc") -

_CHECK = re.compile(r"\s*([A-Za-z0-9_.\-/:]+)\s*(>=|<=|==|!=|>|<)\s*"
                    r"([-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*")
_COMPARE = {
    ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    "<": lambda a, b: a < b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


@dataclass(frozen=True)
class NumericCheck:
    """``TAG OP NUMBER`` on a version tag, or ``NAME.FIELD OP NUMBER`` on the predicate of
    the newest attestation of the evidence kind ``NAME`` (``evidence`` is its type)."""

    tag: str
    op: str
    threshold: float
    evidence: str = ""     # the predicate type read, for an attested check

    @classmethod
    def parse(cls, text: object, *, where: str,
              evidence_names: Mapping[str, str] | None = None) -> NumericCheck:
        match = _CHECK.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidInput(codes.CONFIG_INVALID, f"{where}: {text!r} is not a check",
                               "write TAG OP NUMBER, e.g. \"val_auc >= 0.85\", or "
                               "EVIDENCE.FIELD OP NUMBER, e.g. \"eval.auc >= 0.9\" "
                               "(OP is one of >= > <= < == !=)")
        name, op, number = match.group(1), match.group(2), float(match.group(3))
        kind, dot, rest = name.partition(".")
        if dot and rest and kind in (evidence_names or {}):
            return cls(name, op, number, (evidence_names or {})[kind])
        return cls(name, op, number)

    def __str__(self) -> str:
        return f"{self.tag} {self.op} {self.threshold:g}"

    def test(self, tags: Mapping[str, str]) -> tuple[bool, str, str]:
        """(passed, detail, fix) for a version's tags."""
        raw = tags.get(self.tag)
        if raw is None:
            return False, f"tag {self.tag} is not set", f"set the version tag {self.tag}"
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if math.isnan(value):
            return (False, f"{self.tag} is {raw[:40]!r}, not a number",
                    f"set {self.tag} to a number")
        return self._judge(value, "")

    def test_attested(self, attestations: Sequence[AttestationFacts],
                      signers: Sequence[Signer] = ()) -> tuple[bool, str, str]:
        """(passed, detail, fix) from the newest attestation of ``evidence`` (by ``signers``)."""
        found = newest(attestations, self.evidence, signers)
        if found is None:
            by = f" signed by one of the stage's signers for {self.evidence}" if signers else ""
            return (False, f"no attestation of {self.evidence}{by}",
                    f"attach one whose predicate has {self.tag.partition('.')[2]}")
        value = predicate_value(found.predicate, tuple(self.tag.split(".")[1:]))
        where = f" (attestation {found.digest[:12]}…)"
        if value is MISSING:
            return (False, f"{self.tag} is not in the attestation{where}",
                    f"attest a predicate with {self.tag.partition('.')[2]}")
        if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
            return (False, f"{self.tag} is {str(value)[:40]!r}, not a number{where}",
                    f"attest {self.tag.partition('.')[2]} as a JSON number")
        return self._judge(float(value), where)

    def _judge(self, value: float, where: str) -> tuple[bool, str, str]:
        if _COMPARE[self.op](value, self.threshold):
            return True, f"{self.tag} is {value:g}{where}", ""
        return (False, f"{self.tag} is {value:g}; needs {self.op} {self.threshold:g}{where}",
                f"{self.tag} must be {self.op} {self.threshold:g} (it is {value:g})")


# --- the gates of one target stage -----------------------------------------------------


@dataclass(frozen=True)
class StageGates:
    required_tags: tuple[str, ...] = ()
    description: bool = False
    checks: tuple[NumericCheck, ...] = ()
    min_time_in_staging: timedelta | None = None
    approvals: int = 0
    require_signature: bool = False
    signers: tuple[Signer, ...] = ()           # the version's signature must be theirs
    evidence: tuple[Evidence, ...] = ()
    interface: str | None = None               # "compatible", "any", or None (undeclared)

    @property
    def empty(self) -> bool:
        """No gate declared (the interface check may still be on by default: see
        ``checks_interface``)."""
        return not (self.required_tags or self.description or self.checks
                    or self.min_time_in_staging or self.approvals or self.require_signature
                    or self.signers or self.evidence or self.interface == "compatible")

    def checks_interface(self, target: Stage) -> bool:
        """Whether a move to ``target`` must keep Production's interface: declared
        ``"compatible"``, or undeclared and the target is Production."""
        if self.interface is None:
            return target is Stage.PRODUCTION
        return self.interface == "compatible"

    def evidence_signers(self, predicate_type: str) -> tuple[Signer, ...]:
        """Whose attestations of ``predicate_type`` count here (empty: anyone's)."""
        for required in self.evidence:
            if required.predicate_type == predicate_type:
                return required.signers
        return ()


def parse_stage_gates(section: Mapping[str, Any], *, stage: Stage, where: str,
                      evidence_names: Mapping[str, str] | None = None) -> StageGates:
    unknown = sorted(set(section) - set(GATE_KEYS))
    if unknown:
        raise InvalidInput(codes.CONFIG_INVALID, f"{where}: unknown key(s) {', '.join(unknown)}",
                           f"gates are: {', '.join(GATE_KEYS)} (docs/governance.md)")
    tags = section.get("required_tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        raise InvalidInput(codes.CONFIG_INVALID,
                           f"{where}: required_tags must be a list of tag keys",
                           'e.g. required_tags = ["owner", "team"]')
    description = section.get("description", False)
    if not isinstance(description, bool):
        raise InvalidInput(codes.CONFIG_INVALID, f"{where}: description must be true or false",
                           "description = true requires a version description")
    checks = section.get("checks", [])
    if not isinstance(checks, list):
        raise InvalidInput(codes.CONFIG_INVALID, f"{where}: checks must be a list",
                           'e.g. checks = ["val_auc >= 0.85"]')
    approvals = section.get("approvals", 0)
    if not isinstance(approvals, int) or isinstance(approvals, bool) or not 0 <= approvals <= 20:
        raise InvalidInput(codes.CONFIG_INVALID, f"{where}: approvals must be a whole number 0..20",
                           "e.g. approvals = 2")
    wait = section.get("min_time_in_staging")
    if wait is not None and stage is Stage.STAGING:
        raise InvalidInput(codes.CONFIG_INVALID, f"{where}: min_time_in_staging cannot gate "
                           "entering Staging", "declare it under [gates.Production]")
    names = evidence_names or {}
    return StageGates(
        required_tags=tuple(t.strip() for t in tags), description=description,
        checks=tuple(NumericCheck.parse(c, where=where, evidence_names=names) for c in checks),
        min_time_in_staging=(parse_duration(wait, where=f"{where} min_time_in_staging")
                             if wait is not None else None),
        approvals=approvals, interface=_interface_rule(section, where=where),
        **_evidence_gates(section, names, where=where))


def _interface_rule(section: Mapping[str, Any], *, where: str) -> str | None:
    rule = section.get("interface")
    if rule is not None and rule not in INTERFACE_RULES:
        raise InvalidInput(codes.CONFIG_INVALID, f"{where}: interface must be \"compatible\" "
                           "or \"any\"", 'interface = "compatible" keeps the interface of '
                           'the version in Production; "any" turns the check off')
    return rule if isinstance(rule, str) else None


def _evidence_gates(section: Mapping[str, Any], names: Mapping[str, str], *, where: str
                    ) -> dict[str, Any]:
    """``require_signature``, ``signers`` and ``evidence`` (domain.evidence)."""
    require_signature = section.get("require_signature", False)
    if not isinstance(require_signature, bool):
        raise InvalidInput(codes.CONFIG_INVALID, f"{where}: require_signature must be true "
                           "or false",
                           "require_signature = true admits only signed versions")
    return {"require_signature": require_signature,
            "signers": parse_signers(section.get("signers", []), where=where),
            "evidence": parse_evidence(section.get("evidence", []), names, where=where)}


@dataclass(frozen=True)
class GatePolicy:
    """Gates per target stage, per-model overrides, and who may approve.

    ``models`` maps a model's name key to its stages' *merged* gates: an override
    replaces the keys it names and keeps the registry-wide ones it does not.
    """

    stages: Mapping[Stage, StageGates] = field(default_factory=dict)
    models: Mapping[str, Mapping[Stage, StageGates]] = field(default_factory=dict)
    approver_not_registrant: bool = True

    def for_move(self, name: str, target: Stage, *, former: Iterable[str] = ()) -> StageGates:
        """The gates of moving a version of ``name`` to ``target``. Per-model gates
        declared under one of its ``former`` names still apply (domain.per_model)."""
        per_model = declared_for(self.models, name, former) or {}
        return per_model.get(target) or self.stages.get(target) or StageGates()

    @property
    def any(self) -> bool:
        return bool(self.stages) or bool(self.models)


def parse_gate_policy(config: Mapping[str, Any]) -> GatePolicy:
    """Read ``[gates.<Stage>]``, ``[models.<name>.gates.<Stage>]``, ``[approvals]`` and the
    ``[evidence]`` names their checks may use."""
    names = parse_evidence_names(config.get("evidence", {}))
    raw = _stage_tables(config.get("gates", {}), where="[gates]")
    stages = {stage: parse_stage_gates(section, stage=stage, where=f"[gates.{stage}]",
                                       evidence_names=names)
              for stage, section in raw.items()}
    models: dict[str, Mapping[Stage, StageGates]] = {}
    model_tables = config.get("models", {})
    if not isinstance(model_tables, Mapping):
        raise InvalidInput(codes.CONFIG_INVALID, "[models] must be a table of model names",
                           "e.g. [models.fraud_detector.gates.Production]")
    for name, table in model_tables.items():
        if not isinstance(table, Mapping) or "gates" not in table:
            continue
        overrides = _stage_tables(table["gates"], where=f"[models.{name}.gates]")
        merged = {}
        for stage in set(raw) | set(overrides):
            where = f"[models.{name}.gates.{stage}]"
            section = {**raw.get(stage, {}), **overrides.get(stage, {})}
            merged[stage] = parse_stage_gates(section, stage=stage, where=where,
                                              evidence_names=names)
        models[name_key(str(name))] = MappingProxyType(merged)
    approvals = config.get("approvals", {})
    unknown = sorted(set(approvals) - {"approver_not_registrant"}) if isinstance(
        approvals, Mapping) else ["(not a table)"]
    if unknown:
        raise InvalidInput(codes.CONFIG_INVALID,
                           f"[approvals]: unknown key(s) {', '.join(unknown)}",
                           "the one key is approver_not_registrant = true|false")
    not_registrant = approvals.get("approver_not_registrant", True)
    if not isinstance(not_registrant, bool):
        raise InvalidInput(codes.CONFIG_INVALID, "[approvals] approver_not_registrant must be "
                           "true or false", "e.g. approver_not_registrant = true")
    return GatePolicy(MappingProxyType(stages), MappingProxyType(models), not_registrant)


def _stage_tables(section: object, *, where: str) -> dict[Stage, dict[str, Any]]:
    if not isinstance(section, Mapping):
        raise InvalidInput(codes.CONFIG_INVALID, f"{where} must be a table of stages",
                           "e.g. [gates.Production]")
    tables: dict[Stage, dict[str, Any]] = {}
    for key, value in section.items():
        stage = parse_stage(key)
        if stage is Stage.NONE:
            raise InvalidInput(codes.CONFIG_INVALID, f"{where}: no version ever moves to None",
                               "declare gates for Staging, Production or Archived")
        if not isinstance(value, Mapping):
            raise InvalidInput(codes.CONFIG_INVALID, f"{where}.{key} must be a table",
                               "e.g. approvals = 2 under it")
        tables[stage] = dict(value)
    return tables
