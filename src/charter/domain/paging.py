"""Keyset page tokens and the registry listing's filters: pure rules, no I/O.

A keyset token names the last item of a page (its sort key), so the next page starts
right after it through the index that orders the list: page 80 costs what page 1
costs, and a model added meanwhile neither repeats nor skips an item. The token is
opaque to callers (base64 of ``k:<key>``); an offset token (``o:<n>``, service/models.py)
is used where the order is the caller's choice (MLflow searches).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput
from charter.domain.lifecycle import parse_stage

_KEYSET = "k:"
MAX_PAGE = 1000  # items a listing or search answers at most per page


def clamp_page_size(max_results: int) -> int:
    """``max_results`` when it is a page size a listing accepts (1 to MAX_PAGE)."""
    if not isinstance(max_results, int) or max_results < 1 or max_results > MAX_PAGE:
        raise InvalidInput(codes.MAX_RESULTS_INVALID, f"max_results must be 1..{MAX_PAGE}, "
                           f"got {max_results!r}", f"ask for at most {MAX_PAGE} per page")
    return max_results


def keyset_token(last_key: str) -> str:
    """The token of the page that follows the item whose sort key is ``last_key``."""
    return base64.urlsafe_b64encode((_KEYSET + last_key).encode()).decode()


def after_key(token: str) -> str | None:
    """The sort key a keyset token resumes after; None for the first page ("")."""
    if not token:
        return None
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        text = ""
    if not text.startswith(_KEYSET):
        raise InvalidInput(codes.PAGE_TOKEN_INVALID, f"'{token[:100]}' is not a page token",
                           "pass the next_page_token of the previous page unchanged")
    return text[len(_KEYSET):]


@dataclass(frozen=True)
class ModelFilter:
    """What a model listing keeps: a case-insensitive substring of the name, a tag (its
    key, and its value when given: ``team`` or ``team=fraud``) and a stage some version
    of the model is in. Empty fields keep everything."""

    name_like: str = ""
    tag_key: str = ""
    tag_value: str | None = None
    stage: str = ""

    @classmethod
    def parse(cls, name_like: str = "", tag: str = "", stage: str = "") -> ModelFilter:
        tag, stage = tag.strip(), stage.strip()
        key, has_value, value = tag.partition("=")
        if tag and not key.strip():
            raise InvalidInput(codes.FILTER_TAG, f"'{tag[:100]}' is not a tag filter",
                               "write key=value (e.g. team=fraud), or just a key")
        return cls(name_like.strip(), key.strip(), value.strip() if has_value else None,
                   parse_stage(stage).value if stage else "")
