"""Version numbers and name identity: DESIGN §2.1, §2.2, §2.6 (tombstones)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from charter.domain.errors import AlreadyExists, CharterError, InvalidInput, NotFound
from charter.store import tables

NAME = "fraud_detector"


def test_registry_assigns_version_numbers_one_two_three_per_name(registry, given):
    assert given.versions(NAME, 3) == [1, 2, 3]
    assert given.versions("churn_predictor", 2) == [1, 2]
    assert registry.get_model(NAME).last_version == 3
    assert registry.get_version(NAME, 3).stage == "None"


def test_new_versions_start_in_stage_none_with_their_source(registry):
    version = registry.register(NAME, "runs:/abc123def456/model", run_id="abc123def456")
    assert (version.stage, version.source, version.run_id) == (
        "None", "runs:/abc123def456/model", "abc123def456")
    assert version.status == "READY"


def test_number_of_a_deleted_version_is_never_given_out_again(registry, given):
    given.versions(NAME, 3)
    given.moved(NAME, 3, "Archived")
    registry.delete_version(NAME, 3, reason="trained on leaked labels")

    assert given.versions(NAME) == [4]
    with pytest.raises(NotFound) as err:
        registry.get_version(NAME, 3)
    assert err.value.code == "version.not_found"


def test_deleting_and_recreating_a_model_continues_its_version_counter(registry, given):
    given.versions(NAME, 3)
    for version in (1, 2, 3):
        given.moved(NAME, version, "Archived")
    registry.delete_model(NAME, reason="product retired")
    with pytest.raises(NotFound):
        registry.get_model(NAME)

    assert given.versions(NAME) == [4]  # the tombstone kept the counter
    assert registry.get_model(NAME).last_version == 4


def test_recreating_a_deleted_model_explicitly_keeps_the_tombstone_counter(registry, given):
    given.versions(NAME, 2)
    registry.delete_model(NAME, reason="product retired")
    registry.create_model(NAME)
    assert given.versions(NAME) == [3]


def test_names_are_unique_regardless_of_letter_case(make_registry):
    registry = make_registry(naming_mode="off")
    registry.create_model("fraud_detector")
    with pytest.raises(AlreadyExists) as err:
        registry.create_model("Fraud_Detector")
    assert err.value.code == "model.exists"
    assert [m.name for m in registry.list_models().items] == ["fraud_detector"]


def test_registering_under_another_letter_case_adds_to_the_same_model(make_registry):
    registry = make_registry(naming_mode="warn")
    registry.register("fraud_detector", "s3://bucket/m1")
    assert registry.register("FRAUD_DETECTOR", "s3://bucket/m2").version == 2
    assert registry.get_model("Fraud_Detector").name == "fraud_detector"


def test_naming_policy_refuses_a_version_marker_and_registers_nothing(registry, given):
    before = given.state()
    with pytest.raises(InvalidInput) as err:
        registry.register("fraud_detector_v2", given.source)
    assert err.value.code == "name.invalid"
    assert given.state() == before


def test_an_absurdly_large_version_number_is_refused_cleanly(registry, given):
    given.versions(NAME)
    # Any CharterError will do (version.invalid or version.not_found); a raw driver
    # error (OverflowError on SQLite) is not an answer a client can act on.
    for huge in (2**31, 2**63, 10**20):
        with pytest.raises(CharterError):
            registry.get_version(NAME, huge)
        with pytest.raises(CharterError):
            registry.transition(NAME, huge, "Staging")
    # uris.MAX_VERSION lets 2**63-1 through the parser; the store must still answer.
    with pytest.raises(CharterError):
        registry.resolve(f"models:/{NAME}/{2**40}")


@pytest.mark.parametrize("bad_name", [
    pytest.param("a" * 300, id="longer-than-the-column"),
    pytest.param("fraud\x00detector", id="nul"),
    pytest.param("fraud/detector", id="slash"),
])
def test_with_naming_off_an_unstorable_or_unaddressable_name_is_refused(
        make_registry, bad_name):
    # naming_mode=off turns the style rules off, not the storage and URI limits:
    # PostgreSQL cannot store NUL or more than 256 characters, and models:/ URIs
    # cannot carry '/'. The refusal must be a CharterError that changes nothing.
    registry = make_registry(naming_mode="off")
    with pytest.raises(CharterError):
        registry.create_model(bad_name)
    assert registry.list_models().items == []


# --- the database itself keeps the invariants -------------------------------------------

NOW = datetime(2025, 1, 1, tzinfo=UTC).replace(tzinfo=None)


def _model_row(name: str) -> dict:
    return {"name": name, "name_key": name.lower(), "description": "", "last_version": 0,
            "created_at": NOW, "updated_at": NOW}


def _version_row(model_id: int, version: int, stage: str) -> dict:
    return {"model_id": model_id, "version": version, "stage": stage, "created_at": NOW,
            "updated_at": NOW, "stage_changed_at": NOW}


def _model_id(connection, name: str) -> int:
    return connection.execute(
        tables.Model.__table__.select().where(tables.Model.name_key == name)).one().id


def test_database_refuses_a_second_model_row_with_the_same_name_key(registry):
    registry.create_model(NAME)
    with pytest.raises(IntegrityError):
        with registry.db.engine.begin() as connection:
            connection.execute(insert(tables.Model).values(_model_row("FRAUD_DETECTOR")
                                                           | {"name_key": NAME}))


def test_database_refuses_a_second_production_version_of_one_model(registry, given):
    given.versions(NAME, 2)
    given.moved(NAME, 1, "Production")
    given.moved(NAME, 2, "Staging")
    with registry.db.engine.begin() as connection:
        model_id = _model_id(connection, NAME)
    with pytest.raises(IntegrityError):
        with registry.db.engine.begin() as connection:
            connection.execute(insert(tables.Version).values(_version_row(model_id, 3,
                                                                          "Production")))
    with pytest.raises(IntegrityError):
        with registry.db.engine.begin() as connection:
            connection.execute(update(tables.Version).where(
                tables.Version.model_id == model_id, tables.Version.version == 2)
                .values(stage="Production"))
    assert registry.get_model(NAME).stages == {"Production": [1], "Staging": [2]}


def test_one_production_index_is_per_model(registry, given):
    for name in (NAME, "churn_predictor"):
        given.versions(name)
        given.moved(name, 1, "Production")
    assert registry.get_model("churn_predictor").stages == {"Production": [1]}


def test_database_refuses_a_duplicate_version_number_and_an_unknown_stage(registry, given):
    given.versions(NAME)
    with registry.db.engine.begin() as connection:
        model_id = _model_id(connection, NAME)
    for row in (_version_row(model_id, 1, "None"), _version_row(model_id, 2, "Canary"),
                _version_row(model_id, 0, "None")):
        with pytest.raises(IntegrityError):
            with registry.db.engine.begin() as connection:
                connection.execute(insert(tables.Version).values(row))
    assert [v.version for v in registry.list_versions(NAME)] == [1]


def test_store_keeps_file_sizes_beyond_two_gibibytes(registry, given):
    # Model files over 2 GiB are common (LLM weights); the column must hold them.
    given.versions(NAME)
    size = 3 * 2**30
    with registry.db.engine.begin() as connection:
        model_id = _model_id(connection, NAME)
        version_id = connection.execute(tables.Version.__table__.select().where(
            tables.Version.model_id == model_id)).one().id
    with registry.db.engine.begin() as connection:
        connection.execute(insert(tables.VersionFile).values(
            version_id=version_id, path="weights.bin", size=size, sha256="a" * 64))
    assert registry.get_version(NAME, 1).files[0].size == size


@pytest.mark.parametrize(("table", "column", "value"), [
    (tables.Version, "source", "s3://attacker-bucket/backdoor.pkl"),
    (tables.Version, "digest", "b" * 64),
    (tables.VersionFile, "sha256", "c" * 64),
])
def test_database_refuses_to_change_what_a_version_number_means(registry, tmp_path, table,
                                                                 column, value):
    # DESIGN §2 (enforced by the database): "a version's source / artifact digest never
    # changes after registration: models:/fraud_detector/42 means the same bytes forever".
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"weights")
    registry.register(NAME, path=tmp_path / "model")
    before = registry.get_version(NAME, 1)
    with pytest.raises(DBAPIError):
        with registry.db.engine.begin() as connection:
            connection.execute(update(table).values({column: value}))
    assert registry.get_version(NAME, 1) == before


def test_models_are_listed_in_name_order_across_pages(make_registry):
    registry = make_registry(naming_mode="off")
    names = ["search_ranker", "churn_predictor", "fraud_detector", "demand_forecaster",
             "fraudadetector"]
    for name in names:
        registry.create_model(name)
    seen, token = [], ""
    for _page in range(len(names)):
        page = registry.list_models(max_results=2, page_token=token)
        seen += [m.name for m in page.items]
        token = page.next_token
        if not token:
            break
    assert seen == sorted(names)
    # name_like is a plain substring: '_' is not a LIKE wildcard
    assert [m.name for m in registry.list_models(name_like="d_d").items] == ["fraud_detector"]


def test_a_version_read_whole_matches_it_read_in_parts(registry, tmp_path):
    """``get_version`` reads a version with its tags, files and aliases in one statement
    (store/at_once.py ``record_at_once``, JSON arrays on either database); the record is
    the same as the one built from the row and its extras read apart (``versions.record``)."""
    from charter.store import at_once, versions

    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"\x00" * 64)
    (model / "MLmodel").write_text("flavors: {}\n")
    registry.register(NAME, path=model, tags={"team": "risk", "commit": "abc"})
    registry.set_alias(NAME, "champion", 1)
    registry.set_alias(NAME, "blue", 1)

    whole = registry.get_version(NAME, 1)
    with registry.db.snapshot() as reader:
        parts = versions.record(reader, NAME, 1)
    assert whole == parts
    assert whole.tags == {"team": "risk", "commit": "abc"}
    assert whole.aliases == ["blue", "champion"]
    assert [f.path for f in whole.files] == ["MLmodel", "weights.bin"]
    with registry.db.one_statement() as single:
        assert single is not None
        assert at_once.record_at_once(single, NAME, 1) == parts
        assert at_once.record_at_once(single, NAME, 2) is None
        assert at_once.record_at_once(single, "no_such_model", 1) is None
