"""The token rules of the naming policy, and the suggestion they lead to.

A name is read as tokens (``name_tokens``); each rule claims a run of tokens at a
position (a ``Hit``); the hits are merged and what is left is checked for being
generic; a suggestion strips the hits until nothing is flagged. The findings and
their messages, and the public API, are ``charter.domain.naming``.

Standard library only: no I/O, no clock, no environment.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from charter.domain import wordlists

if TYPE_CHECKING:  # the policy only carries the word lists the rules read
    from charter.domain.naming import NamingPolicy

MIN_LENGTH, MAX_LENGTH = 3, 64
# Only this much of an over-long name is analysed: enough for a useful suggestion,
# and the work (and the number of findings) stays bounded for hostile input.
ANALYSED_PREFIX = 256
LONGEST_PHRASE = 3

FORMAT, VERSION, DATE = "name.format", "name.version_marker", "name.date"
ALGORITHM, GENERIC = "name.algorithm", "name.generic"
STAGE, PERSON = "name.stage_word", "name.person"

_VALID_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
_VERSION_TOKEN = re.compile(r"(?:v|ver|version|rev)\d+[a-z]?")
_GLUED_NUMBER = re.compile(r"([a-z]{3,})\d+")
_NUMBERED = re.compile(r"([a-z]+?)v?\d+")
_PERIOD = re.compile(  # quarters and fiscal years: q3, fy24, 2024q3, q3_24 is two tokens
    r"q[1-4]|fy\d\d(?:\d\d)?|(?:19|20)\d\d(?:q[1-4]|h[12])|(?:q[1-4]|h[12])(?:19|20)?\d\d")
_WEAK_PERIOD = re.compile(r"h[12]|w\d\d?")  # a date only next to one: "h2" alone may be hydrogen


@dataclass(frozen=True)
class Hit:
    """Tokens ``start:end`` break rule ``code``; ``replacement`` is what a fix keeps."""

    code: str
    start: int
    end: int
    replacement: tuple[str, ...] = ()
    owner: str = ""  # for a person hit: the name itself, without a possessive 's'


def name_tokens(name: str) -> list[str]:
    """The words of a name, read leniently: "Maria's FraudModel" -> marias, fraud, model."""
    text = unicodedata.normalize("NFKD", name[:ANALYSED_PREFIX])
    text = text.encode("ascii", "ignore").decode("ascii").replace("'", "")
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text).lower()  # camelCase -> camel_case
    return [token for token in re.split(r"[^a-z0-9]+", text) if token]


def is_valid_format(name: str) -> bool:
    return MIN_LENGTH <= len(name) <= MAX_LENGTH and bool(_VALID_NAME.fullmatch(name))


def scan(tokens: Sequence[str], policy: NamingPolicy) -> tuple[list[Hit], tuple[str, ...] | None]:
    """The token rules' hits, and the unflagged rest if that rest is generic (else None)."""
    hits = _merge(list(_find_hits(tokens, policy)))
    covered = {index for hit in hits for index in range(hit.start, hit.end)}
    rest = tuple(token for index, token in enumerate(tokens) if index not in covered)
    return hits, (rest if tokens and _is_generic(rest, policy) else None)


def _find_hits(tokens: Sequence[str], policy: NamingPolicy) -> Iterable[Hit]:
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


def _merge(hits: list[Hit]) -> list[Hit]:
    """Adjacent dates, markers and stages are one finding: 'oct_2024', 'v2_final'.
    A glued number ('detector2') stays apart: its word is kept, not dropped."""
    merged: list[Hit] = []
    for hit in hits:
        previous = merged[-1] if merged else None
        if (previous and previous.code == hit.code and previous.end == hit.start
                and hit.code in (DATE, VERSION, STAGE)
                and not (previous.replacement or hit.replacement)):
            merged[-1] = Hit(hit.code, previous.start, hit.end)
        else:
            merged.append(hit)
    return merged


def _is_generic(rest: Sequence[str], policy: NamingPolicy) -> bool:
    # Numbers and single letters say nothing about a product either.
    return all(token in policy.generic_words or token.isdigit() or len(token) == 1
               for token in rest)


# --- token rules: each returns a hit at ``index`` or None --------------------------


def _match_date(tokens: Sequence[str], index: int, policy: NamingPolicy) -> Hit | None:
    """A run of date parts with at least one unambiguous one: 'oct_2024', '2024_10_08'."""
    end, anchored = index, False
    while end < len(tokens) and (_is_date_part(tokens[end]) or _is_date(tokens[end], policy)):
        anchored = anchored or _is_date(tokens[end], policy)
        end += 1
    return Hit(DATE, index, end) if anchored else None


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
    return match is not None and (match.group(1) or match.group(4)) in policy.date_words


def _match_algorithm(tokens: Sequence[str], index: int, policy: NamingPolicy) -> Hit | None:
    length = _phrase_length(tokens, index, policy.algorithms)
    numbered = _NUMBERED.fullmatch(tokens[index])  # resnet50, gpt4, yolov8
    if not length and numbered and numbered.group(1) in policy.algorithms:
        length = 1
    return Hit(ALGORITHM, index, index + length) if length else None


def _match_version(tokens: Sequence[str], index: int, policy: NamingPolicy) -> Hit | None:
    token, is_last = tokens[index], index == len(tokens) - 1
    following = tokens[index + 1] if not is_last else ""
    if token in wordlists.VERSION_QUALIFIERS and _is_version_marker(following, policy):
        return Hit(VERSION, index, index + 2)
    if token in wordlists.VERSION_NUMBER_WORDS and following.isdigit():
        return Hit(VERSION, index, index + 2)
    if _is_version_marker(token, policy) or (is_last and token.isdigit()):
        return Hit(VERSION, index, index + 1)
    glued = _GLUED_NUMBER.fullmatch(token)
    if is_last and glued:  # "detector2": keep the word, drop the number
        return Hit(VERSION, index, index + 1, (glued.group(1),))
    return None


def _is_version_marker(token: str, policy: NamingPolicy) -> bool:
    return token in policy.version_markers or bool(_VERSION_TOKEN.fullmatch(token))


def _match_stage(tokens: Sequence[str], index: int, policy: NamingPolicy) -> Hit | None:
    length = _phrase_length(tokens, index, policy.stage_words)
    return Hit(STAGE, index, index + length) if length else None


def _match_person(tokens: Sequence[str], index: int, policy: NamingPolicy) -> Hit | None:
    owner = _person_in(tokens[index], policy)
    return Hit(PERSON, index, index + 1, owner=owner) if owner else None


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
_MATCHERS: tuple[Callable[[Sequence[str], int, NamingPolicy], Hit | None], ...] = (
    _match_date, _match_algorithm, _match_version, _match_stage, _match_person)


# --- suggestions -------------------------------------------------------------------


def suggest(tokens: Sequence[str], policy: NamingPolicy) -> str:
    """Strip flagged tokens until nothing is flagged; stripping can expose a new
    problem (a middle number becomes the last one), hence the loop."""
    candidate = _assemble(tokens)
    for _ in range(len(tokens) + 1):
        if not candidate:
            return ""
        parts = candidate.split("_")
        hits, generic_rest = scan(parts, policy)
        if generic_rest is not None:
            return ""
        if not hits:
            return candidate
        candidate = _assemble(_apply(parts, hits))
    return ""


def _apply(tokens: Sequence[str], hits: Sequence[Hit]) -> list[str]:
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

