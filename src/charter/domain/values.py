"""Rules for the free-form values attached to models and versions.

Tags, aliases, descriptions and reasons are checked here so that every surface
(native API, MLflow API, CLI, UI) refuses the same inputs with the same codes.
Free text may hold tabs and newlines but no other control characters: reasons
and descriptions are echoed to terminals (an ESC could rewrite the screen) and
PostgreSQL cannot store NUL in text.
"""

from __future__ import annotations

import re
import unicodedata

from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput

MAX_TAG_KEY = 250
MAX_TAG_VALUE = 5000
MAX_DESCRIPTION = 5000
MAX_REASON = 2000
MAX_ALIAS = 64

# MLflow's tag-key alphabet (letters, digits, _ . - / : and space), kept to ASCII.
_TAG_KEY = re.compile(r"[A-Za-z0-9_.\-/: ]+")
_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_VERSION_LIKE = re.compile(r"[vV]?[0-9]+")
_RESERVED_ALIASES = frozenset({"none", "staging", "production", "archived", "latest"})
# C0 controls except tab, newline and carriage return, plus DEL and the C1 block.
_FORBIDDEN_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# What no text from a client may hold: the controls above, and lone UTF-16 surrogates (a
# JSON "\udfff" escape decodes to one; UTF-8 cannot encode it, so no store can keep it).
_UNSAFE_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# In a name, a path segment or another one-line value, line breaks and tabs too.
_UNSAFE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
MIN_INT64, MAX_INT64 = -(2**63), 2**63 - 1


def unsafe_char(text: str, *, one_line: bool = False) -> int | None:
    """Index of the first character no client text may hold (a control character, NUL,
    a lone surrogate; with ``one_line`` also tab, CR and LF), if any."""
    found = (_UNSAFE_LINE if one_line else _UNSAFE_TEXT).search(text)
    return found.start() if found else None


def fits_int64(number: int) -> bool:
    """Every store keeps integers in 64 bits (SQLite INTEGER, PostgreSQL BIGINT)."""
    return MIN_INT64 <= number <= MAX_INT64


def find_hidden_char(text: str, *, allow_space: bool = False) -> int | None:
    """Index of the first control, format, separator or unassigned character, if any.

    Such characters make a value look different from what it is (a zero-width space,
    a right-to-left override, a NUL), so identifiers and URIs refuse them.
    """
    if text.isascii() and text.isprintable() and (allow_space or " " not in text):
        return None  # printable ASCII: of categories C and Z only the space, checked here
    for index, char in enumerate(text):
        if char == " " and allow_space:
            continue
        if unicodedata.category(char)[0] in "CZ":
            return index
    return None


def _shorten(text: str, limit: int = 60) -> str:
    """A value short enough to quote in a message."""
    return text if len(text) <= limit else text[:limit] + "..."


def _require_str(value: object, code: str, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(
            code,
            f"{what} must be text, not {type(value).__name__}",
            f"pass the {what} as a string",
        )
    return value


def _check_free_text(text: str, *, code: str, what: str, limit: int) -> None:
    if len(text) > limit:
        raise InvalidInput(
            code,
            f"{what} is {len(text)} characters long; the limit is {limit}",
            f"shorten the {what} to at most {limit} characters",
            {"length": len(text), "limit": limit},
        )
    bad = _FORBIDDEN_IN_TEXT.search(text)
    if bad:
        raise InvalidInput(
            code,
            f"{what} contains the control character {bad.group()!r} at position {bad.start()}",
            "remove control characters; tabs and newlines are allowed",
            {"position": bad.start()},
        )


def check_tag(key: str, value: str) -> None:
    """A tag is a short key from a fixed alphabet and a bounded text value."""
    _require_str(key, codes.TAG_INVALID, "tag key")
    _require_str(value, codes.TAG_INVALID, "tag value")
    _check_tag_key(key)
    _check_free_text(value, code=codes.TAG_INVALID, what=f"the value of tag {_shorten(key)!r}",
                     limit=MAX_TAG_VALUE)


def _check_tag_key(key: str) -> None:
    if not key:
        raise InvalidInput(codes.TAG_INVALID, "a tag key cannot be empty", "give the tag a key")
    if len(key) > MAX_TAG_KEY:
        raise InvalidInput(
            codes.TAG_INVALID,
            f"tag key {_shorten(key)!r} is {len(key)} characters long; the limit is {MAX_TAG_KEY}",
            f"use a key of at most {MAX_TAG_KEY} characters",
            {"length": len(key), "limit": MAX_TAG_KEY},
        )
    if key != key.strip():
        raise InvalidInput(
            codes.TAG_INVALID,
            f"tag key {key!r} starts or ends with whitespace",
            "remove the leading and trailing spaces",
        )
    if not _TAG_KEY.fullmatch(key):
        raise InvalidInput(
            codes.TAG_INVALID,
            f"tag key {_shorten(key)!r} contains characters outside the allowed set",
            "use letters, digits, spaces and _ . - / : in tag keys (e.g. 'team', 'mlflow.note')",
        )


def check_alias(alias: str) -> None:
    """Aliases are MLflow-compatible names that cannot be mistaken for a stage or a version."""
    _require_str(alias, codes.ALIAS_INVALID, "alias")
    if not _ALIAS.fullmatch(alias) or len(alias) > MAX_ALIAS:
        raise InvalidInput(
            codes.ALIAS_INVALID,
            f"{_shorten(alias)!r} is not a valid alias",
            f"start with a letter, then use letters, digits, _ and -, at most {MAX_ALIAS} "
            "characters (e.g. 'champion')",
            {"alias": _shorten(alias)},
        )
    if alias.lower() in _RESERVED_ALIASES or _VERSION_LIKE.fullmatch(alias):
        # models:/name/<stage|latest|N> and the "vN" form already mean something, so
        # an alias spelled that way would make URIs and MLflow lookups ambiguous.
        raise InvalidInput(
            codes.ALIAS_INVALID,
            f"{alias!r} is reserved and cannot be an alias",
            "stage names (None, Staging, Production, Archived), 'latest' and version "
            "numbers like 'v3' are reserved; pick a name such as 'champion' or 'challenger'",
            {"alias": alias},
        )


def check_description(text: str) -> None:
    _require_str(text, "description.invalid", "description")
    _check_free_text(text, code="description.invalid", what="the description",
                     limit=MAX_DESCRIPTION)


def check_reason(reason: str | None, *, required: bool) -> str:
    """The stripped reason, or "" when none was given and none is needed."""
    text = "" if reason is None else _require_str(reason, codes.REASON_INVALID, "reason").strip()
    if required and not text:
        raise InvalidInput(
            codes.REASON_REQUIRED,
            "this change requires a reason and none was given",
            "give a reason saying why, e.g. 'latency regression in v43'",
        )
    _check_free_text(text, code=codes.REASON_INVALID, what="the reason", limit=MAX_REASON)
    return text


MAX_RUN_ID = 256


def check_run_id(run_id: str) -> None:
    """A run id is an opaque identifier from the tracking server: short and printable."""
    if not isinstance(run_id, str) or len(run_id) > MAX_RUN_ID or \
            find_hidden_char(run_id) is not None:
        raise InvalidInput(codes.RUN_ID_INVALID, f"{str(run_id)[:80]!r} is not a run id",
                           f"run ids are at most {MAX_RUN_ID} printable characters, "
                           "e.g. the 32 hex digits MLflow assigns")
