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

Standard library only: no I/O, no clock, no environment.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from charter.domain import wordlists
from charter.domain.errors import InvalidInput

MODES = ("enforce", "warn", "off")
MIN_LENGTH, MAX_LENGTH = 3, 64
# Only this much of an over-long name is analysed: enough for a useful suggestion,
# and the work (and the number of findings) stays bounded for hostile input.
ANALYSED_PREFIX = 256
LONGEST_PHRASE = 3

FORMAT, VERSION, DATE = "name.format", "name.version_marker", "name.date"
ALGORITHM, GENERIC = "name.algorithm", "name.generic"
STAGE, PERSON = "name.stage_word", "name.person"

_VALID_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
_NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + "_")  # case reported apart
_VERSION_TOKEN = re.compile(r"(?:v|ver|version|rev)\d+[a-z]?")
_GLUED_NUMBER = re.compile(r"([a-z]{3,})\d+")
_NUMBERED = re.compile(r"([a-z]+?)v?\d+")
_PERIOD = re.compile(  # quarters and fiscal years: q3, fy24, 2024q3, q3_24 is two tokens
    r"q[1-4]|fy\d\d(?:\d\d)?|(?:19|20)\d\d(?:q[1-4]|h[12])|(?:q[1-4]|h[12])(?:19|20)?\d\d")
_WEAK_PERIOD = re.compile(r"h[12]|w\d\d?")  # a date only next to one: "h2" alone may be hydrogen


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
            raise InvalidInput("naming.mode", f"naming mode {self.mode!r} is not one of "
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
            "name.invalid",
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
        raise InvalidInput("name.invalid", "A model needs a name",
                           "name the product, e.g. 'fraud_detector'")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput("name.invalid", f"A name of {len(name)} characters is too long",
                           f"names are at most {MAX_NAME_LENGTH} characters; "
                           "64 under the naming policy")
    bad = next((c for c in name if c in URI_SEPARATORS or not c.isprintable() or c.isspace()),
               None)
    if bad is not None:
        raise InvalidInput("name.invalid", f"{name!r} contains {bad!r}, which cannot appear "
                           "in a name", "models:/ URIs use / @ : as separators; use letters, "
                           "digits and underscores")
    if not any(c.isalnum() for c in name):
        raise InvalidInput("name.invalid", f"{name!r} has no letter or digit",
                           "name the product, e.g. 'fraud_detector'")


# --- analysis ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hit:
    """Tokens ``start:end`` break rule ``code``; ``replacement`` is what a fix keeps."""

    code: str
    start: int
    end: int
    replacement: tuple[str, ...] = ()
    owner: str = ""  # for a person hit: the name itself, without a possessive 's'


def _analyse(name: str, policy: NamingPolicy) -> tuple[list[Finding], str]:
    tokens = _tokens(name)
    hits, generic_rest = _scan(tokens, policy)
    suggested = _suggest(tokens, policy)
    findings = [] if _is_valid_format(name) else [_format_finding(name, suggested)]
    findings += [_hit_finding(name, tokens, hit, suggested) for hit in hits]
    if generic_rest is not None:
        findings.append(_generic_finding(name, generic_rest, hits, tokens))
    return findings, suggested


def _tokens(name: str) -> list[str]:
    """The words of a name, read leniently: "Maria's FraudModel" -> marias, fraud, model."""
    text = unicodedata.normalize("NFKD", name[:ANALYSED_PREFIX])
    text = text.encode("ascii", "ignore").decode("ascii").replace("'", "")
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text).lower()  # camelCase -> camel_case
    return [token for token in re.split(r"[^a-z0-9]+", text) if token]


def _is_valid_format(name: str) -> bool:
    return MIN_LENGTH <= len(name) <= MAX_LENGTH and bool(_VALID_NAME.fullmatch(name))


def _scan(tokens: Sequence[str], policy: NamingPolicy) -> tuple[list[_Hit], tuple[str, ...] | None]:
    """The token rules' hits, and the unflagged rest if that rest is generic (else None)."""
    hits = _merge(list(_find_hits(tokens, policy)))
    covered = {index for hit in hits for index in range(hit.start, hit.end)}
    rest = tuple(token for index, token in enumerate(tokens) if index not in covered)
    return hits, (rest if tokens and _is_generic(rest, policy) else None)


def _find_hits(tokens: Sequence[str], policy: NamingPolicy) -> Iterable[_Hit]:
    index = 0
    while index < len(tokens):
        allowed = _phrase_length(tokens, index, policy.allow)
        hit = next((hit for match in _MATCHERS if (hit := match(tokens, index, policy))), None)
        # The longer match wins: allowing "ada" must not hide "ada_boost".
        if hit is not None and hit.end - index > allowed:
            yield hit
            index = hit.end
        else:
            index += allowed or 1


def _phrase_length(tokens: Sequence[str], start: int, vocabulary: frozenset[str]) -> int:
    """Length of the longest phrase from ``vocabulary`` starting at ``start``, or 0."""
    for length in range(min(LONGEST_PHRASE, len(tokens) - start), 0, -1):
        if "_".join(tokens[start:start + length]) in vocabulary:
            return length
    return 0


def _merge(hits: list[_Hit]) -> list[_Hit]:
    """Adjacent dates, markers and stages are one finding: 'oct_2024', 'v2_final'.
    A glued number ('detector2') stays apart: its word is kept, not dropped."""
    merged: list[_Hit] = []
    for hit in hits:
        previous = merged[-1] if merged else None
        if (previous and previous.code == hit.code and previous.end == hit.start
                and hit.code in (DATE, VERSION, STAGE)
                and not (previous.replacement or hit.replacement)):
            merged[-1] = _Hit(hit.code, previous.start, hit.end)
        else:
            merged.append(hit)
    return merged


def _is_generic(rest: Sequence[str], policy: NamingPolicy) -> bool:
    # Numbers and single letters say nothing about a product either.
    return all(token in policy.generic_words or token.isdigit() or len(token) == 1
               for token in rest)


# --- token rules: each returns a hit at ``index`` or None --------------------------


def _match_date(tokens: Sequence[str], index: int, policy: NamingPolicy) -> _Hit | None:
    """A run of date parts with at least one unambiguous one: 'oct_2024', '2024_10_08'."""
    end, anchored = index, False
    while end < len(tokens) and (_is_date_part(tokens[end]) or _is_date(tokens[end], policy)):
        anchored = anchored or _is_date(tokens[end], policy)
        end += 1
    return _Hit(DATE, index, end) if anchored else None


def _is_date(token: str, policy: NamingPolicy) -> bool:
    return token not in policy.allow and (
        token in policy.date_words or _is_stamp(token) or bool(_PERIOD.fullmatch(token))
        or _is_glued_month(token, policy))


def _is_date_part(token: str) -> bool:
    """A day number or half-year: part of a date next to one, not a date alone."""
    is_day = len(token) <= 2 and token.isdigit() and 1 <= int(token) <= 31
    return is_day or bool(_WEAK_PERIOD.fullmatch(token))


def _is_stamp(token: str) -> bool:
    """A year 1990-2099, or '202410' / '20241008' with a plausible month and day."""
    if len(token) not in (4, 6, 8) or not token.isdigit() or not 1990 <= int(token[:4]) <= 2099:
        return False
    month, day = int(token[4:6] or 1), int(token[6:] or 1)
    return 1 <= month <= 12 and 1 <= day <= 31


def _is_glued_month(token: str, policy: NamingPolicy) -> bool:
    """'oct2024', 'oct24', '2024oct'."""
    match = re.fullmatch(r"([a-z]+)(\d\d|\d{4})|(\d{4})([a-z]+)", token)
    return bool(match) and (match.group(1) or match.group(4)) in policy.date_words


def _match_algorithm(tokens: Sequence[str], index: int, policy: NamingPolicy) -> _Hit | None:
    length = _phrase_length(tokens, index, policy.algorithms)
    numbered = _NUMBERED.fullmatch(tokens[index])  # resnet50, gpt4, yolov8
    if not length and numbered and numbered.group(1) in policy.algorithms:
        length = 1
    return _Hit(ALGORITHM, index, index + length) if length else None


def _match_version(tokens: Sequence[str], index: int, policy: NamingPolicy) -> _Hit | None:
    token, is_last = tokens[index], index == len(tokens) - 1
    following = tokens[index + 1] if not is_last else ""
    if token in wordlists.VERSION_QUALIFIERS and _is_version_marker(following, policy):
        return _Hit(VERSION, index, index + 2)
    if token in wordlists.VERSION_NUMBER_WORDS and following.isdigit():
        return _Hit(VERSION, index, index + 2)
    if _is_version_marker(token, policy) or (is_last and token.isdigit()):
        return _Hit(VERSION, index, index + 1)
    glued = _GLUED_NUMBER.fullmatch(token)
    if is_last and glued:  # "detector2": keep the word, drop the number
        return _Hit(VERSION, index, index + 1, (glued.group(1),))
    return None


def _is_version_marker(token: str, policy: NamingPolicy) -> bool:
    return token in policy.version_markers or bool(_VERSION_TOKEN.fullmatch(token))


def _match_stage(tokens: Sequence[str], index: int, policy: NamingPolicy) -> _Hit | None:
    length = _phrase_length(tokens, index, policy.stage_words)
    return _Hit(STAGE, index, index + length) if length else None


def _match_person(tokens: Sequence[str], index: int, policy: NamingPolicy) -> _Hit | None:
    owner = _person_in(tokens[index], policy)
    return _Hit(PERSON, index, index + 1, owner=owner) if owner else None


def _person_in(token: str, policy: NamingPolicy) -> str:
    """The first name ``token`` is, or is the possessive of ('marias' -> 'maria'); or ''."""
    if token in policy.person_names:
        return token
    owner = token[:-1]
    if token.endswith("s") and owner in policy.person_names and owner not in policy.allow:
        return owner
    return ""


# Order matters: a token gets the first rule that claims it ("bert" is an algorithm
# before it is a person, "april" a date before a person).
_MATCHERS: tuple[Callable[[Sequence[str], int, NamingPolicy], _Hit | None], ...] = (
    _match_date, _match_algorithm, _match_version, _match_stage, _match_person)


# --- suggestions -------------------------------------------------------------------


def _suggest(tokens: Sequence[str], policy: NamingPolicy) -> str:
    """Strip flagged tokens until nothing is flagged; stripping can expose a new
    problem (a middle number becomes the last one), hence the loop."""
    candidate = _assemble(tokens)
    for _ in range(len(tokens) + 1):
        if not candidate:
            return ""
        parts = candidate.split("_")
        hits, generic_rest = _scan(parts, policy)
        if generic_rest is not None:
            return ""
        if not hits:
            return candidate
        candidate = _assemble(_apply(parts, hits))
    return ""


def _apply(tokens: Sequence[str], hits: Sequence[_Hit]) -> list[str]:
    kept: list[str] = []
    position = 0
    for hit in hits:
        kept += [*tokens[position:hit.start], *hit.replacement]
        position = hit.end
    return kept + list(tokens[position:])


def _assemble(tokens: Sequence[str]) -> str:
    """A well-formed name from tokens: starts with a letter, at most 64 characters
    cut at a token boundary, "" if shorter than 3."""
    tokens = list(tokens)
    while tokens and not "a" <= tokens[0][0] <= "z":
        tokens.pop(0)
    if not tokens:
        return ""
    name = tokens[0][:MAX_LENGTH]
    for token in tokens[1:]:
        if len(name) + 1 + len(token) > MAX_LENGTH:
            break
        name += "_" + token
    return name if len(name) >= MIN_LENGTH else ""


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


def _hit_finding(name: str, tokens: Sequence[str], hit: _Hit, suggested: str) -> Finding:
    raw = "_".join(tokens[hit.start:hit.end])
    values = {
        "token": _q(raw), "raw": raw, "owner": hit.owner, "target": _target(hit, raw, suggested),
        "where": "ends in" if hit.end == len(tokens) else "contains",
        "what": "a version number glued to a word" if hit.replacement else "a version marker",
    }
    return Finding(hit.code, raw, f"{_q(name)} {_MESSAGES[hit.code].format(**values)}",
                   _FIXES[hit.code].format(**values))


def _target(hit: _Hit, raw: str, suggested: str) -> str:
    if hit.code == VERSION:
        return (f"register it as a new version of {_q(suggested)}" if suggested
                else f"drop {_q(raw)} and name the model after its product")
    return f"name it {_q(suggested)}" if suggested else "name it after its product"


def _generic_finding(name: str, rest: Sequence[str], hits: Sequence[_Hit],
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
