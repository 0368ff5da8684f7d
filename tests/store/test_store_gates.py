"""Promotion gates and four-eyes approvals on a real database, configured from a real
charter.toml; every identity is a distinct actor."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from charter.domain.access import Principal, Role
from charter.domain.errors import Conflict, InvalidInput, PermissionDenied
from charter.store import tables

NAME = "fraud_detector"

GATES = """
[gates.Production]
required_tags = ["owner"]
description = true
checks = ["val_auc >= 0.85"]
approvals = 2

[gates.Staging]
required_tags = ["owner"]

[models.search_ranker.gates.Production]
approvals = 0
checks = []
"""


@pytest.fixture
def gated(tmp_path, make_registry):
    """A registry reading GATES from its charter.toml, acting as the registrant "ravi"."""
    (tmp_path / "charter.toml").write_text(GATES)
    return make_registry(actor="ravi")


def staged(registry, name: str = NAME, **tags: str) -> int:
    """A version in Staging with an owner, a description and the given tags."""
    version = registry.register(name, "s3://models/fraud/1", description="calibrated",
                                tags={"owner": "@meera", **tags}).version
    registry.transition(name, version, "Staging", reason="offline validation passed")
    return version


def approved(registry, version: int, *approvers: str, name: str = NAME) -> None:
    registry.as_actor("alice").request_approval(name, version, "Production", comment="ready")
    for who in approvers:
        registry.as_actor(who).approve(name, version, "Production", comment="lgtm")


def events_of(registry, action: str) -> list:
    return [e for e in registry.history(NAME) if e.action == action]


def test_check_reports_every_gate_and_changes_nothing(gated, given):
    version = staged(gated, val_auc="0.81")
    before = given.state()
    report = gated.check_gates(NAME, version, "production")
    assert given.state() == before
    assert not report.passed
    assert [(r.name, r.passed) for r in report.results] == [
        ("transition", True), ("tag:owner", True), ("description", True),
        ("check:val_auc >= 0.85", False), ("approvals:2", False), ("interface", True)]


def test_a_promotion_that_fails_a_gate_is_refused_with_the_same_report(gated, given):
    version = staged(gated, val_auc="0.81")
    report = gated.check_gates(NAME, version, "Production")
    before = given.state()
    with pytest.raises(Conflict) as refused:
        gated.transition(NAME, version, "Production", reason="ship it")
    assert refused.value.code == "gate.failed"
    assert refused.value.details["report"] == report.to_dict()
    assert "val_auc must be >= 0.85 (it is 0.81)" in refused.value.hint
    assert "charter request-approval fraud_detector" in refused.value.hint
    assert given.state() == before


def test_gates_guard_entering_staging_too(gated):
    version = gated.register(NAME, "s3://models/fraud/1").version
    with pytest.raises(Conflict) as refused:
        gated.transition(NAME, version, "Staging")
    assert [r["name"] for r in refused.value.details["report"]["results"]
            if not r["passed"]] == ["tag:owner"]
    gated.set_model_tag(NAME, "owner", "@fraud-team")      # a model tag satisfies it
    assert gated.transition(NAME, version, "Staging").stage == "Staging"


def test_a_version_passing_every_gate_with_two_distinct_approvers_is_promoted(gated):
    version = staged(gated, val_auc="0.91")
    approved(gated, version, "bob", "carol")
    assert gated.check_gates(NAME, version, "Production").passed
    assert gated.transition(NAME, version, "Production", reason="ship").stage == "Production"


def test_nobody_approves_their_own_request_and_the_registrant_may_not_approve(gated):
    version = staged(gated, val_auc="0.91")
    alice = gated.as_actor("alice")
    alice.request_approval(NAME, version, "Production")
    with pytest.raises(PermissionDenied) as refused:
        alice.approve(NAME, version, "Production")
    assert refused.value.code == "approval.self_approval"
    with pytest.raises(PermissionDenied) as refused:
        gated.approve(NAME, version, "Production")           # ravi registered it
    assert refused.value.code == "approval.registrant"
    gated.as_actor("bob").approve(NAME, version, "Production")
    with pytest.raises(Conflict) as refused:
        gated.as_actor("bob").approve(NAME, version, "Production")
    assert refused.value.code == "approval.already_decided"
    with pytest.raises(Conflict):                          # one approval of two
        gated.transition(NAME, version, "Production")


def test_approving_without_a_request_is_refused(gated):
    version = staged(gated, val_auc="0.91")
    with pytest.raises(Conflict) as refused:
        gated.as_actor("bob").approve(NAME, version, "Production")
    assert refused.value.code == "approval.not_requested"
    assert "charter request-approval fraud_detector" in refused.value.hint


def test_approvals_go_stale_when_the_version_leaves_the_stage(gated):
    version = staged(gated, val_auc="0.91")
    approved(gated, version, "bob", "carol")
    gated.archive(NAME, version, reason="pulled for a data check")
    [record] = gated.list_approvals(NAME, version)
    assert record.status == "stale"
    # Archived versions cannot go back to Staging: register again and check a fresh version
    other = staged(gated, val_auc="0.91")
    assert not gated.check_gates(NAME, other, "Production").passed


def test_an_approval_is_for_the_stay_in_the_stage_it_was_requested_from(gated, given):
    version = staged(gated, val_auc="0.91")
    approved(gated, version, "bob", "carol")
    gated.transition(NAME, version, "Production", reason="ship")
    gated.transition(NAME, version, "Staging", reason="back for a check")
    report = gated.check_gates(NAME, version, "Production")
    assert [r.detail for r in report.failures] == ["needs 2 approval(s); none was requested"]


def test_a_rejection_blocks_the_gate_until_approval_is_requested_again(gated):
    version = staged(gated, val_auc="0.91")
    approved(gated, version, "bob")
    with pytest.raises(InvalidInput):                     # a rejection says why
        gated.as_actor("carol").reject(NAME, version, "Production", comment="")
    gated.as_actor("carol").reject(NAME, version, "Production", comment="recall dropped")
    assert gated.check_gates(NAME, version, "Production").failures[0].detail == \
        "rejected by carol"
    with pytest.raises(Conflict) as refused:
        gated.as_actor("dan").approve(NAME, version, "Production")
    assert refused.value.code == "approval.rejected"
    approved(gated, version, "bob", "dan")                 # a new request starts over
    assert gated.check_gates(NAME, version, "Production").passed
    statuses = [r.status for r in gated.list_approvals(NAME)]
    assert statuses == ["approved", "rejected"]


def test_requesting_again_while_a_request_is_open_reuses_it(gated):
    version = staged(gated, val_auc="0.91")
    first = gated.as_actor("alice").request_approval(NAME, version, "Production")
    second = gated.as_actor("erin").request_approval(NAME, version, "Production")
    assert first.id == second.id and second.requested_by == "alice"


def test_approval_decisions_are_audited_with_their_comments(gated):
    version = staged(gated, val_auc="0.91")
    approved(gated, version, "bob")
    requested = events_of(gated, "approval_requested")[-1]
    granted = events_of(gated, "approval_granted")[-1]
    assert (requested.actor, requested.reason, requested.payload["to"]) == \
        ("alice", "ready", "Production")
    assert (granted.actor, granted.reason, granted.payload["approvals"]) == ("bob", "lgtm", 1)
    assert gated.verify_audit().ok


def test_a_model_override_in_the_config_relaxes_its_gates(gated):
    version = staged(gated, name="search_ranker", val_auc="0.5")
    report = gated.check_gates("search_ranker", version, "Production")
    assert [r.name for r in report.results] == ["transition", "tag:owner", "description",
                                                 "interface"]
    assert gated.transition("search_ranker", version, "Production").stage == "Production"


def test_an_owner_overrides_failing_gates_with_a_reason_audited_as_an_override(gated, given):
    version = staged(gated, val_auc="0.5")
    with pytest.raises(InvalidInput) as refused:
        gated.transition(NAME, version, "Production", override_gates=True)
    assert refused.value.code == "gate.override_reason_required"
    moved = gated.transition(NAME, version, "Production", override_gates=True,
                             reason="hotfix for incident 4711")
    assert moved.stage == "Production"
    override, stage_changed = gated.history(NAME, version)[-2:]
    assert override.action == "gates_overridden" and stage_changed.action == "stage_changed"
    assert override.correlation_id == stage_changed.correlation_id
    assert override.reason == "hotfix for incident 4711"
    assert "check:val_auc >= 0.85" in override.payload["failed"]
    assert override.payload["report"]["passed"] is False


def test_only_an_owner_or_an_admin_may_override_gates(gated, given):
    version = staged(gated, val_auc="0.5")
    with gated.db.read() as session:
        model_id = session.execute(select(tables.Model.id)).scalar_one()
    maintainer = gated.as_principal(Principal("mia", user_id=7,
                                              model_roles={model_id: Role.MAINTAINER}))
    before = given.state()
    with pytest.raises(PermissionDenied):
        maintainer.transition(NAME, version, "Production", override_gates=True,
                              reason="I am sure")
    assert given.state() == before
    owner = gated.as_principal(Principal("olga", user_id=8, model_roles={model_id: Role.OWNER}))
    assert owner.transition(NAME, version, "Production", override_gates=True,
                            reason="owner's call").stage == "Production"


def test_time_in_staging_is_measured_on_the_registry_clock(tmp_path, make_registry):
    (tmp_path / "charter.toml").write_text('[gates.Production]\nmin_time_in_staging = "24h"\n')
    registry = make_registry()
    from datetime import UTC, datetime, timedelta

    now = [datetime(2025, 3, 1, 9, tzinfo=UTC)]
    registry.clock = lambda: now[0]
    version = registry.register(NAME, "s3://models/fraud/1").version
    registry.transition(NAME, version, "Staging")
    now[0] += timedelta(hours=20)
    with pytest.raises(Conflict) as refused:
        registry.transition(NAME, version, "Production")
    assert refused.value.hint == "wait 4h more in Staging"
    now[0] += timedelta(hours=4)
    assert registry.transition(NAME, version, "Production").stage == "Production"


def test_the_refusal_body_survives_json(gated):
    version = staged(gated, val_auc="0.81")
    with pytest.raises(Conflict) as refused:
        gated.transition(NAME, version, "Production")
    assert json.loads(json.dumps(refused.value.to_dict()))["details"]["report"]["to_stage"] \
        == "Production"


def test_per_model_gates_follow_the_model_through_a_rename(tmp_path, make_registry):
    (tmp_path / "charter.toml").write_text(GATES + """
[models.fraud_detector.gates.Staging]
required_tags = ["owner", "dataset"]
""")
    registry = make_registry(actor="ravi")
    version = registry.register(NAME, "s3://models/fraud/1", description="calibrated",
                                tags={"owner": "@meera"}).version
    registry.rename_model(NAME, "fraud_detection_binary", reason="naming review")
    # declared under the former name: still this model's gate after the rename
    with pytest.raises(Conflict) as refused:
        registry.transition("fraud_detection_binary", version, "Staging", reason="validated")
    assert refused.value.code == "gate.failed"
    assert "dataset" in refused.value.hint
    assert registry.gates_for("fraud_detection_binary", "Staging").required_tags == (
        "owner", "dataset")
    report = registry.check_gates("fraud_detection_binary", version, "Staging")
    assert ("tag:dataset", False) in [(r.name, r.passed) for r in report.results]


def test_the_current_names_own_gates_win_over_a_former_names(tmp_path, make_registry):
    (tmp_path / "charter.toml").write_text(GATES + """
[models.fraud_detector.gates.Staging]
required_tags = ["owner", "dataset"]

[models.fraud_detection_binary.gates.Staging]
required_tags = []
""")
    registry = make_registry(actor="ravi")
    version = registry.register(NAME, "s3://models/fraud/1").version
    registry.rename_model(NAME, "fraud_detection_binary", reason="naming review")
    registry.transition("fraud_detection_binary", version, "Staging", reason="validated")
    assert registry.get_version("fraud_detection_binary", version).stage == "Staging"
