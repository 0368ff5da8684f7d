"""Deleting is rare and deliberate: DESIGN §2.6; the audit trail outlives it (§2.7)."""

from __future__ import annotations

import pytest

from charter.domain.errors import Conflict, InvalidInput, NotFound
from charter.store import tables

NAME = "fraud_detector"


@pytest.mark.parametrize("stage", ["None", "Staging", "Production"])
def test_version_outside_archived_cannot_be_deleted(registry, given, stage):
    version = given.version_in(NAME, stage)
    before = given.state()
    with pytest.raises(Conflict) as err:
        registry.delete_version(NAME, version, reason="cleanup")
    assert err.value.code == "version.not_deletable"
    assert given.state() == before


def test_archived_version_is_deleted_with_a_reason_and_the_event_kept(registry, given):
    version = given.version_in(NAME, "Archived")
    registry.set_alias(NAME, "challenger", version)

    registry.delete_version(NAME, version, reason="trained on leaked labels")

    assert registry.list_versions(NAME) == []
    assert registry.get_model(NAME).aliases == {}
    event = registry.history(NAME)[-1]
    assert (event.action, event.version, event.from_stage, event.reason) == (
        "version_deleted", version, "Archived", "trained on leaked labels")
    assert [e.action for e in registry.history(NAME, version)][:2] == [
        "version_registered", "stage_changed"]
    assert registry.verify_audit().ok


@pytest.mark.parametrize("blank", ["", "  \n "])
def test_deleting_requires_a_reason(registry, given, blank):
    given.version_in(NAME, "Archived")
    before = given.state()
    with pytest.raises(InvalidInput) as err:
        registry.delete_version(NAME, 1, reason=blank)
    assert err.value.code == "reason.required"
    with pytest.raises(InvalidInput) as err:
        registry.delete_model(NAME, reason=blank)
    assert err.value.code == "reason.required"
    assert given.state() == before


@pytest.mark.parametrize("live_stage", ["Staging", "Production"])
def test_model_with_a_live_version_cannot_be_deleted(registry, given, live_stage):
    given.version_in(NAME, "Archived")
    live = given.version_in(NAME, live_stage)
    before = given.state()
    with pytest.raises(Conflict) as err:
        registry.delete_model(NAME, reason="product retired")
    assert err.value.code == "model.not_deletable"
    assert err.value.details["live"] == [live]
    assert given.state() == before


def test_model_without_live_versions_is_deleted_and_its_events_kept(registry, given):
    given.version_in(NAME, "Archived")
    given.versions(NAME)  # stage None is not live
    registry.set_model_tag(NAME, "team", "payments")
    events_before = given.count(tables.Event)

    registry.delete_model(NAME, reason="product retired")

    with pytest.raises(NotFound) as err:
        registry.get_model(NAME)
    assert err.value.code == "model.not_found"
    assert given.count(tables.Version) == given.count(tables.ModelTag) == 0
    feed = registry.events(limit=1000)
    assert len(feed) == events_before + 1
    assert (feed[-1].action, feed[-1].model, feed[-1].reason) == (
        "model_deleted", NAME, "product retired")
    assert {e.model for e in feed} == {NAME}
    assert registry.verify_audit().ok


def test_history_of_a_recreated_name_still_shows_the_deleted_model(registry, given):
    given.versions(NAME, 2)
    registry.delete_model(NAME, reason="product retired")
    given.versions(NAME)
    actions = [(e.action, e.version) for e in registry.history(NAME)]
    assert ("model_deleted", None) in actions
    assert actions[-1] == ("version_registered", 3)


def test_deleting_an_unknown_model_or_version_is_not_found(registry, given):
    given.versions(NAME)
    before = given.state()
    with pytest.raises(NotFound):
        registry.delete_model("churn_predictor", reason="typo")
    with pytest.raises(NotFound):
        registry.delete_version(NAME, 7, reason="typo")
    assert given.state() == before


def test_a_name_deleted_twice_keeps_the_counter_of_its_last_life(registry, given):
    """The tombstone is written once and moved on: numbers given out in a second life are
    never given out again either (and a former name of the model is retired with it)."""
    given.versions(NAME, 2)
    registry.rename_model(NAME, "fraud_scorer", reason="clearer")
    registry.delete_model("fraud_scorer", reason="product retired")
    given.versions(NAME, 2)  # v3, v4
    registry.delete_model(NAME, reason="retired again")
    assert given.versions(NAME) == [5]
    assert registry.register("fraud_scorer", "s3://models/fraud/x").version == 3
