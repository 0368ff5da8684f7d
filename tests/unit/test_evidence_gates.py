"""Evidence gates: a signature, required signers, attestations, and checks that read
attested numbers — parsed from a real configuration file and judged purely."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from charter.config import Settings
from charter.domain.errors import InvalidInput
from charter.domain.evidence import AttestationFacts, Evidence
from charter.domain.gate_report import ApprovalFacts, ModelFacts, VersionFacts, evaluate
from charter.domain.gates import NumericCheck, StageGates, parse_gate_policy
from charter.domain.lifecycle import Stage
from charter.domain.signers import KEY, Signer

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
EVAL = "https://example.com/eval/v1"
SBOM = "https://spdx.dev/Document"
RELEASE = Signer(KEY, "sha256:" + "1" * 64)
SCANNER = Signer(KEY, "sha256:" + "2" * 64)
OTHER = Signer(KEY, "sha256:" + "3" * 64)

CONFIG = f"""
[evidence]
eval = "{EVAL}"

[gates.Production]
require_signature = true
evidence = ["eval", {{ type = "{SBOM}", signers = ["{SCANNER}"] }}]
checks = ["val_auc >= 0.85", "eval.auc >= 0.9", "eval.metrics.latency_ms < 50"]

[models.fraud_detector.gates.Production]
signers = ["{RELEASE}"]
"""


def policy(tmp_path: Path, text: str = CONFIG) -> object:
    (tmp_path / "charter.toml").write_text(text)
    return parse_gate_policy(Settings.load({"home": str(tmp_path)}, env={}).extra)


def facts(signer: Signer | None = RELEASE, *attestations: AttestationFacts,
          tags: dict[str, str] | None = None) -> VersionFacts:
    return VersionFacts("fraud_detector", 3, Stage.STAGING, "d", tags or {"val_auc": "0.9"},
                        NOW, signer, tuple(attestations))


def attest(kind: str, predicate: dict[str, object], signer: Signer | None = None,
           digest: str = "e" * 64) -> AttestationFacts:
    return AttestationFacts(digest, kind, predicate, signer)


def judge(gates: StageGates, version: VersionFacts) -> dict[str, tuple[bool, str]]:
    report = evaluate(gates, Stage.PRODUCTION, version, ModelFacts(version.name),
                      ApprovalFacts(), NOW)
    return {r.name: (r.passed, r.detail) for r in report.results}


def test_evidence_gates_parse_from_the_configuration_file(tmp_path: Path) -> None:
    parsed = policy(tmp_path)
    gates = parsed.for_move("anything", Stage.PRODUCTION)
    assert gates.require_signature and not gates.signers
    assert gates.evidence == (Evidence("eval", EVAL), Evidence(SBOM, SBOM, (SCANNER,)))
    assert [c.evidence for c in gates.checks] == ["", EVAL, EVAL]
    assert parsed.for_move("Fraud_Detector", Stage.PRODUCTION).signers == (RELEASE,)


def test_a_signed_version_with_every_piece_of_evidence_passes(tmp_path: Path) -> None:
    gates = policy(tmp_path).for_move("fraud_detector", Stage.PRODUCTION)
    version = facts(RELEASE, attest(EVAL, {"auc": 0.93, "metrics": {"latency_ms": 20}}),
                    attest(SBOM, {}, SCANNER))
    results = judge(gates, version)
    assert all(passed for passed, _ in results.values()), results
    assert results["check:eval.auc >= 0.9"][1] == "eval.auc is 0.93 (attestation eeeeeeeeeeee…)"
    assert list(results) == ["signers", "evidence:eval", f"evidence:{SBOM}",
                             "check:val_auc >= 0.85", "check:eval.auc >= 0.9",
                             "check:eval.metrics.latency_ms < 50"]


GOOD_EVAL = {"auc": 0.93, "metrics": {"latency_ms": 1}}
SCAN = attest(SBOM, {}, SCANNER)

# (signer, attestations) -> the gates that fail, for a model without per-model signers
CASES = [
    (RELEASE, [attest(EVAL, GOOD_EVAL), attest(SBOM, {}, SCANNER)],
     []),
    (None, [attest(EVAL, GOOD_EVAL), attest(SBOM, {}, SCANNER)],
     ["signature"]),
    (RELEASE, [attest(EVAL, GOOD_EVAL)],
     [f"evidence:{SBOM}"]),
    (RELEASE, [attest(EVAL, GOOD_EVAL), attest(SBOM, {}, OTHER)],
     [f"evidence:{SBOM}"]),                                  # the SBOM must be the scanner's
    (RELEASE, [attest(EVAL, GOOD_EVAL), attest(SBOM, {})],
     [f"evidence:{SBOM}"]),                                  # unsigned does not count there
    (RELEASE, [attest(SBOM, {}, SCANNER)],
     ["evidence:eval", "check:eval.auc >= 0.9", "check:eval.metrics.latency_ms < 50"]),
    (RELEASE, [attest(EVAL, {"auc": 0.8, "metrics": {"latency_ms": 1}}), attest(SBOM, {}, SCANNER)],
     ["check:eval.auc >= 0.9"]),
    (RELEASE, [attest(EVAL, {"auc": "0.95", "metrics": {}}), attest(SBOM, {}, SCANNER)],
     ["check:eval.auc >= 0.9", "check:eval.metrics.latency_ms < 50"]),   # a string; missing
    (RELEASE, [attest(EVAL, {"auc": True, "metrics": {"latency_ms": 1}}), SCAN],
     ["check:eval.auc >= 0.9"]),                             # a boolean is no number
    (RELEASE, [attest(EVAL, {"auc": 0.95, "metrics": {"latency_ms": 1}}),
               attest(EVAL, {"auc": 0.5, "metrics": {"latency_ms": 1}}), attest(SBOM, {}, SCANNER)],
     ["check:eval.auc >= 0.9"]),                             # the newest attestation counts
]


@pytest.mark.parametrize(("signer", "attestations", "failing"), CASES)
def test_evidence_gates_fail_exactly_where_evidence_is_missing_or_short(
        tmp_path: Path, signer: Signer | None, attestations: list[AttestationFacts],
        failing: list[str]) -> None:
    gates = policy(tmp_path).for_move("other_model", Stage.PRODUCTION)
    results = judge(gates, facts(signer, *attestations))
    assert [name for name, (passed, _) in results.items() if not passed] == failing


def test_required_signers_refuse_a_version_signed_by_someone_else(tmp_path: Path) -> None:
    gates = policy(tmp_path).for_move("fraud_detector", Stage.PRODUCTION)
    passed, detail = judge(gates, facts(OTHER))["signers"]
    assert not passed and str(OTHER) in detail and str(RELEASE) in detail


def test_an_attested_check_only_reads_attestations_by_the_stages_signers_for_that_kind() -> None:
    gates = StageGates(evidence=(Evidence("eval", EVAL, (SCANNER,)),),
                       checks=(NumericCheck("eval.auc", ">=", 0.9, EVAL),))
    version = facts(None, attest(EVAL, {"auc": 0.95}, SCANNER), attest(EVAL, {"auc": 0.99}))
    assert judge(gates, version)["check:eval.auc >= 0.9"] == (
        True, "eval.auc is 0.95 (attestation eeeeeeeeeeee…)")


def test_a_check_named_like_evidence_without_an_evidence_table_reads_the_tag(
        tmp_path: Path) -> None:
    gates = policy(tmp_path, '[gates.Production]\nchecks = ["eval.auc >= 0.9"]\n').for_move(
        "m", Stage.PRODUCTION)
    assert gates.checks[0].evidence == ""
    assert judge(gates, facts(tags={"eval.auc": "0.95"}))["check:eval.auc >= 0.9"][0]


def test_evidence_gates_make_a_stage_non_empty() -> None:
    assert not StageGates(require_signature=True).empty
    assert not StageGates(signers=(RELEASE,)).empty
    assert not StageGates(evidence=(Evidence("eval", EVAL),)).empty


@pytest.mark.parametrize("text", [
    "[gates.Production]\nrequire_signature = \"yes\"\n",
    "[gates.Production]\nsigners = [\"alice\"]\n",
    "[gates.Production]\nevidence = \"eval\"\n",
    "[gates.Production]\nevidence = [\"eval\"]\n",                      # undeclared name
    "[gates.Production]\nevidence = [{ kind = \"x:y\" }]\n",
    "[evidence]\n\"not an identifier\" = \"https://x\"\n",
    "[evidence]\neval = \"no uri\"\n",
])
def test_bad_evidence_configuration_is_refused_with_a_fix(tmp_path: Path, text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        policy(tmp_path, text)
    assert refused.value.code in ("config.invalid", "signer.invalid")
    assert refused.value.hint
