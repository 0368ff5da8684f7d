"""Promotion gates as data: parsed from real configuration files, evaluated purely."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from charter.config import Settings
from charter.domain.errors import Conflict, InvalidInput
from charter.domain.gate_report import (
    ApprovalFacts,
    GateReport,
    ModelFacts,
    VersionFacts,
    evaluate,
    gate_failed,
)
from charter.domain.gates import StageGates, parse_duration, parse_gate_policy
from charter.domain.lifecycle import Stage

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)

CONFIG = """
[gates.Production]
required_tags = ["owner", "team"]
description = true
checks = ["val_auc >= 0.85", "latency_p99_ms < 50"]
min_time_in_staging = "24h"
approvals = 2

[gates.staging]
required_tags = ["owner"]

[approvals]
approver_not_registrant = false

[models.fraud_detector.gates.Production]
approvals = 1
checks = ["val_auc >= 0.9"]

[models.churn_predictor.gates.Archived]
description = true
"""


def load(tmp_path, text: str):
    (tmp_path / "charter.toml").write_text(text)
    settings = Settings.load({"home": tmp_path}, env={})
    return parse_gate_policy(settings.extra)


def facts(**changes) -> VersionFacts:
    base = dict(name="fraud_detector", version=3, stage=Stage.STAGING,
                description="calibrated", tags={"owner": "@meera", "team": "fraud",
                                                "val_auc": "0.91", "latency_p99_ms": "31"},
                stage_changed_at=NOW - timedelta(days=2))
    return VersionFacts(**{**base, **changes})


def passed_approvals(*who: str) -> ApprovalFacts:
    return ApprovalFacts(requested=True, approvers=who)


def results(report: GateReport) -> dict[str, bool]:
    return {r.name: r.passed for r in report.results}


def test_a_config_file_declares_gates_per_target_stage(tmp_path):
    policy = load(tmp_path, CONFIG)
    production = policy.for_move("search_ranker", Stage.PRODUCTION)
    assert production.required_tags == ("owner", "team")
    assert production.description is True
    assert [str(c) for c in production.checks] == ["val_auc >= 0.85", "latency_p99_ms < 50"]
    assert production.min_time_in_staging == timedelta(hours=24)
    assert production.approvals == 2
    assert policy.for_move("search_ranker", Stage.STAGING).required_tags == ("owner",)
    assert policy.approver_not_registrant is False


def test_a_model_override_replaces_only_the_keys_it_names(tmp_path):
    policy = load(tmp_path, CONFIG)
    fraud = policy.for_move("Fraud_Detector", Stage.PRODUCTION)
    assert fraud.approvals == 1
    assert [str(c) for c in fraud.checks] == ["val_auc >= 0.9"]
    assert fraud.required_tags == ("owner", "team")       # kept from [gates.Production]
    assert fraud.min_time_in_staging == timedelta(hours=24)
    assert policy.for_move("churn_predictor", Stage.ARCHIVED).description is True
    assert policy.for_move("search_ranker", Stage.ARCHIVED).empty


def test_no_gates_configured_means_an_empty_passing_report(tmp_path):
    policy = load(tmp_path, "")
    gates = policy.for_move("fraud_detector", Stage.PRODUCTION)
    report = evaluate(gates, Stage.PRODUCTION, facts(), ModelFacts("fraud_detector"),
                      ApprovalFacts(), NOW)
    assert report.passed and report.results == ()
    assert policy.approver_not_registrant is True


@pytest.mark.parametrize("text, fragment", [
    ("[gates.Production]\napprovels = 2\n", "approvels"),
    ("[gates.Production]\nchecks = [\"val_auc >>= 1\"]\n", "not a check"),
    ("[gates.Production]\nmin_time_in_staging = \"a day\"\n", "not a duration"),
    ("[gates.Staging]\nmin_time_in_staging = \"1h\"\n", "cannot gate entering Staging"),
    ("[gates.Prod]\napprovals = 1\n", "not a stage"),
    ("[gates.None]\napprovals = 1\n", "None"),
    ("[gates.Production]\napprovals = -1\n", "approvals"),
    ("[gates.Production]\nrequired_tags = \"owner\"\n", "required_tags"),
    ("[approvals]\nself_approval = true\n", "self_approval"),
])
def test_a_bad_gate_config_fails_fast_naming_the_problem(tmp_path, text, fragment):
    with pytest.raises(InvalidInput) as raised:
        load(tmp_path, text)
    assert fragment in str(raised.value)


def test_every_gate_reports_passed_with_its_detail(tmp_path):
    gates = load(tmp_path, CONFIG).for_move("search_ranker", Stage.PRODUCTION)
    report = evaluate(gates, Stage.PRODUCTION, facts(), ModelFacts("fraud_detector"),
                      passed_approvals("alice", "bob"), NOW)
    assert report.passed
    assert results(report) == {
        "tag:owner": True, "tag:team": True, "description": True,
        "check:val_auc >= 0.85": True, "check:latency_p99_ms < 50": True,
        "min_time_in_staging:1d": True, "approvals:2": True}
    details = {r.name: r.detail for r in report.results}
    assert details["check:val_auc >= 0.85"] == "val_auc is 0.91"
    assert details["approvals:2"] == "2 of 2 approval(s) (alice, bob)"


def test_failing_gates_say_why_and_what_to_fix(tmp_path):
    gates = load(tmp_path, CONFIG).for_move("search_ranker", Stage.PRODUCTION)
    version = facts(tags={"owner": "@meera", "val_auc": "0.81", "latency_p99_ms": "fast"},
                    description=" ", stage_changed_at=NOW - timedelta(hours=20, minutes=30))
    report = evaluate(gates, Stage.PRODUCTION, version, ModelFacts("fraud_detector"),
                      passed_approvals("alice"), NOW)
    assert not report.passed
    failed = {r.name: r for r in report.failures}
    assert set(failed) == {"tag:team", "description", "check:val_auc >= 0.85",
                           "check:latency_p99_ms < 50", "min_time_in_staging:1d",
                           "approvals:2"}
    assert failed["check:val_auc >= 0.85"].detail == "val_auc is 0.81; needs >= 0.85"
    assert "not a number" in failed["check:latency_p99_ms < 50"].detail
    assert failed["min_time_in_staging:1d"].fix == "wait 3h 30m more in Staging"
    assert failed["approvals:2"].detail == "1 of 2 approval(s) (alice)"
    assert "charter tag fraud_detector/3 team=" in failed["tag:team"].fix


def test_a_model_tag_satisfies_a_required_tag():
    gates = StageGates(required_tags=("team",))
    report = evaluate(gates, Stage.PRODUCTION, facts(tags={}),
                      ModelFacts("fraud_detector", {"team": "fraud"}), ApprovalFacts(), NOW)
    assert report.passed
    assert report.results[0].detail == "team = fraud (model tag)"


def test_a_missing_metric_tag_fails_its_check():
    gates = StageGates(checks=(parse_gate_policy(
        {"gates": {"Production": {"checks": ["f1 > 0.5"]}}}).stages[Stage.PRODUCTION].checks))
    report = evaluate(gates, Stage.PRODUCTION, facts(tags={}), ModelFacts("x"),
                      ApprovalFacts(), NOW)
    assert report.failures[0].detail == "tag f1 is not set"


def test_time_in_staging_needs_the_version_to_be_in_staging():
    gates = StageGates(min_time_in_staging=timedelta(hours=1))
    report = evaluate(gates, Stage.ARCHIVED, facts(stage=Stage.PRODUCTION), ModelFacts("x"),
                      ApprovalFacts(), NOW)
    assert report.failures[0].detail == "the version is in Production, not Staging"


def test_approvals_gate_distinguishes_none_requested_pending_and_rejected():
    gates = StageGates(approvals=1)

    def approvals_detail(state: ApprovalFacts) -> str:
        report = evaluate(gates, Stage.PRODUCTION, facts(), ModelFacts("x"), state, NOW)
        return report.results[0].detail

    assert approvals_detail(ApprovalFacts()) == "needs 1 approval(s); none was requested"
    assert approvals_detail(ApprovalFacts(requested=True)) == "0 of 1 approval(s)"
    assert approvals_detail(ApprovalFacts(requested=True, approvers=("bob",),
                                          rejected_by=("carol",))) == "rejected by carol"


def test_a_failed_report_becomes_a_conflict_whose_hint_lists_the_fixes():
    gates = StageGates(required_tags=("owner",), checks=parse_gate_policy(
        {"gates": {"Production": {"checks": ["val_auc >= 0.85"]}}}
    ).stages[Stage.PRODUCTION].checks)
    report = evaluate(gates, Stage.PRODUCTION, facts(tags={"val_auc": "0.8"}),
                      ModelFacts("fraud_detector"), ApprovalFacts(), NOW)
    error = gate_failed(report)
    assert isinstance(error, Conflict) and error.code == "gate.failed"
    assert error.message == ("fraud_detector v3 cannot move to Production: 2 of 2 gate(s) "
                             "failed (tag:owner, check:val_auc >= 0.85)")
    assert "charter tag fraud_detector/3 owner=" in error.hint
    assert "val_auc must be >= 0.85 (it is 0.8)" in error.hint
    assert GateReport.from_dict(error.details["report"]) == report


@pytest.mark.parametrize("text, seconds", [
    ("30s", 30), ("90m", 5400), ("24h", 86400), ("2d", 172800), ("1w", 604800), (15, 15),
    ("1.5h", 5400),
])
def test_durations(text, seconds):
    assert parse_duration(text, where="x").total_seconds() == seconds


def test_with_the_transition_table_the_report_first_says_whether_the_move_is_allowed():
    from charter.domain.lifecycle import DEFAULT_TABLE

    report = evaluate(StageGates(), Stage.PRODUCTION, facts(stage=Stage.NONE), ModelFacts("x"),
                      ApprovalFacts(), NOW, DEFAULT_TABLE)
    assert [(r.name, r.passed) for r in report.results] == [("transition", False)]
    assert "allowed moves are: Staging" in report.results[0].fix
    report = evaluate(StageGates(), Stage.PRODUCTION, facts(), ModelFacts("x"),
                      ApprovalFacts(), NOW, DEFAULT_TABLE)
    assert report.passed and report.results[0].detail == "Staging -> Production is an allowed move"


def test_the_config_samples_in_the_docs_parse():
    """docs/configuration.md, governance.md and provenance.md cannot drift from the
    parsers."""
    import re
    import tomllib
    from pathlib import Path

    from charter.domain.checkpoints import parse_checkpoint_schedule
    from charter.domain.retention import parse_retention_policy
    from charter.domain.signers import parse_signing_policy
    from charter.domain.webhooks import parse_webhook_settings

    docs = Path(__file__).parents[2] / "docs"
    blocks = [b for name in ("configuration.md", "governance.md", "provenance.md")
              for b in re.findall(r"```toml\n(.*?)```", (docs / name).read_text(), re.DOTALL)]
    assert len(blocks) >= 3
    for block in blocks:
        config = tomllib.loads(block)
        parse_gate_policy(config)
        parse_retention_policy(config)
        parse_webhook_settings(config)
        parse_signing_policy(config)
        parse_checkpoint_schedule(config)
