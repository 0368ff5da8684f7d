"""Naming policy: the seed's good names pass, its bad names fail with the right code."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.domain import wordlists
from charter.domain.errors import InvalidInput
from charter.domain.naming import (
    MODES,
    Finding,
    InvalidName,
    NamingPolicy,
    check_name,
    lint,
    suggest_name,
)
from charter.person_names import default_policy, first_names

POLICY = default_policy()
SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")

SEED_GOOD = [
    "fraud_detection_binary", "churn_prediction_multiclass", "demand_forecasting_regression",
    "recommendation_candidate_generation", "recommendation_ranking", "search_relevance_scorer",
    "payments_risk_model", "lending_credit_score", "marketing_propensity_model",
    "fraud_detector", "search_ranker", "recommendation_engine", "churn_predictor",
    "demand_forecaster",
]
OTHER_GOOD = [
    "credit_limit_estimator", "price_elasticity_model", "customer_lifetime_value",
    "new_user_activation", "top_10_recommender", "delivery_eta_estimator",
    "grant_eligibility_scorer", "iris_species_classifier", "sydney_demand_forecaster",
    "mark_to_market_valuation", "ad_copy_generator", "two_stage_retrieval",
    "ab_test_power_estimator", "chargeback_risk_model", "page_quality_scorer",
    "summer_sale_demand_forecaster", "job_title_normaliser", "peer_group_anomaly_detector",
]

SEED_BAD = [
    ("fraud_detector_v1", {"name.version_marker"}),
    ("fraud_detector_v2", {"name.version_marker"}),
    ("fraud_detector_final", {"name.version_marker"}),
    ("fraud_detector_really_final", {"name.version_marker"}),
    ("fraud_detector_oct_2024", {"name.date"}),
    ("fraud_oct_2024", {"name.date"}),
    ("oct_2024_model", {"name.date", "name.generic"}),
    ("model_20241008", {"name.date", "name.generic"}),
    ("fraud_model_2024", {"name.date"}),
    ("fraud_xgboost", {"name.algorithm"}),
    ("churn_lstm", {"name.algorithm"}),
    ("fraud_v3_xgboost", {"name.algorithm", "name.version_marker"}),
    ("model", {"name.generic"}),
    ("classifier", {"name.generic"}),
    ("production_model", {"name.generic", "name.stage_word"}),
    ("final_model", {"name.generic", "name.version_marker"}),
    ("marias_model", {"name.person", "name.generic"}),
    ("johns_classifier", {"name.person", "name.generic"}),
    ("model_v2", {"name.version_marker", "name.generic"}),
]
MORE_BAD = [
    ("fraud_detector_2", "name.version_marker"),
    ("fraud_detector_v10", "name.version_marker"),
    ("fraud_detector2", "name.version_marker"),
    ("fraud_detector_latest", "name.version_marker"),
    ("fraud_detector_new", "name.version_marker"),
    ("fraud_detector_old", "name.version_marker"),
    ("fraud_detector_copy", "name.version_marker"),
    ("fraud_detector_tmp", "name.version_marker"),
    ("fraud_detector_backup", "name.version_marker"),
    ("fraud_version_2_detector", "name.version_marker"),
    ("fraud_detector_sept_2024", "name.date"),
    ("fraud_detector_2024_10_08", "name.date"),
    ("fraud_detector_202410", "name.date"),
    ("fraud_detector_oct24", "name.date"),
    ("fraud_detector_q3", "name.date"),
    ("fraud_detector_fy24", "name.date"),
    ("fraud_detector_2024q3", "name.date"),
    ("fraud_detector_march", "name.date"),
    ("fraud_random_forest", "name.algorithm"),
    ("churn_logistic_regression", "name.algorithm"),
    ("search_bert_ranker", "name.algorithm"),
    ("image_resnet50_tagger", "name.algorithm"),
    ("demand_prophet", "name.algorithm"),
    ("fraud_detector_prod", "name.stage_word"),
    ("fraud_detector_staging", "name.stage_word"),
    ("fraud_detector_dev", "name.stage_word"),
    ("fraud_detector_qa", "name.stage_word"),
    ("fraud_detector_uat", "name.stage_word"),
    ("fraud_detector_archived", "name.stage_word"),
    ("fraud_detector_champion", "name.stage_word"),
    ("fraud_detector_challenger", "name.stage_word"),
    ("maria_fraud", "name.person"),
    ("fraud_detector_johns", "name.person"),
    ("Fraud-Detector", "name.format"),
    ("fraud__detector", "name.format"),
    ("fraud_detector_", "name.format"),
    ("2fraud_detector", "name.format"),
    ("fd", "name.format"),
    ("f" * 65, "name.format"),
    ("fraud detector", "name.format"),
]

DOMAIN_WORDS = ["fraud", "churn", "demand", "search", "payments", "lending", "credit", "pricing",
                "inventory", "shipping", "propensity", "relevance", "chargeback", "risk",
                "customer", "basket", "delivery", "loyalty"]


def codes(name: str, policy: NamingPolicy = POLICY) -> set[str]:
    return {finding.code for finding in lint(name, policy)}


# --- examples --------------------------------------------------------------------------


@pytest.mark.parametrize("name", SEED_GOOD + OTHER_GOOD)
def test_good_names_pass(name: str) -> None:
    assert lint(name, POLICY) == []
    assert suggest_name(name, POLICY) == name


@pytest.mark.parametrize(("name", "expected"), SEED_BAD)
def test_seed_bad_names_fail_with_their_codes(name: str, expected: set[str]) -> None:
    assert codes(name) == expected


@pytest.mark.parametrize(("name", "code"), MORE_BAD)
def test_more_bad_names_fail_with_their_code(name: str, code: str) -> None:
    assert code in codes(name)


@pytest.mark.parametrize(("name", "suggested"), [
    ("fraud_detector_v2", "fraud_detector"),
    ("fraud_detector_really_final", "fraud_detector"),
    ("fraud_oct_2024", "fraud"),
    ("fraud_v3_xgboost", "fraud"),
    ("fraud_detector2", "fraud_detector"),
    ("Fraud-Detector", "fraud_detector"),
    ("FraudDetectorV2", "fraud_detector"),
    ("maria_fraud_scorer", "fraud_scorer"),
    ("fraud_3_v2", "fraud"),  # stripping v2 leaves '3' last: that goes too
    ("model_v2", ""),
    ("production_model", ""),
    ("oct_2024", ""),
])
def test_suggestion_strips_offending_tokens(name: str, suggested: str) -> None:
    assert suggest_name(name, POLICY) == suggested


def test_findings_name_the_value_the_rule_and_the_fix() -> None:
    (finding,) = lint("fraud_xgboost", POLICY)
    assert finding == Finding(
        "name.algorithm", "xgboost",
        "'fraud_xgboost' names an algorithm ('xgboost'); algorithms change, the product does not",
        "name it 'fraud' and add the tag algorithm=xgboost")
    assert finding.to_dict() == {"code": "name.algorithm", "token": "xgboost",
                                 "message": finding.message, "suggestion": finding.suggestion}
    (version,) = lint("fraud_detector_v2", POLICY)
    assert version.message.startswith("'fraud_detector_v2' ends in a version marker 'v2'")
    assert version.suggestion == "register it as a new version of 'fraud_detector'"


def test_person_finding_suggests_an_owner_tag() -> None:
    person = next(f for f in lint("marias_model", POLICY) if f.code == "name.person")
    assert person.token == "marias"
    assert "owner=maria" in person.suggestion


def test_merged_findings_report_the_whole_phrase() -> None:
    assert [f.token for f in lint("fraud_oct_2024", POLICY)] == ["oct_2024"]
    assert [f.token for f in lint("fraud_detector_really_final", POLICY)] == ["really_final"]
    assert [f.token for f in lint("fraud_random_forest", POLICY)] == ["random_forest"]


def test_format_suggests_a_fixed_form_and_later_rules_still_report() -> None:
    findings = lint("Fraud-Detector-V2", POLICY)
    assert [f.code for f in findings] == ["name.format", "name.version_marker"]
    assert findings[0].suggestion == "use 'fraud_detector'"


def test_a_thousand_character_name_is_refused_cleanly() -> None:
    name = "fraud_detector_" * 66 + "x" * 10
    findings = lint(name, POLICY)
    assert findings[0].code == "name.format"
    assert all(len(f.message) < 400 for f in findings)
    suggested = suggest_name(name, POLICY)
    assert 3 <= len(suggested) <= 64 and lint(suggested, POLICY) == []
    with pytest.raises(InvalidName) as caught:
        check_name(name, POLICY)
    assert len(caught.value.message) < 2000


# --- person names and the allow-list ---------------------------------------------------


def test_first_names_are_lowercase_ascii_and_cached() -> None:
    names = first_names()
    assert {"maria", "john", "priya", "jose", "renee"} <= names
    assert all(name.isascii() and name.isalpha() and name.islower() and len(name) >= 3
               for name in names)
    assert first_names() is names


def test_without_person_names_the_person_rule_is_off() -> None:
    assert codes("maria_fraud", NamingPolicy()) == set()
    assert codes("marias_model", NamingPolicy()) == set()  # 'marias' is just a word then


def test_allow_list_prevents_false_positives_and_can_be_extended() -> None:
    assert codes("maria_fraud", default_policy(allow=["Maria"])) == set()
    assert codes("maria_fraud") == {"name.person"}
    # a possessive of an allowed word is the plural, not a person: "marks", "grants"
    assert lint("marks_normaliser", POLICY) == []


def test_allow_list_does_not_make_a_generic_name_specific() -> None:
    assert codes("test", default_policy(allow=["test"])) == {"name.generic"}


def test_default_allow_list_never_hides_a_rule_word() -> None:
    hidden = wordlists.ALLOWED_TOKENS & (wordlists.VERSION_MARKERS | wordlists.ALGORITHMS
                                         | wordlists.STAGE_WORDS | wordlists.DATE_WORDS)
    assert hidden == set()


def test_policy_coerces_configured_word_lists() -> None:
    policy = NamingPolicy(mode="warn", allow=["Foo", " Bar "], algorithms="xgboost")
    assert policy.allow == frozenset({"foo", "bar"})
    assert policy.algorithms == frozenset({"xgboost"})


# --- modes -----------------------------------------------------------------------------


def test_modes_are_enforce_warn_off() -> None:
    assert MODES == ("enforce", "warn", "off")
    with pytest.raises(InvalidInput) as caught:
        NamingPolicy(mode="strict")
    assert caught.value.code == "naming.mode"


def test_off_mode_accepts_any_style() -> None:
    assert check_name("Model_V2!!", default_policy(mode="off")) == []


@pytest.mark.parametrize("name", ["fraud/detector", "fraud@champion", "a" * 257, "..",
                                  "fraud\x00detector", "fraud detector", ""])
def test_every_mode_refuses_a_name_that_cannot_be_stored_or_addressed(name: str) -> None:
    for mode in MODES:
        with pytest.raises(InvalidInput):
            check_name(name, default_policy(mode=mode))


def test_warn_mode_returns_the_findings() -> None:
    findings = check_name("fraud_detector_v2", default_policy(mode="warn"))
    assert [f.code for f in findings] == ["name.version_marker"]


def test_enforce_mode_passes_a_good_name() -> None:
    assert check_name("fraud_detector", POLICY) == []


def test_enforce_mode_raises_invalid_name() -> None:
    with pytest.raises(InvalidName) as caught:
        check_name("fraud_detector_v2", POLICY)
    error = caught.value
    assert isinstance(error, InvalidInput) and error.kind == "invalid"
    assert error.code == "name.invalid"
    assert error.message.startswith("'fraud_detector_v2' ends in a version marker 'v2'")
    assert error.hint == "register it as a new version of 'fraud_detector'"
    assert error.details == {
        "name": "fraud_detector_v2",
        "findings": [f.to_dict() for f in lint("fraud_detector_v2", POLICY)],
        "suggested_name": "fraud_detector",
    }
    assert error.to_dict()["code"] == "name.invalid"


# --- properties ------------------------------------------------------------------------

RULE_WORDS = {part for word in (wordlists.VERSION_MARKERS | wordlists.VERSION_QUALIFIERS
                                | wordlists.ALGORITHMS | wordlists.STAGE_WORDS
                                | wordlists.DATE_WORDS | wordlists.ALLOWED_TOKENS)
              for part in word.split("_")}
domain_names = st.lists(st.sampled_from(DOMAIN_WORDS), min_size=1, max_size=3).map("_".join)
any_words = st.lists(st.from_regex(r"[a-z]{3,8}", fullmatch=True)
                     .filter(lambda word: word not in RULE_WORDS), min_size=1, max_size=3)
version_markers = st.one_of(st.integers(1, 99).map("v{}".format), st.integers(1, 9).map(str),
                            st.sampled_from(sorted(wordlists.VERSION_MARKERS - {"v", "ver"})))
years = st.integers(1990, 2099).map(str)
algorithms = st.sampled_from(sorted(wordlists.ALGORITHMS))
markers = [("name.version_marker", version_markers), ("name.date", years),
           ("name.algorithm", algorithms)]


@pytest.mark.parametrize(("code", "marker"), markers, ids=[code for code, _ in markers])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_an_appended_marker_is_found_and_stripped(code, marker, data) -> None:
    base, token = data.draw(domain_names), data.draw(marker)
    name = f"{base}_{token}"
    assert code in codes(name)
    assert suggest_name(name, POLICY) == base


@pytest.mark.parametrize(("code", "marker"), markers, ids=[code for code, _ in markers])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_an_appended_marker_is_found_after_any_words(code, marker, data) -> None:
    name = "_".join([*data.draw(any_words), data.draw(marker)])
    assert code in codes(name)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.text(max_size=120), st.from_regex(r"[A-Za-z0-9_\- ]{0,70}", fullmatch=True)))
def test_lint_never_raises_and_flags_every_malformed_name(text: str) -> None:
    findings = lint(text, POLICY)
    well_formed = 3 <= len(text) <= 64 and SNAKE_CASE.fullmatch(text)
    if not well_formed:
        assert findings and findings[0].code == "name.format"
    assert all(isinstance(f, Finding) and f.code.startswith("name.") for f in findings)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.text(max_size=120),
                 st.lists(st.sampled_from(DOMAIN_WORDS + ["v2", "2024", "oct", "xgboost", "prod",
                                                          "maria", "final", "model", "3"]),
                          max_size=6).map("_".join)))
def test_a_suggestion_is_never_flagged(text: str) -> None:
    suggested = suggest_name(text, POLICY)
    if suggested:
        assert lint(suggested, POLICY) == []
        assert 3 <= len(suggested) <= 64
