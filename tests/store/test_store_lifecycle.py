"""Stages, promotion and rollback on a real database: DESIGN §2.3, §2.4, §2.5."""

from __future__ import annotations

import pytest

from charter.domain.errors import Conflict, InvalidInput
from charter.domain.lifecycle import DEFAULT_TABLE, Stage
from charter.service import Policies, RegistryService

NAME = "fraud_detector"

FORBIDDEN = [
    ("None", "Production"),
    ("None", "Archived"),
    ("Staging", "None"),
    ("Production", "None"),
    ("Archived", "None"),
    ("Archived", "Staging"),
    ("Archived", "Production"),
]
ALLOWED = [
    ("None", "Staging"),
    ("Staging", "Production"),
    ("Staging", "Archived"),
    ("Production", "Staging"),
    ("Production", "Archived"),
]


@pytest.mark.parametrize(("from_stage", "to_stage"), FORBIDDEN)
def test_forbidden_transition_is_refused_and_changes_nothing(registry, given, clock,
                                                             from_stage, to_stage):
    version = given.version_in(NAME, from_stage)
    clock.advance(hours=1)
    before = given.state()

    with pytest.raises(Conflict) as err:
        registry.transition(NAME, version, to_stage, archive_existing=True, reason="try")

    assert err.value.code == "stage.illegal_transition"
    assert err.value.details["from"] == from_stage
    allowed = [s.value for s in DEFAULT_TABLE.allowed_from(Stage(from_stage))]
    assert err.value.details["allowed"] == allowed
    for stage in allowed:  # the message's hint names the allowed moves
        assert stage in err.value.hint
    assert given.state() == before


@pytest.mark.parametrize("stage", ["None", "Staging", "Production", "Archived"])
def test_moving_a_version_to_its_own_stage_is_refused_and_changes_nothing(
        registry, given, stage):
    version = given.version_in(NAME, stage)
    before = given.state()
    with pytest.raises(Conflict) as err:
        registry.transition(NAME, version, stage.upper())
    assert err.value.code == "stage.unchanged"
    assert given.state() == before


@pytest.mark.parametrize(("from_stage", "to_stage"), ALLOWED)
def test_allowed_transition_is_recorded_as_an_event(registry, given, clock,
                                                    from_stage, to_stage):
    version = given.version_in(NAME, from_stage)
    moved_at = clock.advance(hours=1)

    record = registry.transition(NAME, version, to_stage.lower(), reason="eval passed")

    assert record.stage == to_stage
    assert record.stage_changed_at == record.updated_at == moved_at
    assert record == registry.get_version(NAME, version)  # answered without a second read
    assert registry.get_model(NAME).updated_at == moved_at  # the move touched its model
    event = registry.history(NAME)[-1]
    assert (event.action, event.version, event.from_stage, event.to_stage) == (
        "stage_changed", version, from_stage, to_stage)
    assert (event.reason, event.actor, event.time) == ("eval passed", "tester", moved_at)
    assert registry.verify_audit().ok


def test_unknown_stage_is_refused_with_the_stage_list(registry, given):
    given.versions(NAME)
    before = given.state()
    with pytest.raises(InvalidInput) as err:
        registry.transition(NAME, 1, "Canary")
    assert err.value.code == "stage.unknown"
    assert given.state() == before


def test_promote_without_archive_existing_is_refused_when_production_taken(registry, given):
    live = given.version_in(NAME, "Production")
    candidate = given.version_in(NAME, "Staging")
    before = given.state()

    with pytest.raises(Conflict) as err:
        registry.transition(NAME, candidate, "Production", reason="better AUC")

    assert err.value.code == "stage.production_taken"
    assert err.value.details == {"production": live, "version": candidate}
    assert given.state() == before


def test_promote_with_archive_existing_archives_the_old_version_in_the_same_transaction(
        registry, given):
    old = given.version_in(NAME, "Production")
    new = given.version_in(NAME, "Staging")

    registry.transition(NAME, new, "Production", archive_existing=True, reason="better AUC")

    assert registry.get_model(NAME).stages == {"Production": [new], "Archived": [old]}
    archived, promoted = registry.history(NAME)[-2:]
    assert (archived.version, archived.from_stage, archived.to_stage) == (
        old, "Production", "Archived")
    assert (promoted.version, promoted.from_stage, promoted.to_stage) == (
        new, "Staging", "Production")
    assert archived.correlation_id == promoted.correlation_id
    assert archived.reason == promoted.reason == "better AUC"
    assert archived.time == promoted.time


def test_each_write_gets_its_own_correlation_id(registry, given):
    given.versions(NAME, 2)
    ids = [e.correlation_id for e in registry.history(NAME)]
    assert len(set(ids)) == len(ids) - 1  # create + first register share one transaction


def test_staging_holds_several_versions(registry, given):
    given.versions(NAME, 3)
    for version in (1, 2, 3):
        registry.transition(NAME, version, "Staging")
    assert registry.get_model(NAME).stages == {"Staging": [1, 2, 3]}


def test_promotion_precondition_refuses_when_production_moved_on(registry, given):
    given.version_in(NAME, "Production")  # v1
    given.version_in(NAME, "Staging")  # v2
    candidate = given.version_in(NAME, "Staging")  # v3
    before = given.state()

    for stale in (2, None):
        with pytest.raises(Conflict) as err:
            registry.transition(NAME, candidate, "Production", archive_existing=True,
                                expect_production=stale)
        assert err.value.code == "stage.precondition_failed"
        assert err.value.details == {"expected": stale, "actual": 1}
    assert given.state() == before

    registry.transition(NAME, candidate, "Production", archive_existing=True,
                        expect_production=1)
    assert registry.get_model(NAME).stages["Production"] == [candidate]


def test_promotion_precondition_none_means_production_must_be_empty(registry, given):
    first = given.version_in(NAME, "Staging")
    registry.transition(NAME, first, "Production", expect_production=None)
    second = given.version_in(NAME, "Staging")
    with pytest.raises(Conflict) as err:
        registry.transition(NAME, second, "Production", expect_production=None,
                            archive_existing=True)
    assert err.value.code == "stage.precondition_failed"


def test_rollback_restores_the_previous_production_version_atomically(registry, given):
    old = given.version_in(NAME, "Production")
    new = given.version_in(NAME, "Staging")
    registry.transition(NAME, new, "Production", archive_existing=True)

    restored = registry.rollback(NAME, reason="latency regression in v2")

    assert (restored.version, restored.stage) == (old, "Production")
    assert registry.get_model(NAME).stages == {"Production": [old], "Staging": [new]}
    demoted, back = registry.history(NAME)[-2:]
    assert (demoted.action, back.action) == ("rolled_back", "rolled_back")
    assert (demoted.version, demoted.from_stage, demoted.to_stage) == (
        new, "Production", "Staging")
    assert (back.version, back.from_stage, back.to_stage) == (old, "Archived", "Production")
    assert demoted.correlation_id == back.correlation_id
    assert demoted.reason == back.reason == "latency regression in v2"
    assert registry.verify_audit().ok


def test_rollback_walks_back_through_earlier_production_versions(registry, given):
    for _ in range(3):
        version = given.version_in(NAME, "Staging")
        registry.transition(NAME, version, "Production", archive_existing=True)
    assert registry.rollback(NAME, reason="v3 broke").version == 2
    assert registry.rollback(NAME, reason="v2 broke too").version == 1
    assert registry.get_model(NAME).stages == {"Production": [1], "Staging": [2, 3]}


def test_rollback_without_a_predecessor_is_refused_and_changes_nothing(registry, given):
    given.version_in(NAME, "Production")
    before = given.state()
    with pytest.raises(Conflict) as err:
        registry.rollback(NAME, reason="panic")
    assert err.value.code == "rollback.no_target"
    assert given.state() == before


def test_rollback_with_nothing_in_production_is_refused(registry, given):
    given.version_in(NAME, "Staging")
    before = given.state()
    with pytest.raises(Conflict) as err:
        registry.rollback(NAME, reason="panic")
    assert err.value.code == "rollback.no_production"
    assert given.state() == before


def test_rollback_skips_a_predecessor_that_was_deleted(registry, given):
    old = given.version_in(NAME, "Production")
    new = given.version_in(NAME, "Staging")
    registry.transition(NAME, new, "Production", archive_existing=True)
    registry.delete_version(NAME, old, reason="leaked labels")
    with pytest.raises(Conflict) as err:
        registry.rollback(NAME, reason="panic")
    assert err.value.code == "rollback.no_target"


def test_rollback_requires_a_reason(registry, given):
    old = given.version_in(NAME, "Production")
    registry.transition(NAME, given.version_in(NAME, "Staging"), "Production",
                        archive_existing=True)
    before = given.state()
    for blank in ("", "   "):
        with pytest.raises(InvalidInput) as err:
            registry.rollback(NAME, reason=blank)
        assert err.value.code == "reason.required"
    assert given.state() == before
    assert registry.get_version(NAME, old).stage == "Archived"


def test_extra_transition_from_config_file_is_allowed(make_registry, tmp_path):
    (tmp_path / "charter.toml").write_text(
        '[lifecycle]\nextra_transitions = [["None", "Archived"]]\n')
    registry = make_registry()
    registry.register(NAME, "s3://bucket/m")

    record = registry.transition(NAME, 1, "Archived", reason="never worth validating")

    assert record.stage == "Archived"
    assert registry.history(NAME)[-1].from_stage == "None"
    registry.register(NAME, "s3://bucket/m")
    with pytest.raises(Conflict):  # edges not configured stay forbidden
        registry.transition(NAME, 2, "Production")


def test_extra_transition_from_policies_is_allowed(registry):
    custom = RegistryService(registry.db, registry.blobs, Policies(
        naming=registry.policies.naming, sources=registry.policies.sources,
        transitions=DEFAULT_TABLE.with_edges([("Archived", "Staging")])), actor="tester")
    custom.register(NAME, "s3://bucket/m")
    custom.transition(NAME, 1, "Staging")
    custom.transition(NAME, 1, "Archived")
    assert custom.transition(NAME, 1, "Staging", reason="second look").stage == "Staging"
    registry.transition(NAME, 1, "Archived")
    with pytest.raises(Conflict):  # the default table over the same store still refuses
        registry.transition(NAME, 1, "Staging")
