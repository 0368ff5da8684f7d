"""MLflow's search grammar, parsed into conditions and sort keys (domain.search)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.domain.errors import InvalidInput
from charter.domain.search import (
    DEFAULT_VERSION_ORDER,
    PROMPT_TAG,
    Condition,
    Order,
    like_segments,
    parse_model_filter,
    parse_model_order,
    parse_version_filter,
    parse_version_order,
)

# --- models: what parses ---------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_no_filter_means_no_conditions(text):
    assert parse_model_filter(text) == []
    assert parse_version_filter(text) == []


@pytest.mark.parametrize("text, expected", [
    ("name = 'fraud_detector'", Condition("attribute", "name", "=", "fraud_detector")),
    ("name='fraud_detector'", Condition("attribute", "name", "=", "fraud_detector")),
    ("name == 'x'", Condition("attribute", "name", "=", "x")),
    ("name != 'x'", Condition("attribute", "name", "!=", "x")),
    ("name <> 'x'", Condition("attribute", "name", "!=", "x")),
    ("name LIKE 'fraud%'", Condition("attribute", "name", "LIKE", "fraud%")),
    ("name like 'fraud%'", Condition("attribute", "name", "LIKE", "fraud%")),
    ("name ILIKE '%DETECT%'", Condition("attribute", "name", "ILIKE", "%DETECT%")),
    ('name = "double_quoted"', Condition("attribute", "name", "=", "double_quoted")),
    ("name = 'it''s'", Condition("attribute", "name", "=", "it's")),
    ("attributes.name = 'x'", Condition("attribute", "name", "=", "x")),
    ("`name` = 'x'", Condition("attribute", "name", "=", "x")),
    ("name IN ('a', 'b')", Condition("attribute", "name", "IN", ("a", "b"))),
    ("name not in ('a')", Condition("attribute", "name", "NOT IN", ("a",))),
    ("tags.team = 'fraud'", Condition("tag", "team", "=", "fraud")),
    ("tag.team != 'fraud'", Condition("tag", "team", "!=", "fraud")),
    ("tags.`key with spaces` = 'v'", Condition("tag", "key with spaces", "=", "v")),
    ('tags."quoted key" LIKE \'v%\'', Condition("tag", "quoted key", "LIKE", "v%")),
    ("tags.mlflow.source.name = 'train.py'", Condition("tag", "mlflow.source.name", "=",
                                                       "train.py")),
    ("tags.`owner/email` ILIKE '%@EXAMPLE.COM'", Condition("tag", "owner/email", "ILIKE",
                                                          "%@EXAMPLE.COM")),
    ("tags.note = ''", Condition("tag", "note", "=", "")),
])
def test_model_conditions(text, expected):
    assert parse_model_filter(text) == [expected]


def test_conditions_are_and_joined_in_order():
    found = parse_model_filter("name LIKE 'fraud%' AND tags.team = 'fraud' and tags.tier='1'")
    assert [(c.kind, c.key, c.op, c.value) for c in found] == [
        ("attribute", "name", "LIKE", "fraud%"),
        ("tag", "team", "=", "fraud"),
        ("tag", "tier", "=", "1"),
    ]


def test_the_mlflow_clients_prompt_filter_treats_a_missing_tag_as_false():
    # MLflow's client appends this to every registered-model search.
    [user, prompt] = parse_model_filter(f"name LIKE 'a%' AND tag.`{PROMPT_TAG}` != 'true'")
    assert not user.absent_matches
    assert prompt == Condition("tag", PROMPT_TAG, "!=", "true", absent_matches=True)
    [only] = parse_model_filter(f"tags.`{PROMPT_TAG}` = 'true'")
    assert not only.absent_matches
    [other] = parse_model_filter("tags.team != 'true'")
    assert not other.absent_matches


# --- versions: what parses -------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("run_id = 'abc123'", Condition("attribute", "run_id", "=", "abc123")),
    ("run_id IN ('a', 'b', 'c')", Condition("attribute", "run_id", "IN", ("a", "b", "c"))),
    ("run_id NOT IN ('a')", Condition("attribute", "run_id", "NOT IN", ("a",))),
    ("source_path = 'runs:/abc/model'", Condition("attribute", "source_path", "=",
                                                  "runs:/abc/model")),
    ("source_path LIKE 's3://%'", Condition("attribute", "source_path", "LIKE", "s3://%")),
    ("version_number = 3", Condition("attribute", "version_number", "=", 3)),
    ("version_number >= 2", Condition("attribute", "version_number", ">=", 2)),
    ("version_number < '10'", Condition("attribute", "version_number", "<", 10)),
    ("version_number != 1", Condition("attribute", "version_number", "!=", 1)),
    ("tags.team = 'fraud'", Condition("tag", "team", "=", "fraud")),
    ("name = 'fraud_detector'", Condition("attribute", "name", "=", "fraud_detector")),
])
def test_version_conditions(text, expected):
    assert parse_version_filter(text) == [expected]


def test_a_version_filter_with_every_kind_of_condition():
    found = parse_version_filter(
        "name = 'fraud_detector' AND run_id IN ('a1', 'b2') AND version_number > 2 "
        "AND source_path LIKE 'runs:/%' AND tags.`owner` = '@meera'")
    assert [c.key for c in found] == ["name", "run_id", "version_number", "source_path", "owner"]


# --- refusals --------------------------------------------------------------------------------


def refused(parse, text) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse(text)
    error = caught.value
    assert error.code == "search.invalid_filter"
    assert "e.g." in error.hint  # the hint shows a valid example
    return error


@pytest.mark.parametrize("text, says", [
    ("name = 'a' OR name = 'b'", "OR is not supported"),
    ("run_id = 'x'", "'run_id' cannot be searched on registered models"),
    ("version_number = 1", "cannot be searched on registered models"),
    ("description = 'x'", "cannot be searched"),
    ("params.x = 'y'", "unknown entity 'params'"),
    ("name = fraud_detector", "expected a quoted value"),
    ("name = 3", "expected a quoted value"),
    ("name 'x'", "expected a comparison"),
    ("name > 'x'", "> cannot be used with 'name'"),
    ("tags.team IN ('a')", "IN cannot be used with a tag"),
    ("tags.team > 'a'", "> cannot be used with a tag"),
    ("name = 'unclosed", "never closed"),
    ("name = 'x' AND", "ends too early"),
    ("name = 'x' name = 'y'", "expected AND"),
    ("name IN 'a'", "parenthesised list"),
    ("name IN ('a' 'b')", "expected , or )"),
    ("name IN ('a', 3)", "expected a quoted value in the IN list"),
    ("name IS NULL", "IS NULL"),
    ("name NOT LIKE 'x'", "expected IN after NOT"),
    ("name = 'x' ; DROP TABLE models", "unexpected character ';'"),
    ("tags. = 'x'", "must be followed by a key"),
    ("tags.`` = 'x'", "tag key cannot be empty"),
    ("name LIKE 'abc\\'", "ends with an escape character"),
    ("= 'x'", "expected a field"),
])
def test_bad_model_filters_are_refused_with_an_example(text, says):
    error = refused(parse_model_filter, text)
    assert says in error.message, error.message
    assert "name LIKE 'fraud%'" in error.hint


@pytest.mark.parametrize("text, says", [
    ("version_number = 'three'", "whole number"),
    ("version_number = 1.5", "whole number"),
    ("version_number LIKE '1%'", "LIKE cannot be used with 'version_number'"),
    ("source_path IN ('a')", "IN cannot be used with 'source_path'"),
    ("run_id > 'a'", "> cannot be used with 'run_id'"),
    ("stage = 'Production'", "'stage' cannot be searched on model versions"),
])
def test_bad_version_filters_are_refused_with_an_example(text, says):
    error = refused(parse_version_filter, text)
    assert says in error.message, error.message
    assert "run_id IN" in error.hint


def test_non_text_and_huge_filters_are_refused():
    refused(parse_model_filter, 42)
    refused(parse_model_filter, "name = '" + "x" * 20_000 + "'")
    refused(parse_model_filter, " AND ".join(["name = 'x'"] * 60))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_either_parses_or_is_refused_cleanly(text):
    for parse in (parse_model_filter, parse_version_filter):
        try:
            conditions = parse(text)
        except InvalidInput as error:
            assert error.code == "search.invalid_filter"
        else:
            assert all(isinstance(c, Condition) for c in conditions)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_any_quoted_value_round_trips(value):
    quoted = "'" + value.replace("'", "''") + "'"
    assert parse_model_filter(f"tags.k = {quoted}") == [Condition("tag", "k", "=", value)]


# --- LIKE patterns ---------------------------------------------------------------------------


def test_like_patterns_split_into_wildcards_and_literals():
    assert like_segments("a%b_") == [("lit", "a"), ("any", "%"), ("lit", "b"), ("one", "_")]
    assert like_segments(r"50\%\_\\") == [("lit", "5"), ("lit", "0"), ("lit", "%"),
                                          ("lit", "_"), ("lit", "\\")]
    assert like_segments("") == []
    with pytest.raises(InvalidInput):
        like_segments("dangling\\")


# --- order_by --------------------------------------------------------------------------------


def test_models_sort_by_name_by_default_and_name_breaks_ties():
    assert parse_model_order(None) == [Order("name", True)]
    assert parse_model_order([]) == [Order("name", True)]
    assert parse_model_order(["last_updated_timestamp DESC"]) == [
        Order("last_updated_timestamp", False), Order("name", True)]
    assert parse_model_order(["name DESC"]) == [Order("name", False)]
    assert parse_model_order(["timestamp"]) == [Order("last_updated_timestamp", True),
                                                Order("name", True)]
    assert parse_model_order(["`creation_timestamp` asc"]) == [
        Order("creation_timestamp", True), Order("name", True)]
    assert parse_model_order("name") == [Order("name", True)]


def test_versions_sort_newest_update_first_by_default():
    assert parse_version_order(None) == list(DEFAULT_VERSION_ORDER)
    assert parse_version_order(["version_number ASC"]) == [
        Order("version_number", True), Order("name", True)]
    assert parse_version_order(["creation_timestamp DESC", "name"]) == [
        Order("creation_timestamp", False), Order("name", True), Order("version_number", False)]


@pytest.mark.parametrize("order_by", [
    ["stage"], ["name sideways"], ["name ASC DESC"], ["name", "name DESC"],
    ["version_number"], [3], ["name; drop"],
])
def test_bad_model_order_is_refused(order_by):
    with pytest.raises(InvalidInput) as caught:
        parse_model_order(order_by)
    assert caught.value.code == "search.invalid_order_by"
    assert "e.g." in caught.value.hint


def test_bad_version_order_is_refused():
    with pytest.raises(InvalidInput) as caught:
        parse_version_order(["run_id"])
    assert caught.value.code == "search.invalid_order_by"
    assert "version_number" in caught.value.message
