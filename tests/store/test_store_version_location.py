"""Where a version is downloaded from (MLflow's get-download-uri), read narrowly.

``version_location`` answers what ``get_version`` would for a download URI — the model's
current name, the number, the source and whether files are stored — in one statement that
builds none of the version's tags, files and aliases (store/at_once.py), and refuses
exactly as ``get_version`` does: a missing model or version, a bad number, a model the
caller may not read. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from charter.domain.access import Principal
from charter.domain.errors import CharterError
from charter.domain.records import VersionLocation
from charter.service import RegistryService
from charter.store.driver import Reader

NAME = "fraud_detector"
SOURCE = "s3://models-bucket/fraud/model.pkl"


@pytest.fixture
def versions(registry: RegistryService, tmp_path: Path) -> RegistryService:
    """v1 registered from a source (with tags and an alias), v2 from files."""
    registry.register(NAME, SOURCE, tags={"team": "fraud", "commit": "c1"})
    registry.set_alias(NAME, "champion", 1)
    model = tmp_path / "model"
    (model / "data").mkdir(parents=True)
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "data" / "weights.bin").write_bytes(b"\x00" * 64)
    registry.register(NAME, path=model)
    return registry


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    original = Reader.one

    def one(self: Reader, sql: str, params: Any = ()) -> tuple[Any, ...] | None:
        seen.append(sql)
        return original(self, sql, params)

    monkeypatch.setattr(Reader, "one", one)
    return seen


def test_the_location_is_what_the_version_record_says(versions: RegistryService) -> None:
    from_source = versions.get_version(NAME, 1)
    from_files = versions.get_version(NAME, "v2")
    assert from_source.source == SOURCE and not from_source.files and from_files.files
    assert versions.version_location(NAME, 1) == VersionLocation.of(from_source) == \
        VersionLocation(NAME, 1, SOURCE, False)
    assert versions.version_location(NAME, "v2") == VersionLocation.of(from_files) == \
        VersionLocation(NAME, 2, "", True)
    # Names are looked up as the registry looks them up; the answer names the model as it is.
    assert versions.version_location(NAME.upper(), "2") == VersionLocation.of(from_files)


def test_the_location_is_one_statement_that_reads_no_tags_or_aliases(
        versions: RegistryService, statements: list[str]) -> None:
    assert versions.version_location(NAME, 1).source == SOURCE
    assert len(statements) == 1, statements
    assert "version_tags" not in statements[0] and "aliases" not in statements[0]
    statements.clear()
    versions.get_version(NAME, 1)  # the full record, for contrast, builds them
    assert any("version_tags" in sql for sql in statements)


def test_a_former_name_takes_the_long_way_to_the_same_answer(
        versions: RegistryService) -> None:
    versions.rename_model(NAME, "fraud_scorer", reason="the product's name")
    expected = VersionLocation("fraud_scorer", 2, "", True)
    assert versions.version_location(NAME, 2) == expected
    assert versions.version_location("fraud_scorer", 2) == expected
    assert VersionLocation.of(versions.get_version(NAME, 2)) == expected


def refusal(call: Any, *args: Any) -> tuple[type[CharterError], str, str]:
    with pytest.raises(CharterError) as raised:
        call(*args)
    return type(raised.value), raised.value.code, str(raised.value)


@pytest.mark.parametrize(("name", "version"), [
    ("no_such_model", 1),
    (NAME, 3),
    (NAME, "0"),
    (NAME, "three"),
    ("fraud_detectr", 1),  # close to a name: the "did you mean" hint
], ids=["missing model", "missing version", "version 0", "not a number", "a near name"])
def test_a_refusal_is_the_one_get_version_gives(versions: RegistryService, name: str,
                                                version: int | str) -> None:
    expected = refusal(versions.get_version, name, version)
    assert refusal(versions.version_location, name, version) == expected


def test_a_model_the_caller_may_not_read_is_refused_as_missing(
        versions: RegistryService) -> None:
    versions.register("churn_forecast", "s3://models-bucket/churn/1")
    versions.create_user("bob")
    versions.grant(NAME, "bob", "reader")
    bob = versions.as_principal(versions.authenticate(versions.create_token("bob").secret))
    private = bob.as_principal(Principal(  # bob's grants, without a registry-wide role
        "bob", user_id=bob.principal.user_id, model_roles=bob.principal.model_roles,
        model_keys=bob.principal.model_keys))
    for name, version in (("churn_forecast", 1), ("churn_forecast", 7), ("no_such_model", 1)):
        expected = refusal(private.get_version, name, version)
        assert expected[1] == "model.not_found"
        assert refusal(private.version_location, name, version) == expected
    assert private.version_location(NAME, 1) == VersionLocation(NAME, 1, SOURCE, False)
    assert refusal(private.version_location, NAME, 3) == refusal(private.get_version, NAME, 3)
