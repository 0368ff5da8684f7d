"""Renaming keeps deployments working: the old name becomes a redirect (DESIGN §2.1, §4)."""

from __future__ import annotations

import pytest

from charter.domain.errors import AlreadyExists, CharterError, InvalidInput, NotFound

OLD, NEW = "fraud_detector", "fraud_detection_binary"


def test_rename_keeps_the_old_name_resolving_with_a_warning(registry, given):
    version = given.version_in(OLD, "Production")

    renamed = registry.rename_model(OLD, NEW, reason="align with the product catalogue")

    assert (renamed.name, renamed.redirects) == (NEW, [OLD])
    resolution = registry.resolve(f"models:/{OLD}/Production")
    assert (resolution.version.name, resolution.version.version) == (NEW, version)
    assert len(resolution.warnings) == 1
    assert OLD in resolution.warnings[0] and f"models:/{NEW}/Production" in resolution.warnings[0]
    assert registry.resolve(f"models:/{NEW}/Production").warnings == []


def test_rename_is_checked_by_the_naming_policy_and_changes_nothing(registry, given):
    given.versions(OLD)
    before = given.state()
    with pytest.raises(InvalidInput) as err:
        registry.rename_model(OLD, "fraud_detector_v2")
    assert err.value.code == "name.invalid"
    assert given.state() == before


def test_old_name_cannot_be_taken_by_a_new_model(registry, given):
    given.versions(OLD)
    registry.rename_model(OLD, NEW)
    before = given.state()
    with pytest.raises(AlreadyExists) as err:
        registry.create_model(OLD)
    assert err.value.code == "name.redirected"
    assert err.value.details["redirects_to"] == NEW
    assert given.state() == before


def test_rename_onto_an_existing_model_or_its_redirect_is_refused(make_registry, given):
    registry = make_registry(naming_mode="warn")  # let the upper-case spelling through
    given.versions(OLD)
    given.versions("churn_predictor")
    registry.rename_model("churn_predictor", "churn_prediction_multiclass")
    before = given.state()
    with pytest.raises(AlreadyExists) as err:
        registry.rename_model(OLD, "CHURN_PREDICTION_MULTICLASS")
    assert err.value.code == "model.exists"
    with pytest.raises(AlreadyExists) as err:
        registry.rename_model(OLD, "churn_predictor")
    assert err.value.code == "name.redirected"
    assert given.state() == before


def test_history_after_rename_includes_events_from_before_it(registry, given):
    given.versions(OLD)
    given.moved(OLD, 1, "Staging")
    registry.rename_model(OLD, NEW, reason="catalogue")
    registry.transition(NEW, 1, "Production")

    history = registry.history(NEW)
    assert [(e.action, e.model) for e in history] == [
        ("model_created", OLD), ("version_registered", OLD), ("stage_changed", OLD),
        ("model_renamed", NEW), ("stage_changed", NEW)]
    assert history[3].payload["from"] == OLD and history[3].payload["to"] == NEW
    assert registry.history(OLD) == history  # the old name reads the same model


def test_writes_through_the_old_name_reach_the_renamed_model(registry, given):
    given.versions(OLD)
    registry.rename_model(OLD, NEW)
    assert registry.register(OLD, given.source).name == NEW
    registry.set_alias(OLD, "champion", 2)
    assert registry.get_model(NEW).aliases == {"champion": 2}
    assert registry.get_model(NEW).last_version == 2


def test_rollback_after_rename_sees_production_history_from_before_it(registry, given):
    first = given.version_in(OLD, "Production")
    second = given.version_in(OLD, "Staging")
    registry.transition(OLD, second, "Production", archive_existing=True)
    registry.rename_model(OLD, NEW)
    assert registry.rollback(NEW, reason="regression").version == first


def test_renaming_back_to_a_former_name_takes_it_back(registry, given):
    given.versions(OLD)
    registry.rename_model(OLD, NEW)
    registry.rename_model(NEW, OLD)
    model = registry.get_model(OLD)
    assert (model.name, model.redirects) == (OLD, [NEW])


def test_deleting_a_renamed_model_retires_its_former_names_too(registry, given):
    given.versions(OLD, 2)
    registry.rename_model(OLD, NEW)
    registry.delete_model(NEW, reason="product retired")
    with pytest.raises(NotFound):
        registry.resolve(f"models:/{OLD}/1")
    assert given.versions(OLD) == [3]
    assert given.versions(NEW) == [3]


def test_rename_onto_a_deleted_name_does_not_reuse_its_version_numbers(registry, given):
    # models:/<name>/<n> means the same bytes forever (DESIGN §2.2). A deleted name's
    # tombstone remembers that <name>/1..3 were given out; renaming another model onto
    # it would make models:/<name>/1 name different bytes. It must be refused.
    given.versions(NEW, 3)
    registry.delete_model(NEW, reason="product retired")
    given.versions(OLD)
    before = given.state()

    with pytest.raises(CharterError):
        registry.rename_model(OLD, NEW)

    assert given.state() == before
