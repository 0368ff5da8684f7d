"""MLflow's search grammar, parsed into plain conditions the store can run.

The MLflow client sends ``filter`` strings such as::

    name LIKE 'fraud%' AND tags.team = 'fraud'
    name = 'fraud_detector' AND run_id IN ('a1', 'b2') AND version_number > 3
    tags.`key with spaces` != 'x'

and ``order_by`` lists such as ``["last_updated_timestamp DESC", "name"]``.
This module turns them into ``Condition`` and ``Order`` values, or refuses them with
``InvalidInput("search.invalid_filter")`` / ``"search.invalid_order_by"`` and a hint
that shows a valid example. Conditions are AND-joined (MLflow has no OR).

What may be searched (MLflow's own rules):

* registered models: ``name`` (=, !=, LIKE, ILIKE, IN, NOT IN) and ``tags.<key>``
  (=, !=, LIKE, ILIKE);
* model versions: additionally ``run_id`` (=, !=, LIKE, ILIKE, IN, NOT IN),
  ``source_path`` (=, !=, LIKE, ILIKE) and ``version_number`` (=, !=, <, <=, >, >=).

LIKE patterns use ``%`` and ``_`` as wildcards and ``\\`` to escape the next character.
A tag condition matches only items that carry the tag, except MLflow's
``mlflow.prompt.is_prompt`` tag, whose absence reads as ``'false'`` (the MLflow client
adds ``tag.`mlflow.prompt.is_prompt` != 'true'`` to every model search).

Standard library only: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput
from charter.domain.search_lexer import SyntaxProblem, Token, describe, tokenize
from charter.domain.values import fits_int64

MAX_FILTER_LENGTH = 10_000
MAX_CONDITIONS = 50
MAX_LIST_VALUES = 1000
PROMPT_TAG = "mlflow.prompt.is_prompt"

TAG = "tag"
ATTRIBUTE = "attribute"

EQUALITY = frozenset({"=", "!="})
PATTERN = frozenset({"LIKE", "ILIKE"})
MEMBERSHIP = frozenset({"IN", "NOT IN"})
NUMERIC = frozenset({"=", "!=", "<", "<=", ">", ">="})

_TAG_OPERATORS = EQUALITY | PATTERN
_TEXT_OPERATORS = EQUALITY | PATTERN
_LIST_OPERATORS = EQUALITY | PATTERN | MEMBERSHIP

MODEL_EXAMPLE = "name LIKE 'fraud%' AND tags.team = 'fraud'"
VERSION_EXAMPLE = "name = 'fraud_detector' AND run_id IN ('a1b2', 'c3d4') AND version_number > 2"


@dataclass(frozen=True)
class Condition:
    """One comparison: ``kind`` is "attribute" (``key`` names it) or "tag" (``key`` is the tag key).

    ``value`` is a str, an int (``version_number``) or a tuple of str (IN lists).
    ``absent_matches`` says whether an item without the tag satisfies the condition.
    """

    kind: str
    key: str
    op: str
    value: str | int | tuple[str, ...]
    absent_matches: bool = False


@dataclass(frozen=True)
class Order:
    key: str          # name, creation_timestamp, last_updated_timestamp, version_number
    ascending: bool = True


@dataclass(frozen=True)
class _Target:
    what: str                           # "registered models" / "model versions"
    attributes: dict[str, frozenset[str]]
    numeric: frozenset[str]
    example: str
    order_keys: dict[str, str]          # accepted spelling -> canonical key
    order_example: str


MODELS = _Target(
    what="registered models",
    attributes={"name": _LIST_OPERATORS},
    numeric=frozenset(),
    example=MODEL_EXAMPLE,
    order_keys={"name": "name", "creation_timestamp": "creation_timestamp",
                # MLflow's SQL store sorts "timestamp" by the last update
                "timestamp": "last_updated_timestamp",
                "last_updated_timestamp": "last_updated_timestamp"},
    order_example="['last_updated_timestamp DESC', 'name ASC']",
)

VERSIONS = _Target(
    what="model versions",
    attributes={"name": _LIST_OPERATORS, "run_id": _LIST_OPERATORS,
                "source_path": _TEXT_OPERATORS, "version_number": NUMERIC},
    numeric=frozenset({"version_number"}),
    example=VERSION_EXAMPLE,
    order_keys={"name": "name", "version_number": "version_number",
                "creation_timestamp": "creation_timestamp",
                "last_updated_timestamp": "last_updated_timestamp"},
    order_example="['version_number DESC']",
)

DEFAULT_VERSION_ORDER = (Order("last_updated_timestamp", False), Order("name", True),
                         Order("version_number", False))


# --- public entry points -----------------------------------------------------------------


def parse_model_filter(text: str | None) -> list[Condition]:
    """The conditions of a registered-model search (empty for no filter)."""
    return _parse_filter(text, MODELS)


def parse_version_filter(text: str | None) -> list[Condition]:
    """The conditions of a model-version search (empty for no filter)."""
    return _parse_filter(text, VERSIONS)


def parse_model_order(order_by: Iterable[str] | None) -> list[Order]:
    """Sort keys for models; ``name`` ascending breaks ties (MLflow's natural order)."""
    orders = _parse_orders(order_by, MODELS)
    if not any(o.key == "name" for o in orders):
        orders.append(Order("name", True))
    return orders


def parse_version_order(order_by: Iterable[str] | None) -> list[Order]:
    """Sort keys for versions; by default the most recently updated first (as MLflow)."""
    orders = _parse_orders(order_by, VERSIONS) or list(DEFAULT_VERSION_ORDER)
    if not any(o.key == "name" for o in orders):
        orders.append(Order("name", True))
    if not any(o.key == "version_number" for o in orders):
        orders.append(Order("version_number", False))
    return orders


def like_segments(pattern: str) -> list[tuple[str, str]]:
    """A LIKE pattern as (kind, text) pieces: ("lit", "abc"), ("any", "%"), ("one", "_").

    A backslash makes the next character literal. Stores translate the pieces into
    their own pattern syntax, so every database reads a pattern the same way.
    """
    pieces: list[tuple[str, str]] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            if index + 1 == len(pattern):
                raise InvalidInput(
                    codes.SEARCH_INVALID_FILTER,
                    f"the LIKE pattern {pattern!r} ends with an escape character",
                    "a backslash escapes the character after it; write \\\\ for a backslash, "
                    "\\% for a percent sign and \\_ for an underscore",
                )
            pieces.append(("lit", pattern[index + 1]))
            index += 2
            continue
        if char == "%":
            pieces.append(("any", char))
        elif char == "_":
            pieces.append(("one", char))
        else:
            pieces.append(("lit", char))
        index += 1
    return pieces


# --- parser --------------------------------------------------------------------------------


class _Parser:
    def __init__(self, tokens: list[Token], target: _Target) -> None:
        self.tokens = tokens
        self.index = 0
        self.target = target

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise SyntaxProblem("the filter ends too early")
        self.index += 1
        return token

    def conditions(self) -> list[Condition]:
        found = [self.condition()]
        while self.peek() is not None:
            joiner = self.take()
            if joiner.kind == "word" and joiner.text == "OR":
                raise SyntaxProblem("OR is not supported; conditions can only be joined "
                                     "with AND", joiner.pos)
            if joiner.kind != "word" or joiner.text != "AND":
                raise SyntaxProblem(f"expected AND between conditions, found "
                                     f"{describe(joiner)}", joiner.pos)
            found.append(self.condition())
            if len(found) > MAX_CONDITIONS:
                raise SyntaxProblem(f"a filter may hold at most {MAX_CONDITIONS} conditions")
        return found

    def condition(self) -> Condition:
        field = self.take()
        if field.kind != "field":
            raise SyntaxProblem(f"expected a field such as name or tags.<key>, found "
                                 f"{describe(field)}", field.pos)
        kind, key = self.field(field)
        op = self.operator()
        allowed = _TAG_OPERATORS if kind == TAG else self.target.attributes[key]
        if op not in allowed:
            shown = ", ".join(sorted(allowed))
            what = "a tag" if kind == TAG else f"'{key}'"
            raise SyntaxProblem(f"{op} cannot be used with {what}; use one of: {shown}",
                                 field.pos)
        value = self.values() if op in MEMBERSHIP else self.value(kind, key)
        if op in PATTERN:
            assert isinstance(value, str)
            try:  # refuse a dangling escape now, not in the database
                like_segments(value)
            except InvalidInput as error:
                raise SyntaxProblem(f"{error.message} ({error.hint})", field.pos) from None
        absent = kind == TAG and key == PROMPT_TAG and (
            (op == "=" and value == "false") or (op == "!=" and value == "true"))
        return Condition(kind, key, op, value, absent)

    def field(self, token: Token) -> tuple[str, str]:
        if "\x00" in token.text:
            entity, key = token.text.split("\x00", 1)
            if entity.lower() in ("tag", "tags"):
                if not key:
                    raise SyntaxProblem("a tag key cannot be empty", token.pos)
                return TAG, key
            if entity.lower() not in ("attribute", "attributes", "attr"):
                raise SyntaxProblem(f"unknown entity '{entity}'; use tags.<key> or an "
                                     "attribute", token.pos)
        else:
            key = token.text
        if key not in self.target.attributes:
            shown = ", ".join(sorted(self.target.attributes))
            raise SyntaxProblem(f"'{key}' cannot be searched on {self.target.what}; "
                                 f"search by {shown} or tags.<key>", token.pos)
        return ATTRIBUTE, key

    def operator(self) -> str:
        token = self.take()
        if token.kind == "op":
            return token.text
        if token.kind == "word" and token.text in ("LIKE", "ILIKE", "IN"):
            return token.text
        if token.kind == "word" and token.text == "NOT":
            after = self.take()
            if after.kind == "word" and after.text == "IN":
                return "NOT IN"
            raise SyntaxProblem(f"expected IN after NOT, found {describe(after)}", after.pos)
        if token.kind == "word" and token.text == "IS":
            raise SyntaxProblem("IS NULL / IS NOT NULL is not supported here", token.pos)
        raise SyntaxProblem(f"expected a comparison (=, !=, LIKE, ILIKE, IN, ...), found "
                             f"{describe(token)}", token.pos)

    def value(self, kind: str, key: str) -> str | int:
        token = self.take()
        if kind == ATTRIBUTE and key in self.target.numeric:
            text = token.text.strip()
            if token.kind in ("number", "string") and re.fullmatch(r"[-+]?[0-9]+", text):
                digits = text.lstrip("+-").lstrip("0")
                if len(digits) > 19 or not fits_int64(int(text)):
                    raise SyntaxProblem(f"{text[:40]} is outside the whole numbers a store "
                                         "keeps (-2^63 to 2^63-1)", token.pos)
                return int(text)
            raise SyntaxProblem(f"'{key}' is compared with a whole number, not "
                                 f"{describe(token)}", token.pos)
        if token.kind != "string":
            raise SyntaxProblem(f"expected a quoted value such as 'fraud_detector', found "
                                 f"{describe(token)}", token.pos)
        return token.text

    def values(self) -> tuple[str, ...]:
        opening = self.take()
        if opening.kind != "lparen":
            raise SyntaxProblem(f"IN takes a parenthesised list such as ('a', 'b'), found "
                                 f"{describe(opening)}", opening.pos)
        found: list[str] = []
        while True:
            token = self.take()
            if token.kind != "string":
                raise SyntaxProblem(f"expected a quoted value in the IN list, found "
                                     f"{describe(token)}", token.pos)
            found.append(token.text)
            if len(found) > MAX_LIST_VALUES:
                raise SyntaxProblem(f"an IN list may hold at most {MAX_LIST_VALUES} values")
            after = self.take()
            if after.kind == "rparen":
                return tuple(found)
            if after.kind != "comma":
                raise SyntaxProblem(f"expected , or ) in the IN list, found {describe(after)}",
                                     after.pos)


def _parse_filter(text: str | None, target: _Target) -> list[Condition]:
    if text is None:
        return []
    if not isinstance(text, str):
        raise _invalid_filter(target, f"the filter must be text, not {type(text).__name__}")
    if len(text) > MAX_FILTER_LENGTH:
        raise _invalid_filter(target, f"the filter is {len(text)} characters long; the limit "
                                      f"is {MAX_FILTER_LENGTH}")
    if not text.strip():
        return []
    try:
        return _Parser(tokenize(text), target).conditions()
    except SyntaxProblem as problem:
        raise _invalid_filter(target, problem.message, text) from None


def _invalid_filter(target: _Target, problem: str, text: str = "") -> InvalidInput:
    shown = f" {text[:200]!r}" if text else ""
    return InvalidInput(
        codes.SEARCH_INVALID_FILTER,
        f"Invalid filter for {target.what}{shown}: {problem}",
        f"write conditions joined by AND, e.g. {target.example}",
        {"filter": text[:200], "problem": problem},
    )


# --- order_by ------------------------------------------------------------------------------


_ORDER = re.compile(r"\s*(?P<key>`[^`]+`|\"[^\"]+\"|[A-Za-z_][A-Za-z0-9_.]*)"
                    r"(?:\s+(?P<dir>[A-Za-z]+))?\s*")


def _parse_orders(order_by: Iterable[str] | None, target: _Target) -> list[Order]:
    if order_by is None:
        return []
    if isinstance(order_by, str):
        order_by = [order_by]
    orders: list[Order] = []
    seen: set[str] = set()
    for clause in order_by:
        if not isinstance(clause, str):
            raise _invalid_order(target, f"each order_by entry must be text, not "
                                         f"{type(clause).__name__}")
        if not clause.strip():
            continue
        match = _ORDER.fullmatch(clause)
        if not match:
            raise _invalid_order(target, f"{clause[:100]!r} could not be parsed")
        key = match.group("key").strip("`\"")
        for prefix in ("attribute.", "attributes.", "attr."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        canonical = target.order_keys.get(key)
        if canonical is None:
            shown = ", ".join(sorted(target.order_keys))
            raise _invalid_order(target, f"{target.what} cannot be ordered by '{key}'; "
                                         f"use one of: {shown}")
        direction = (match.group("dir") or "ASC").upper()
        if direction not in ("ASC", "DESC"):
            raise _invalid_order(target, f"'{match.group('dir')}' is not ASC or DESC")
        if canonical in seen:
            raise _invalid_order(target, f"'{key}' appears more than once")
        seen.add(canonical)
        orders.append(Order(canonical, direction == "ASC"))
    return orders


def _invalid_order(target: _Target, problem: str) -> InvalidInput:
    return InvalidInput(
        codes.SEARCH_INVALID_ORDER_BY,
        f"Invalid order_by for {target.what}: {problem}",
        f"give a list of '<key> [ASC|DESC]', e.g. {target.order_example}",
        {"problem": problem},
    )
