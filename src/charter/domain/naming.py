"""Naming policy: a model name is a product contract (DESIGN §3).

``lint(name)`` returns findings. Each one has a stable code, the offending token,
a message that names the value and the rule, and a suggested fix. The rules:

- ``name.format``: lowercase snake_case, starts with a letter, 3-64 characters;
- ``name.version_marker``: ``v2``, ``final``, ``really_final``, a bare number at the end;
- ``name.date``: years 1990-2099, months, ``20241008`` stamps, quarters;
- ``name.algorithm``: ``xgboost``, ``random_forest``, ... (a tag's job);
- ``name.stage_word``: ``prod``, ``staging``, ``champion``, ...;
- ``name.person``: a first name, plain or possessive (``marias_model``);
- ``name.generic``: nothing specific is left once the above are removed.

Rules see whole tokens (the parts between underscores), so ``marketing`` never
matches ``mark``; a malformed name is normalised first (``Fraud-Detector`` reads as
``fraud_detector``) so the other rules still report on it.

``person_names`` is injected (``charter.person_names.default_policy``). Empty, the
default, turns the person rule off: without a names list a possessive (``marias``)
cannot be told from a plural (``claims``). ``allow`` lists tokens and phrases no
token rule flags (the longer match wins: allowing ``ada`` does not hide
``ada_boost``); it does not make a generic word specific.

The token rules and the suggestion live in ``charter.domain.naming_rules``;
this module holds the policy, the findings and their messages.

Standard library only: no I/O, no clock, no environment.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from charter.domain import error_codes as codes
from charter.domain import wordlists
from charter.domain.errors import InvalidInput
from charter.domain.naming_rules import (
    ALGORITHM,
    ANALYSED_PREFIX,
    DATE,
    FORMAT,
    GENERIC,
    LONGEST_PHRASE,
    MAX_LENGTH,
    MIN_LENGTH,
    PERSON,
    STAGE,
    VERSION,
    Hit,
    is_valid_format,
    name_tokens,
    scan,
    suggest,
)

__all__ = [
    "ALGORITHM", "ANALYSED_PREFIX", "DATE", "DEFAULT_POLICY", "FORMAT", "GENERIC",
    "LONGEST_PHRASE", "MAX_LENGTH", "MAX_NAME_LENGTH", "MIN_LENGTH", "MODES", "PERSON",
    "STAGE", "URI_SEPARATORS", "VERSION", "Finding", "InvalidName", "NamingPolicy",
    "check_addressable", "check_name", "lint", "suggest_name",
]

MODES = ("enforce", "warn", "off")
_NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + "_")  # case reported apart


@dataclass(frozen=True)
class Finding:
    code: str
    token: str
    message: str
    suggestion: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _words(value: Iterable[str] | str) -> frozenset[str]:
    """Config may hand over a list or a single string; rules need lowercase frozensets."""
    if isinstance(value, frozenset):
        return value
    items = (value,) if isinstance(value, str) else value
    return frozenset(str(item).strip().lower() for item in items)


@dataclass(frozen=True)
class NamingPolicy:
    mode: str = "enforce"
    person_names: frozenset[str] = frozenset()
    allow: frozenset[str] = wordlists.ALLOWED_TOKENS
    version_markers: frozenset[str] = wordlists.VERSION_MARKERS
    algorithms: frozenset[str] = wordlists.ALGORITHMS
    generic_words: frozenset[str] = wordlists.GENERIC_WORDS
    stage_words: frozenset[str] = wordlists.STAGE_WORDS
    date_words: frozenset[str] = wordlists.DATE_WORDS

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidInput(codes.NAMING_MODE, f"naming mode {self.mode!r} is not one of "
                               f"{', '.join(MODES)}", hint="set it to 'enforce', 'warn' or 'off'",
                               details={"mode": self.mode, "allowed": list(MODES)})
        for name in ("person_names", "allow", "version_markers", "algorithms",
                     "generic_words", "stage_words", "date_words"):
            object.__setattr__(self, name, _words(getattr(self, name)))

    def lint(self, name: str) -> list[Finding]:
        """Every finding for ``name``, whatever the mode (``check_name`` applies it)."""
        return _analyse(name, self)[0]


DEFAULT_POLICY = NamingPolicy()


class InvalidName(InvalidInput):
    """A name breaks the naming policy in ``enforce`` mode."""

    def __init__(self, name: str, findings: Sequence[Finding], suggested_name: str = "") -> None:
        super().__init__(
            codes.NAME_INVALID,
            "; ".join(finding.message for finding in findings) or f"{_q(name)} is not allowed",
            hint=findings[0].suggestion if findings else "",
            details={"name": name, "findings": [finding.to_dict() for finding in findings],
                     "suggested_name": suggested_name},
        )
        self.findings = tuple(findings)
        self.suggested_name = suggested_name


def lint(name: str, policy: NamingPolicy | None = None) -> list[Finding]:
    return (policy or DEFAULT_POLICY).lint(name)


def suggest_name(name: str, policy: NamingPolicy | None = None) -> str:
    """``name`` with its offending tokens stripped; "" when nothing usable is left."""
    return _analyse(name, policy or DEFAULT_POLICY)[1]


def check_name(name: str, policy: NamingPolicy) -> list[Finding]:
    """Apply the policy's mode: off -> [], warn -> the findings, enforce -> raise or [].

    Whatever the mode, a name must be storable and addressable (see check_addressable).
    """
    if policy.mode == "off":
        check_addressable(name)
        return []
    findings, suggested = _analyse(name, policy)
    if findings and policy.mode == "enforce":
        raise InvalidName(name, findings, suggested)
    check_addressable(name)
    return findings


MAX_NAME_LENGTH = 256  # the column's width: even with the style rules off
URI_SEPARATORS = "/@:%#?;\\"


def check_addressable(name: str) -> None:
    """Limits no mode lifts: a name must fit the store and survive in a models:/ URI."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(codes.NAME_INVALID, "A model needs a name",
                           "name the product, e.g. 'fraud_detector'")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(codes.NAME_INVALID, f"A name of {len(name)} characters is too long",
                           f"names are at most {MAX_NAME_LENGTH} characters; "
                           "64 under the naming policy")
    bad = next((c for c in name if c in URI_SEPARATORS or not c.isprintable() or c.isspace()),
               None)
    if bad is not None:
        raise InvalidInput(codes.NAME_INVALID, f"{name!r} contains {bad!r}, which cannot appear "
                           "in a name", "models:/ URIs use / @ : as separators; use letters, "
                           "digits and underscores")
    if not any(c.isalnum() for c in name):
        raise InvalidInput(codes.NAME_INVALID, f"{name!r} has no letter or digit",
                           "name the product, e.g. 'fraud_detector'")


# --- analysis: the rules' hits (charter.domain.naming_rules), as findings ------


def _analyse(name: str, policy: NamingPolicy) -> tuple[list[Finding], str]:
    words = name_tokens(name)
    hits, generic_rest = scan(words, policy)
    suggested = suggest(words, policy)
    findings = [] if is_valid_format(name) else [_format_finding(name, suggested)]
    findings += [_hit_finding(name, words, hit, suggested) for hit in hits]
    if generic_rest is not None:
        findings.append(_generic_finding(name, generic_rest, hits, words))
    return findings, suggested


# --- messages ----------------------------------------------------------------------


def _q(value: str) -> str:
    """Quote a value for a message; long values are cut so messages stay readable."""
    if len(value) <= 72:  # a full-length name (64) is shown whole
        return repr(value)
    quoted = repr(value[:48])
    return f"{quoted[:-1]}…{quoted[-1]} ({len(value)} characters)"


def _format_finding(name: str, suggested: str) -> Finding:
    message = (f"{_q(name)} is not a valid model name: it {', '.join(_format_problems(name))}; "
               f"names are lowercase snake_case, start with a letter and are "
               f"{MIN_LENGTH}-{MAX_LENGTH} characters")
    fix = (f"use {_q(suggested)}" if suggested
           else "use lowercase words joined by '_' that name the product, e.g. 'fraud_detector'")
    return Finding(FORMAT, name if len(name) <= 80 else name[:80] + "…", message, fix)


def _format_problems(name: str) -> list[str]:
    if not name:
        return ["is empty"]
    problems = []
    if len(name) < MIN_LENGTH:
        problems.append(f"is shorter than {MIN_LENGTH} characters")
    if len(name) > MAX_LENGTH:
        problems.append(f"is {len(name)} characters long")
    if any("A" <= char <= "Z" for char in name):
        problems.append("has uppercase letters")
    strange = sorted(set(name) - _NAME_CHARACTERS)
    if strange:
        problems.append("has " + ", ".join(repr(char) for char in strange[:3]))
    if not name[0].isalpha():
        problems.append("does not start with a letter")
    if "__" in name:
        problems.append("has a double underscore")
    if name.endswith("_"):
        problems.append("ends with '_'")
    return problems


# The rest of the sentence after the quoted name, and the fix; {target} is
# "name it '<suggestion>'" or, when nothing usable is left, a plain instruction.
_MESSAGES = {
    VERSION: "{where} {what} {token}; the registry numbers versions, the name is the product",
    DATE: "contains a date ({token}); dates belong to versions, which the registry timestamps",
    ALGORITHM: "names an algorithm ({token}); algorithms change, the product does not",
    STAGE: "contains the stage word {token}; stages belong to versions, the name stays",
    PERSON: "contains a person's name ({token}); people move on, the product stays",
}
_FIXES = {
    VERSION: "{target}",
    DATE: "{target}; the registry records when each version was registered",
    ALGORITHM: "{target} and add the tag algorithm={raw}",
    STAGE: "{target} and move versions through the stages instead",
    PERSON: "{target} and record the owner as a tag, e.g. owner={owner}",
}


def _hit_finding(name: str, tokens: Sequence[str], hit: Hit, suggested: str) -> Finding:
    raw = "_".join(tokens[hit.start:hit.end])
    values = {
        "token": _q(raw), "raw": raw, "owner": hit.owner, "target": _target(hit, raw, suggested),
        "where": "ends in" if hit.end == len(tokens) else "contains",
        "what": "a version number glued to a word" if hit.replacement else "a version marker",
    }
    return Finding(hit.code, raw, f"{_q(name)} {_MESSAGES[hit.code].format(**values)}",
                   _FIXES[hit.code].format(**values))


def _target(hit: Hit, raw: str, suggested: str) -> str:
    if hit.code == VERSION:
        return (f"register it as a new version of {_q(suggested)}" if suggested
                else f"drop {_q(raw)} and name the model after its product")
    return f"name it {_q(suggested)}" if suggested else "name it after its product"


def _generic_finding(name: str, rest: Sequence[str], hits: Sequence[Hit],
                     tokens: Sequence[str]) -> Finding:
    if rest:
        subject = "it" if len(rest) == len(tokens) else _q("_".join(rest))
        message = f"{_q(name)} is too generic: {subject} says what the model is, not what it is for"
    else:
        removed = ", ".join(_q("_".join(tokens[hit.start:hit.end])) for hit in hits)
        verb = "is" if len(hits) == 1 else "are"
        message = (f"{_q(name)} does not name a product: nothing is left once {removed} "
                   f"{verb} removed")
    fix = "name it after the product it serves, e.g. 'fraud_detector' or 'search_ranker'"
    return Finding(GENERIC, "_".join(rest or tokens), message, fix)
