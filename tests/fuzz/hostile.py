"""Hypothesis strategies for what schemathesis never sends: bytes no store may keep.

Schemathesis draws strings as valid UTF-8 and numbers within JSON's usual range, so a
lone surrogate, NUL, an escape character or a 70-bit integer never reaches the server
through it. ``hostile_requests`` takes a valid case of an operation and puts one such
value into one place of it: a JSON string or object key (anywhere in the body), a JSON
number, a query value, or a path segment. The request is then encoded the way a
hostile client would: JSON with ``\\udfff`` escapes and ``NaN``/``Infinity``, and a
path or query with the surrogate as its (invalid) UTF-8 bytes, percent-encoded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
CONTROLS = st.one_of(st.characters(max_codepoint=0x1F, exclude_characters="\t\n\r"),
                     st.characters(min_codepoint=0x7F, max_codepoint=0x9F))
BAD_CHARS = st.one_of(SURROGATES, CONTROLS, st.just("\x00"))
HUGE_INTEGERS = st.one_of(st.integers(min_value=2**63, max_value=2**80),
                          st.integers(min_value=-(2**80), max_value=-(2**63) - 1))
NOT_FINITE = st.sampled_from([float("nan"), float("inf"), float("-inf"), "1e400"])


@st.composite
def bad_text(draw: st.DrawFn) -> str:
    """Some ordinary text with one character no client text may hold in it."""
    return draw(st.text(max_size=6)) + draw(BAD_CHARS) + draw(st.text(max_size=6))


@dataclass
class HostileRequest:
    method: str
    path: str                       # percent-encoded, ready to send
    query: list[tuple[str, str]]
    body: Any                       # a JSON value, or None for no body
    where: str                      # what was made hostile, for the failure message

    def content(self) -> bytes | None:
        if self.body is None:
            return None
        # ensure_ascii writes a lone surrogate as its \\udfff escape; NaN/Infinity as is;
        # "1e400" (a str marker) becomes the bare number literal.
        return json.dumps(self.body, allow_nan=True).replace('"1e400"', "1e400").encode()

    def url(self, base: str) -> str:
        if not self.query:
            return base + self.path
        pairs = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in self.query)
        return f"{base}{self.path}?{pairs}"


def _encode(text: str) -> str:
    """Percent-encoded UTF-8, a lone surrogate as the three bytes UTF-8 refuses."""
    return quote(str(text).encode("utf-8", "surrogatepass"), safe="")


def _leaves(value: Any, trail: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """(trail, leaf) of every string and number in a JSON value, and of every key."""
    found: list[tuple[tuple[Any, ...], Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append(((*trail, ("key", key)), key))
            found += _leaves(item, (*trail, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _leaves(item, (*trail, index))
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        found.append((trail, value))
    return found


def _replace(value: Any, trail: tuple[Any, ...], new: Any) -> Any:
    if not trail:
        return new
    head, rest = trail[0], trail[1:]
    if isinstance(head, tuple) and head[0] == "key":  # rename a key
        return {(new if k == head[1] else k): v for k, v in value.items()}
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = _replace(value[head], rest, new)
    return copy


@st.composite
def hostile_requests(draw: st.DrawFn, cases: st.SearchStrategy[Any]) -> HostileRequest:
    case = draw(cases)
    body = case.body if isinstance(case.body, (dict, list)) else None
    query = [(k, str(v)) for k, v in (case.query or {}).items() if not isinstance(v, list)]
    segments = dict(case.path_parameters or {})
    places = ([("body", t) for t, _ in _leaves(body)] if body is not None else []) + \
        [("query", i) for i in range(len(query))] + [("path", k) for k in segments] + \
        ([("body", ("new",))] if isinstance(body, dict) else [])
    if not places:
        places = [("query", -1)]
    place, at = draw(st.sampled_from(places))
    where = f"{place} {at}"
    if place == "body":
        leaf = None if at == ("new",) else dict(_leaves(body)).get(at)
        numeric = isinstance(leaf, (int, float)) and not isinstance(at[-1], tuple)
        new = draw(st.one_of(HUGE_INTEGERS, NOT_FINITE) if numeric else bad_text())
        body = ({**body, draw(bad_text()): "x"} if at == ("new",) else _replace(body, at, new))
    elif place == "query":
        value = draw(st.one_of(bad_text(), HUGE_INTEGERS.map(str)))
        query = [*query, ("name", value)] if at == -1 else [
            (k, value if i == at else v) for i, (k, v) in enumerate(query)]
    else:
        segments[at] = draw(st.one_of(bad_text(), HUGE_INTEGERS.map(str)))
    path = case.operation.path
    for key, value in segments.items():
        path = path.replace("{" + key + "}", _encode(value) if value != "" else "x")
    return HostileRequest(case.method, path, query, body, where)
