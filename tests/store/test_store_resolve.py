"""Every ``models:/`` form, now and as of a past time (DESIGN §4)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from charter.domain.errors import InvalidInput, NotFound

NAME = "fraud_detector"


@pytest.fixture
def populated(registry, given):
    """v1 Archived, v2 Production, v3 and v4 Staging, v5 None; alias champion -> v2."""
    given.versions(NAME, 5)
    given.moved(NAME, 1, "Archived")
    given.moved(NAME, 2, "Production")
    given.moved(NAME, 3, "Staging")
    given.moved(NAME, 4, "Staging")
    registry.set_alias(NAME, "champion", 2)
    return registry


@pytest.mark.parametrize(("uri", "expected"), [
    (f"models:/{NAME}/3", 3),
    (f"models:/{NAME}/Production", 2),
    (f"models:/{NAME}/production", 2),
    (f"models:/{NAME}/Staging", 4),  # several in Staging: the highest
    (f"models:/{NAME}/None", 5),
    (f"models:/{NAME}/Archived", 1),
    (f"models:/{NAME}@champion", 2),
    (f"models:/{NAME}/latest", 5),
    (f"models:/{NAME.upper()}/1", 1),
])
def test_every_uri_form_resolves_to_its_version(populated, uri, expected):
    resolution = populated.resolve(uri)
    assert resolution.version.version == expected
    assert resolution.version.name == NAME
    assert resolution.artifact_location == resolution.version.source
    assert resolution.digest == resolution.version.digest
    assert resolution.warnings == []


def test_stage_names_come_back_canonical_in_the_uri(populated):
    assert populated.resolve(f"models:/{NAME}/PRODUCTION").uri == f"models:/{NAME}/Production"


def test_empty_stage_is_a_not_found_error_not_an_empty_answer(registry, given):
    given.versions(NAME)
    with pytest.raises(NotFound) as err:
        registry.resolve(f"models:/{NAME}/Production")
    assert err.value.code == "stage.empty"
    assert err.value.kind == "not_found"
    assert err.value.details == {"name": NAME, "stage": "Production"}


def test_unknown_model_or_version_is_not_found(registry, given):
    given.versions(NAME)
    for uri, code in ((f"models:/{NAME}/9", "version.not_found"),
                      ("models:/fraud_detectr/1", "model.not_found")):
        with pytest.raises(NotFound) as err:
            registry.resolve(uri)
        assert err.value.code == code
    assert "fraud_detector" in err.value.hint  # did you mean …


@pytest.mark.parametrize("uri", [
    "", "fraud_detector/1", "models:/", f"models:/{NAME}", f"models:/{NAME}/",
    f"models:/{NAME}/1/2", f"models:/{NAME}/01", f"models:/{NAME}/Canary",
    f"models:/{NAME}@", f"models:/{NAME}@production", f"models:/{NAME}/-1",
    f"models:/{NAME}/1\x00", f"models:/../{NAME}/1", "models://fraud_detector/1",
    "runs:/abc/model",
])
def test_malformed_uri_is_refused(populated, uri):
    with pytest.raises(InvalidInput) as err:
        populated.resolve(uri)
    assert err.value.code == "uri.invalid"


def test_resolve_as_of_answers_from_the_audit_events(registry, given, clock):
    given.versions(NAME, 2)
    given.moved(NAME, 1, "Staging")
    given.moved(NAME, 2, "Staging")
    t1 = clock.advance(days=1)
    registry.transition(NAME, 1, "Production")
    t2 = clock.advance(days=10)
    registry.transition(NAME, 2, "Production", archive_existing=True)
    uri = f"models:/{NAME}/Production"

    assert registry.resolve(uri, as_of=t1 + (t2 - t1) / 2).version.version == 1
    assert registry.resolve(uri, as_of=t1).version.version == 1
    assert registry.resolve(uri, as_of=t2).version.version == 2
    assert registry.resolve(uri).version.version == 2
    naive_utc = (t1 + timedelta(days=1)).replace(tzinfo=None)  # a naive time is UTC
    assert registry.resolve(uri, as_of=naive_utc).version.version == 1
    with pytest.raises(NotFound) as err:
        registry.resolve(uri, as_of=t1 - timedelta(microseconds=1))
    assert err.value.code == "stage.empty"


def test_resolve_as_of_covers_aliases_latest_and_rollback(registry, given, clock):
    given.versions(NAME)
    registry.set_alias(NAME, "champion", 1)
    before_v2 = clock.advance(hours=1)
    clock.advance(hours=1)
    given.versions(NAME)
    registry.set_alias(NAME, "champion", 2)
    given.moved(NAME, 1, "Production")
    given.moved(NAME, 2, "Staging")
    registry.transition(NAME, 2, "Production", archive_existing=True)
    promoted = clock.advance(hours=1)
    clock.advance(hours=1)
    registry.rollback(NAME, reason="regression")

    assert registry.resolve(f"models:/{NAME}@champion", as_of=before_v2).version.version == 1
    assert registry.resolve(f"models:/{NAME}/latest", as_of=before_v2).version.version == 1
    assert registry.resolve(f"models:/{NAME}/Production", as_of=promoted).version.version == 2
    assert registry.resolve(f"models:/{NAME}/Production").version.version == 1
    with pytest.raises(NotFound):
        registry.resolve(f"models:/{NAME}/2", as_of=before_v2)


def test_resolve_as_of_through_a_rename(registry, given, clock):
    given.version_in("fraud_detector", "Production")
    deployed = clock.advance(hours=1)
    clock.advance(hours=1)
    registry.rename_model("fraud_detector", "fraud_detection_binary")
    resolution = registry.resolve("models:/fraud_detector/Production", as_of=deployed)
    assert resolution.version.version == 1
    assert resolution.warnings == ["'fraud_detector' is now 'fraud_detection_binary'; update "
                                   "the URI to models:/fraud_detection_binary/Production"]


def test_latest_versions_gives_the_newest_per_stage(populated):
    latest = {v.stage: v.version for v in populated.latest_versions(NAME)}
    assert latest == {"None": 5, "Staging": 4, "Production": 2, "Archived": 1}
    assert [v.version for v in populated.latest_versions(NAME, ["staging"])] == [4]
