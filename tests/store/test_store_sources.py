"""A version's source is provenance checked against an allow-list (DESIGN §4)."""

from __future__ import annotations

import pytest

from charter.domain.errors import CharterError, InvalidInput, NotFound
from charter.store import tables

NAME = "fraud_detector"

HOSTILE = [
    pytest.param("s3://models-bucket/fraud/../../etc/passwd", id="dot-dot"),
    pytest.param("s3://models-bucket/fraud/%2e%2e/secrets", id="encoded-dot-dot"),
    pytest.param("s3://models-bucket/fraud%2f..%2fsecrets", id="encoded-slash"),
    pytest.param("file:/etc/passwd", id="file-without-roots"),
    pytest.param("file:///etc/passwd", id="file-triple-slash-without-roots"),
    pytest.param("/etc/passwd", id="plain-path-without-roots"),
    pytest.param("http://169.254.169.254/latest/meta-data/", id="http"),
    pytest.param("https://example.com/model.pkl", id="https"),
    pytest.param("javascript:alert(document.cookie)", id="javascript"),
    pytest.param("s3://models-bucket/fraud\x00.pkl", id="nul"),
    pytest.param("s3://models-bucket\\..\\secrets", id="backslash"),
    pytest.param("s3://models-bucket/fraud/model.pkl?x-amz-acl=public", id="query"),
    pytest.param("s3://models-bucket/fraud/model.pkl#frag", id="fragment"),
    pytest.param("../model.pkl", id="relative"),
    pytest.param("runs:/abc123/../../other", id="runs-dot-dot"),
    pytest.param("s3://" + "a" * 3000, id="overlong"),
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_source_is_refused_and_nothing_is_registered(registry, given, source):
    before = given.state()
    with pytest.raises(InvalidInput) as err:
        registry.register(NAME, source)
    assert err.value.code == "source.refused"
    assert given.state() == before
    with pytest.raises(NotFound):
        registry.get_model(NAME)


@pytest.mark.parametrize("source", HOSTILE[:4])
def test_hostile_source_for_an_existing_model_leaves_its_counter_alone(registry, given,
                                                                       source):
    given.versions(NAME)
    with pytest.raises(InvalidInput):
        registry.register(NAME, source)
    assert given.versions(NAME) == [2]


def test_run_id_must_match_a_runs_source(registry, given):
    before = given.state()
    with pytest.raises(InvalidInput) as err:
        registry.register(NAME, "runs:/abc123/model", run_id="def456")
    assert err.value.code == "source.refused"
    assert given.state() == before


@pytest.mark.parametrize("run_id", [
    pytest.param("r" * 257, id="longer-than-the-column"),
    pytest.param("abc\x00def", id="nul"),
])
def test_malformed_run_id_is_refused_cleanly_and_registers_nothing(registry, given, run_id):
    # run_id is only compared with a runs:/ source; with any other source it is stored
    # unchecked, and PostgreSQL answers with a raw DataError (String(64), no NUL).
    before = given.state()
    with pytest.raises(CharterError):
        registry.register(NAME, "s3://models-bucket/fraud/model.pkl", run_id=run_id)
    assert given.state() == before


@pytest.mark.parametrize("source", [
    "runs:/abc123def456/model",
    "models:/churn_predictor/3",
    "mlflow-artifacts:/0/abc/artifacts/model",
    "s3://models-bucket/fraud/model.pkl",
    "gs://models-bucket/fraud/model",
    "wasbs://models@account.blob.core.windows.net/fraud",
    "abfss://models@account.dfs.core.windows.net/fraud",
    "dbfs:/models/fraud",
])
def test_allowed_source_is_stored_verbatim(registry, given, source):
    version = registry.register(NAME, source)
    assert registry.get_version(NAME, version.version).source == source
    assert given.count(tables.Version) == 1


def test_file_source_is_allowed_only_under_configured_roots(make_registry, tmp_path):
    (tmp_path / "charter.toml").write_text('[sources]\nfile_roots = ["/srv/models"]\n')
    registry = make_registry()
    assert registry.register(NAME, "file:///srv/models/fraud/model.pkl").version == 1
    assert registry.register(NAME, "/srv/models/fraud/model.pkl").version == 2
    for outside in ("file:///srv/models-evil/x", "file:///etc/passwd",
                    "/srv/models/../../etc/passwd"):
        with pytest.raises(InvalidInput) as err:
            registry.register(NAME, outside)
        assert err.value.code == "source.refused"
    assert registry.get_model(NAME).last_version == 2


def test_exactly_one_of_source_and_path_is_required(registry, given, tmp_path):
    before = given.state()
    with pytest.raises(InvalidInput) as err:
        registry.register(NAME)
    assert err.value.code == "version.source_required"
    (tmp_path / "m.bin").write_bytes(b"x")
    with pytest.raises(InvalidInput):
        registry.register(NAME, given.source, path=tmp_path / "m.bin")
    assert given.state() == before
