"""models:/ URIs (DESIGN §4): four strict forms, canonical output."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.domain.errors import InvalidInput
from charter.domain.lifecycle import STAGES, Stage
from charter.domain.uris import URI_FORMS, ModelUri, parse_model_uri


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("models:/fraud_detector/42", ModelUri("fraud_detector", version=42)),
        ("models:/fraud_detector/Production", ModelUri("fraud_detector", stage=Stage.PRODUCTION)),
        ("models:/fraud_detector/None", ModelUri("fraud_detector", stage=Stage.NONE)),
        ("models:/fraud_detector@champion", ModelUri("fraud_detector", alias="champion")),
        ("models:/fraud_detector/latest", ModelUri("fraud_detector", latest=True)),
    ],
)
def test_the_four_forms(uri, expected):
    parsed = parse_model_uri(uri)
    assert parsed == expected
    assert str(parsed) == uri


@pytest.mark.parametrize(
    "uri, canonical",
    [
        ("models:/fraud_detector/production", "models:/fraud_detector/Production"),
        ("models:/fraud_detector/STAGING", "models:/fraud_detector/Staging"),
        ("models:/fraud_detector/archived", "models:/fraud_detector/Archived"),
        ("models:/fraud_detector/LATEST", "models:/fraud_detector/latest"),
        ("models:/Fraud_Detector@Champion", "models:/Fraud_Detector@Champion"),
    ],
)
def test_case_insensitive_words_come_back_canonical(uri, canonical):
    assert str(parse_model_uri(uri)) == canonical


def test_kind_names_the_form():
    kinds = [parse_model_uri(u).kind for u in
             ("models:/m1/3", "models:/m1/Staging", "models:/m1@a", "models:/m1/latest")]
    assert kinds == ["version", "stage", "alias", "latest"]


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "models:/",
        "models:",
        "models://fraud_detector/1",
        "models:/fraud_detector",
        "models:/fraud_detector/",
        "models:/fraud_detector/1/",
        "models:/fraud_detector/1/extra",
        "models:/fraud_detector/0",
        "models:/fraud_detector/-1",
        "models:/fraud_detector/007",
        "models:/fraud_detector/1.0",
        "models:/fraud_detector/+3",
        "models:/fraud_detector/1e3",
        "models:/fraud_detector/\u0663",           # Arabic-Indic digit three
        "models:/fraud_detector/99999999999999999999",
        "models:/fraud_detector/prod",
        "models:/fraud_detector/Production ",
        " models:/fraud_detector/1",
        "models:/fraud detector/1",
        "models:/fraud_detector/1\n",
        "models:/fraud\x00detector/1",
        "models:/fraud\u200bdetector/1",
        "models:/fraud_detector@",
        "models:/@champion",
        "models:/fraud_detector@champion/1",
        "models:/fraud_detector@a@b",
        "models:/fraud_detector@production",
        "models:/fraud_detector@v3",
        "models:/fraud_detector@latest",
        "models:/fraud%2fdetector/1",
        "models:/fraud:detector/1",
        "MODELS:/fraud_detector/1",
        "runs:/abc/model",
        "models:/" + "a" * 1100 + "/1",
    ],
)
def test_malformed_uris_are_refused(uri):
    with pytest.raises(InvalidInput) as caught:
        parse_model_uri(uri)
    err = caught.value
    assert err.code == "uri.invalid"
    for form in URI_FORMS:
        assert form in err.hint


def test_non_text_is_refused():
    with pytest.raises(InvalidInput):
        parse_model_uri(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"version": 1, "latest": True}, {"stage": Stage.STAGING, "alias": "champion"},
     {"version": 0}, {"version": True}, {"stage": "Production"}, {"alias": "v1"}],
)
def test_model_uri_holds_exactly_one_valid_selector(kwargs):
    with pytest.raises(InvalidInput):
        ModelUri("fraud_detector", **kwargs)


names = st.from_regex(r"[A-Za-z][A-Za-z0-9_.-]{0,40}", fullmatch=True)
aliases = st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True).filter(
    lambda a: a not in {"none", "staging", "production", "archived", "latest"}
    and not (a[0] == "v" and a[1:].isdigit())
)
model_uris = st.one_of(
    st.builds(lambda n, v: ModelUri(n, version=v), names, st.integers(1, 2**31 - 1)),
    st.builds(lambda n, s: ModelUri(n, stage=s), names, st.sampled_from(STAGES)),
    st.builds(lambda n, a: ModelUri(n, alias=a), names, aliases),
    st.builds(lambda n: ModelUri(n, latest=True), names),
)


@settings(max_examples=50, deadline=None)
@given(model_uris)
def test_round_trip(uri):
    text = str(uri)
    assert parse_model_uri(text) == uri
    assert str(parse_model_uri(text)) == text


@settings(max_examples=50, deadline=None)
@given(names, st.sampled_from(STAGES), st.sampled_from([str.lower, str.upper, str.title]))
def test_stage_in_any_case_parses_to_canonical(name, stage, case):
    parsed = parse_model_uri(f"models:/{name}/{case(stage.value)}")
    assert parsed.stage is stage
    assert str(parsed) == f"models:/{name}/{stage.value}"
