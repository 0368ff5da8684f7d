"""Tags, aliases and descriptions: DESIGN §2.8, §2.9, all audited (§2.7)."""

from __future__ import annotations

import pytest

from charter.domain.errors import InvalidInput, NotFound

NAME = "fraud_detector"


def test_model_and_version_tags_are_set_overwritten_deleted_and_audited(registry, given):
    given.versions(NAME)
    registry.set_model_tag(NAME, "team", "payments")
    registry.set_model_tag(NAME, "team", "risk")
    registry.set_version_tag(NAME, 1, "algorithm", "xgboost")
    registry.delete_model_tag(NAME, "team")

    assert registry.get_model(NAME).tags == {}
    assert registry.get_version(NAME, 1).tags == {"algorithm": "xgboost"}
    tag_events = [(e.action, e.version, e.payload) for e in registry.history(NAME)
                  if e.action.startswith("tag_")]
    assert tag_events == [
        ("tag_set", None, {"key": "team", "value": "payments", "previous": None}),
        ("tag_set", None, {"key": "team", "value": "risk", "previous": "payments"}),
        ("tag_set", 1, {"key": "algorithm", "value": "xgboost", "previous": None}),
        ("tag_deleted", None, {"key": "team", "previous": "risk"}),
    ]


def test_tags_at_the_size_limits_are_stored_exactly(registry, given):
    given.versions(NAME)
    key, value = "k" * 250, "v" * 5000
    registry.set_model_tag(NAME, key, value)
    registry.set_version_tag(NAME, 1, key, value)
    assert registry.get_model(NAME).tags == {key: value}
    assert registry.get_version(NAME, 1).tags == {key: value}


@pytest.mark.parametrize(("key", "value"), [
    pytest.param("k" * 251, "v", id="key-251"),
    pytest.param("team", "v" * 5001, id="value-5001"),
    pytest.param("", "v", id="empty-key"),
    pytest.param("team", "a\x00b", id="nul-in-value"),
    pytest.param("tëam", "v", id="non-ascii-key"),
])
def test_invalid_tag_is_refused_and_changes_nothing(registry, given, key, value):
    given.versions(NAME)
    before = given.state()
    for attempt in (lambda: registry.set_model_tag(NAME, key, value),
                    lambda: registry.set_version_tag(NAME, 1, key, value),
                    lambda: registry.register(NAME, given.source, tags={key: value}),
                    lambda: registry.create_model("churn_predictor", tags={key: value})):
        with pytest.raises(InvalidInput) as err:
            attempt()
        assert err.value.code == "tag.invalid"
    assert given.state() == before


def test_deleting_a_missing_tag_is_not_found_and_changes_nothing(registry, given):
    given.versions(NAME)
    before = given.state()
    with pytest.raises(NotFound) as err:
        registry.delete_version_tag(NAME, 1, "team")
    assert err.value.code == "tag.not_found"
    assert given.state() == before


def test_descriptions_are_updated_audited_and_bounded(registry, given):
    given.versions(NAME)
    registry.update_model(NAME, description="Scores card payments for fraud")
    registry.update_version(NAME, 1, description="x" * 5000)
    assert registry.get_model(NAME).description == "Scores card payments for fraud"
    assert registry.get_version(NAME, 1).description == "x" * 5000
    assert [e.action for e in registry.history(NAME)][-2:] == [
        "model_updated", "version_updated"]

    before = given.state()
    with pytest.raises(InvalidInput) as err:
        registry.update_model(NAME, description="x" * 5001)
    assert err.value.code == "description.invalid"
    with pytest.raises(InvalidInput):
        registry.update_version(NAME, 1, description="bell\x07")
    assert given.state() == before


def test_alias_set_move_and_delete_are_audited(registry, given):
    given.versions(NAME, 2)
    registry.set_alias(NAME, "champion", 1)
    registry.set_alias(NAME, "Champion", 2)  # aliases are case-insensitive: a move
    registry.delete_alias(NAME, "champion")
    registry.set_alias(NAME, "challenger", 1)

    assert registry.get_model(NAME).aliases == {"challenger": 1}
    assert registry.get_version(NAME, 1).aliases == ["challenger"]
    alias_events = [(e.action, e.version, e.actor, e.payload) for e in registry.history(NAME)
                    if e.action.startswith("alias_")]
    assert alias_events == [
        ("alias_set", 1, "tester", {"alias": "champion", "previous": None}),
        ("alias_set", 2, "tester", {"alias": "champion", "previous": 1}),
        ("alias_deleted", 2, "tester", {"alias": "champion"}),
        ("alias_set", 1, "tester", {"alias": "challenger", "previous": None}),
    ]


def test_alias_resolves_through_a_models_uri(registry, given):
    given.versions(NAME, 3)
    registry.set_alias(NAME, "champion", 2)
    assert registry.resolve(f"models:/{NAME}@champion").version.version == 2
    assert registry.get_version_by_alias(NAME, "CHAMPION").version == 2


@pytest.mark.parametrize("alias", [
    "Production", "staging", "None", "ARCHIVED", "latest", "3", "v3", "V12", "",
    "has space", "-dash", "a" * 65,
])
def test_alias_may_not_be_a_stage_word_or_a_number(registry, given, alias):
    given.versions(NAME)
    before = given.state()
    with pytest.raises(InvalidInput) as err:
        registry.set_alias(NAME, alias, 1)
    assert err.value.code == "alias.invalid"
    assert given.state() == before


def test_alias_to_a_missing_version_or_a_missing_alias_is_not_found(registry, given):
    given.versions(NAME)
    before = given.state()
    with pytest.raises(NotFound):
        registry.set_alias(NAME, "champion", 9)
    with pytest.raises(NotFound) as err:
        registry.delete_alias(NAME, "champion")
    assert err.value.code == "alias.not_found"
    with pytest.raises(NotFound):
        registry.resolve(f"models:/{NAME}@champion")
    assert given.state() == before
