"""Version sources: an allow-list grammar, never opened (DESIGN §4, §9 security)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.domain.errors import InvalidInput
from charter.domain.sources import DEFAULT_SCHEMES, SourcePolicy, check_source

RUN = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
ROOTED = SourcePolicy(file_roots=("/data", "/srv/models/"))


@pytest.mark.parametrize(
    "source",
    [
        f"runs:/{RUN}/model",
        f"runs:/{RUN}/artifacts/model/",
        "runs:/run_with-dash/model",
        "models:/fraud_detector/42",
        "models:/fraud_detector/Production",
        "models:/fraud_detector@champion",
        "models:/m-0123456789abcdef0123456789abcdef",   # an MLflow 3 logged model
        "mlflow-artifacts:/1/0a1b/artifacts/model",
        "mlflow-artifacts://tracking.internal:5000/1/0a1b/artifacts/model",
        "s3://ml-models/fraud/42/model.pkl",
        "s3://ml-models/fraud/42/",
        "s3://ml-models/with%20space",
        "gs://ml_models/fraud/model",
        "wasbs://models@account.blob.core.windows.net/fraud/model",
        "abfss://models@account.dfs.core.windows.net/fraud",
        "dbfs:/databricks/mlflow/fraud",
        "s3://ml-models/données/modèle",
    ],
)
def test_allowed_by_default(source):
    assert check_source(source) == source


@pytest.mark.parametrize(
    "source",
    ["/data/models/fraud", "/data", "/data/", "file:///data/models/fraud", "file:/data/x",
     "/srv/models/fraud/42", "file:///srv/models/a..b"],
)
def test_local_paths_under_a_configured_root(source):
    assert check_source(source, policy=ROOTED) == source


HOSTILE = [
    "",
    " ",
    "http://evil.example/model.pkl",
    "https://evil.example/model.pkl",
    "ftp://evil.example/model",
    "javascript:alert(1)",
    "data:text/plain;base64,AAAA",
    "HTTP://evil.example/x",
    "file:///etc/passwd",
    "/etc/passwd",
    "/data-evil/model",
    "/data/../etc/passwd",
    "/datamodels",
    "file://attacker.host/data/x",
    "file:///data/./x",
    "file:///data//x",
    "//data/x",
    "model.pkl",
    "./model.pkl",
    "../model.pkl",
    "C:/Users/model",
    "C:\\Users\\model",
    "s3://bucket/../other-bucket/key",
    "s3://bucket/a/%2e%2e/b",
    "s3://bucket/a/%2E%2E/b",
    "s3://bucket/a%2fb",
    "s3://bucket/a%2Fb",
    "s3://bucket/a%5cb",
    "s3://bucket/a%252fb",
    "s3://bucket/a%25%32%66b",
    "s3://bucket/a%c0%afb",
    "s3://bucket/a%00b",
    "s3://bucket/a%zzb",
    "s3://bucket/a%",
    "s3://bucket/key#fragment",
    "s3://bucket/key?versionId=1",
    "s3://bucket/key;param",
    "s3://bucket/a\\b",
    "s3://bucket/a\x00b",
    "s3://bucket/a\nb",
    "s3://bucket/a\tb",
    "s3://bucket/a\u202eb",
    "s3://bucket/a\u200bb",
    "s3://bucket/a\uff0f..\uff0fb",
    "s3://bucket/a\u2025/b",
    "s3://bucket/key ",
    " s3://bucket/key",
    "s3://bucket",
    "s3://bucket/",
    "s3://",
    "s3:/bucket/key",
    "s3://user:pass@bucket/key",
    "s3://bucket//key",
    "S3://bucket/key",
    "FILE:///data/x",
    "gs://b/x/.",
    "wasbs://account.blob.core.windows.net/x",
    "dbfs://x/y",
    "dbfs:x",
    "runs:/",
    "runs:/abc",
    "runs://abc/model",
    "runs:/abc/",
    "runs:/ab.c/model",
    "runs:/abc/../../etc/passwd",
    "models:/fraud_detector",
    "models:/fraud_detector/0",
    "models:/../x/1",
    "mlflow-artifacts://evil@host/x",
    "mlflow-artifacts:",
    "s3://bucket/" + "k" * 2100,
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_sources_are_refused(source):
    with pytest.raises(InvalidInput) as caught:
        check_source(source, policy=ROOTED)
    err = caught.value
    assert err.code == "source.refused"
    assert "refused" in err.message and err.details["rule"]
    assert "s3:" in err.hint and "runs:" in err.hint


@pytest.mark.parametrize("source", [None, 3, b"s3://bucket/key"])
def test_non_text_is_refused(source):
    with pytest.raises(InvalidInput):
        check_source(source)  # type: ignore[arg-type]


def test_message_names_the_source_and_the_rule():
    with pytest.raises(InvalidInput) as caught:
        check_source("http://evil.example/model.pkl")
    err = caught.value
    assert "http://evil.example/model.pkl" in err.message
    assert "'http:' is not allowed" in err.message
    assert err.details["rule"] == "scheme"


def test_windows_drive_paths_are_named_as_such():
    with pytest.raises(InvalidInput) as caught:
        check_source("C:/Users/model", policy=ROOTED)
    assert caught.value.details["rule"] == "windows"


def test_local_paths_refused_without_roots():
    with pytest.raises(InvalidInput) as caught:
        check_source("/data/models/fraud")
    assert "no file roots" in caught.value.message


def test_run_id_must_match_the_source():
    assert check_source(f"runs:/{RUN}/model", run_id=RUN)
    with pytest.raises(InvalidInput) as caught:
        check_source(f"runs:/{RUN}/model", run_id="someotherrun")
    assert caught.value.details["rule"] == "run_mismatch"
    # A run id alongside a non-runs source is just provenance, as in MLflow.
    assert check_source("s3://ml-models/fraud", run_id=RUN)


def test_policy_can_narrow_and_widen_the_schemes():
    only_s3 = SourcePolicy(schemes=frozenset({"s3"}))
    check_source("s3://bucket/key", policy=only_s3)
    with pytest.raises(InvalidInput):
        check_source("gs://bucket/key", policy=only_s3)
    with_hdfs = SourcePolicy(schemes=DEFAULT_SCHEMES | {"hdfs"})
    check_source("hdfs://namenode:8020/models/x", policy=with_hdfs)
    with pytest.raises(InvalidInput):
        check_source("hdfs://namenode:8020/../x", policy=with_hdfs)


def test_max_length_is_configurable():
    policy = SourcePolicy(max_length=20)
    check_source("s3://bucket/abcdefgh", policy=policy)
    with pytest.raises(InvalidInput):
        check_source("s3://bucket/abcdefghi", policy=policy)


def test_root_slash_allows_every_absolute_path():
    assert check_source("/anything/at/all", policy=SourcePolicy(file_roots=("/",)))


def test_relative_roots_are_ignored():
    with pytest.raises(InvalidInput):
        check_source("/data/x", policy=SourcePolicy(file_roots=("data",)))


segment = st.text(alphabet="abcxyz019_-.", min_size=1, max_size=8)


@settings(max_examples=50, deadline=None)
@given(st.lists(segment, min_size=1, max_size=5))
def test_any_dot_segment_is_refused_and_others_pass(segments):
    source = "s3://bucket/" + "/".join(segments)
    if any(s in (".", "..") for s in segments):
        with pytest.raises(InvalidInput):
            check_source(source)
    else:
        assert check_source(source) == source


@given(st.sampled_from(["/", "\\", ".", "%"]), st.booleans())
def test_encoded_separators_and_dots_are_refused_in_any_case(char, upper):
    escape = f"%{ord(char):02x}"
    escape = escape.upper() if upper else escape
    with pytest.raises(InvalidInput):
        check_source(f"s3://bucket/a{escape}b")
