"""Tags, aliases, descriptions and reasons (DESIGN §2.8, §2.9)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.domain.errors import InvalidInput
from charter.domain.values import (
    MAX_DESCRIPTION,
    MAX_REASON,
    MAX_TAG_KEY,
    MAX_TAG_VALUE,
    check_alias,
    check_description,
    check_reason,
    check_tag,
    find_hidden_char,
)

# --- tags ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, value",
    [
        ("team", "payments"),
        ("algorithm", "xgboost"),
        ("mlflow.source.name", "train.py"),
        ("owner/email", "ml@example.com"),
        ("data: window", ""),
        ("k" * MAX_TAG_KEY, "v" * MAX_TAG_VALUE),
        ("notes", "line one\nline two\ttabbed\r\n"),
        ("lang", "données"),
    ],
)
def test_valid_tags(key, value):
    check_tag(key, value)


@pytest.mark.parametrize(
    "key, value",
    [
        ("", "x"),
        ("k" * (MAX_TAG_KEY + 1), "x"),
        ("team", "v" * (MAX_TAG_VALUE + 1)),
        (" team", "x"),
        ("team ", "x"),
        ("te\x00am", "x"),
        ("te\nam", "x"),
        ("team#1", "x"),
        ("équipe", "x"),
        ("team", "a\x00b"),
        ("team", "\x1b[2J"),
        (None, "x"),
        ("team", None),
        ("team", 3),
    ],
)
def test_invalid_tags(key, value):
    with pytest.raises(InvalidInput) as caught:
        check_tag(key, value)
    assert caught.value.code == "tag.invalid"
    assert caught.value.hint


def test_tag_length_error_names_the_limit():
    with pytest.raises(InvalidInput) as caught:
        check_tag("team", "v" * (MAX_TAG_VALUE + 1))
    assert str(MAX_TAG_VALUE) in caught.value.message
    assert "team" in caught.value.message


# --- aliases ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "alias", ["champion", "challenger", "Champion", "shadow-2", "a", "canary_eu", "v3a",
              "version3", "a" * 64, "production_candidate", "latest_good"]
)
def test_valid_aliases(alias):
    check_alias(alias)


@pytest.mark.parametrize(
    "alias",
    [
        "", "3", "42", "v3", "V12", "latest", "LATEST", "none", "None", "staging", "Production",
        "ARCHIVED", "_champion", "-x", "2nd", "champ ion", "champ@ion", "champ/ion",
        "champ.ion", "champ\x00", "a" * 65, "chámpion", None,
    ],
)
def test_invalid_aliases(alias):
    with pytest.raises(InvalidInput) as caught:
        check_alias(alias)
    assert caught.value.code == "alias.invalid"
    assert caught.value.hint


@settings(max_examples=50, deadline=None)
@given(st.from_regex(r"[vV]?[0-9]{1,6}", fullmatch=True))
def test_numbers_and_version_numbers_are_never_aliases(alias):
    with pytest.raises(InvalidInput):
        check_alias(alias)


# --- descriptions -------------------------------------------------------------------------


def test_descriptions():
    check_description("")
    check_description("Scores card payments.\n\n* trained on 2024 data")
    check_description("d" * MAX_DESCRIPTION)
    for bad in ("d" * (MAX_DESCRIPTION + 1), "a\x00b", "\x07bell", None):
        with pytest.raises(InvalidInput) as caught:
            check_description(bad)
        assert caught.value.code == "description.invalid"


# --- reasons ------------------------------------------------------------------------------


def test_reason_is_stripped():
    assert check_reason("  latency regression in v43 \n", required=True) == (
        "latency regression in v43"
    )


@pytest.mark.parametrize("reason", [None, "", "   ", "\n\t"])
def test_missing_reason(reason):
    assert check_reason(reason, required=False) == ""
    with pytest.raises(InvalidInput) as caught:
        check_reason(reason, required=True)
    assert caught.value.code == "reason.required"
    assert caught.value.hint


@pytest.mark.parametrize("reason", ["r" * (MAX_REASON + 1), "bad\x1b[31m", "nul\x00", 7])
def test_invalid_reason(reason):
    with pytest.raises(InvalidInput) as caught:
        check_reason(reason, required=False)
    assert caught.value.code == "reason.invalid"


def test_reason_at_the_limit_is_fine():
    assert check_reason("r" * MAX_REASON, required=True) == "r" * MAX_REASON


# --- hidden characters ----------------------------------------------------------------------


def _first_hidden_by_category(text: str, allow_space: bool) -> int | None:
    """The rule itself, one character at a time (the function answers ASCII faster)."""
    import unicodedata

    return next((i for i, c in enumerate(text) if not (c == " " and allow_space)
                 and unicodedata.category(c)[0] in "CZ"), None)


@pytest.mark.parametrize("text, allow_space, expected", [
    ("runs:/abc123/model", False, None),
    ("a b", False, 1),
    ("a b", True, None),
    ("tab\there", True, 3),
    ("nul\x00", True, 3),
    ("del\x7f", False, 3),
    ("zero\u200bwidth", False, 4),
    ("no-break\u00a0space", True, 8),
    ("", False, None),
])
def test_find_hidden_char_names_the_first_control_or_separator(text, allow_space, expected):
    assert find_hidden_char(text, allow_space=allow_space) == expected


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(max_codepoint=0x2100)), st.booleans())
def test_find_hidden_char_agrees_with_the_unicode_categories(text, allow_space):
    assert find_hidden_char(text, allow_space=allow_space) == \
        _first_hidden_by_category(text, allow_space)


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F)), st.booleans())
def test_find_hidden_char_on_ascii_agrees_with_the_unicode_categories(text, allow_space):
    assert find_hidden_char(text, allow_space=allow_space) == \
        _first_hidden_by_category(text, allow_space)
