"""A missing model's "did you mean": the names it may be a slip of, found at a bounded
cost whatever the registry's size. Plain SQL on the driver's connection (store/driver.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from charter.domain import error_codes as codes
from charter.domain.errors import NotFound
from charter.domain.per_model import name_key
from charter.store import name_suffixes
from charter.store.driver import Conn, reader_for

# A miss's "did you mean" is bounded whatever the registry's size: reading every name and
# running difflib over all of them cost each miss 14–48 ms of the server's CPU at 2,000
# models (more for names sharing long stretches), fifty to a hundred and fifty times a
# hit — what any client asking for names that do not exist could make the server spend.
# One statement reads the candidates: every name of a registry of up to HINT_EVERY_NAME
# models; past that the names beside the asked one in key order (a slip late in the name)
# and those holding the asked name past its first character or its second half (a slip
# early in it), each an index range (the last two on model_name_suffixes' index,
# store/name_suffixes.py). rapidfuzz scores them all (``closest``: 46 µs for 32 names, where
# difflib took ~230 for 17).
HINT_EVERY_NAME = 100
HINT_EACH = 16
# A candidate's score (0–100) is the better of rapidfuzz's ratio (difflib's formula, its
# matches the longest common subsequence) and its token sort ratio (words moved: 100), of
# the names as lowercase words; at least HINT_SCORE, difflib's cutoff of 0.6, to be hinted.
HINT_SCORE = 60
HINT_SHOWN = 3


class Miss(NamedTuple):
    """What one statement read for a name no model holds now."""
    former: bool             # a former name: its redirect leads to the model
    candidates: list[str]    # the names it may be a slip of (none read: empty)


def not_found(conn: Conn, name: str) -> NotFound:
    return missing(name, hint_candidates(conn, name))


def missing(name: str, candidates: Sequence[str]) -> NotFound:
    """The not-found of ``name``, hinting the ``candidates`` closest to it."""
    close = closest(name, candidates)
    hint = (f"did you mean {', '.join(repr(c) for c in close)}?" if close
            else "list the registered models with `charter ls`")
    return NotFound(codes.MODEL_NOT_FOUND, f"No model named '{name}' is registered", hint,
                    {"name": name})


def closest(name: str, candidates: Sequence[str]) -> list[str]:
    """At most HINT_SHOWN of ``candidates`` that score HINT_SCORE or more against
    ``name``, best first."""
    # Imported here: `charter ls` imports this module and never hints (docs/cli.md).
    from rapidfuzz import fuzz, process, utils

    ratios = {index: score for _, score, index in process.extract(
        name, candidates, scorer=fuzz.ratio, processor=utils.default_process, limit=None)}
    scores = {index: max(score, ratios[index]) for _, score, index in process.extract(
        name, candidates, scorer=fuzz.token_sort_ratio, processor=utils.default_process,
        limit=None)}
    hinted = [index for index, score in scores.items() if score >= HINT_SCORE]
    # ties broken by the plain ratio (a word added on both ends ties the token sorts of
    # every name with the same words), then by the candidates' order
    hinted.sort(key=lambda index: (-scores[index], -ratios[index], index))
    return [candidates[index] for index in hinted[:HINT_SHOWN]]


def hint_candidates(conn: Conn, name: str) -> list[str]:
    """The names a miss of ``name`` may be a slip of (``not_found``), in one statement:
    every name of a small registry; in a larger one at most 4 × HINT_EACH."""
    reader = reader_for(conn)
    return candidates_of(reader.all(CANDIDATES[reader.dialect], candidate_params(name)))


def miss_of(rows: Sequence[Sequence[Any]]) -> Miss:
    """The Miss that the rows of ``MISS`` (or ``FORMER_ROW``) tell: whether the name is a
    former name, and the candidates."""
    found = [(branch, name) for branch, name in rows]
    return Miss(any(branch == _FORMER for branch, _ in found), candidates_of(found))


def candidates_of(rows: Iterable[tuple[int, str]]) -> list[str]:
    """The candidates in the rows of ``CANDIDATES``: every name when the registry is small
    (only then are there rows of that branch), else the ranges' names once each."""
    found = list(rows)
    every = [name for branch, name in found if branch == _EVERY]
    if every:
        return every
    return list(dict.fromkeys(name for branch, name in found if branch == _NEAR))


def candidate_params(name: str) -> list[object]:
    """The parameters of ``CANDIDATES`` for a miss of ``name``."""
    key = name_key(name)
    parts = [part for part in dict.fromkeys((key[1:], key[len(key) // 2:])) if len(part) >= 3]
    params: list[object] = [key, key]
    for index in range(2):  # a part too short to narrow anything: a range holding nothing
        params += (name_suffixes.suffix_range(parts[index]) if index < len(parts)
                   else ("", ""))
    return params


def miss_params(name: str) -> list[object]:
    """The parameters of ``MISS``."""
    return [name_key(name), *candidate_params(name)]


_EVERY, _NEAR, _FORMER = 0, 1, 2
# Each part in a subquery of its own: SQLite takes no ORDER BY or LIMIT on a part of a
# compound SELECT. Every name only when there are at most HINT_EVERY_NAME (the check is
# one short walk: reading the names cost 0.26 ms of PostgreSQL's time). The limits are
# written in, not parameters, so that PostgreSQL's generic plan of the prepared statement
# costs what a plan for given values does, and is kept (below).
_EVERY_NAME = (f"SELECT * FROM (SELECT {_EVERY} AS branch, name FROM models "
               f"ORDER BY name_key LIMIT {HINT_EVERY_NAME}) a "  # the same hint for a miss
               f"WHERE NOT EXISTS (SELECT 1 FROM models LIMIT 1 OFFSET {HINT_EVERY_NAME})")
_BEFORE = (f"SELECT * FROM (SELECT {_NEAR} AS branch, name FROM models WHERE name_key < ? "
           f"ORDER BY name_key DESC LIMIT {HINT_EACH}) b")
_FROM = (f"SELECT * FROM (SELECT {_NEAR} AS branch, name FROM models WHERE name_key >= ? "
         f"ORDER BY name_key LIMIT {HINT_EACH}) f")
# The names holding a part: on PostgreSQL by ``= ANY (ARRAY(...))``, whose cost the planner
# reckons alike with the range's bounds known or not, so it keeps the statement's generic
# plan; ``IN (...)`` it reckoned sixteen lookups without them and one with, and planned
# each miss again (0.6 ms). SQLite has no ARRAY.
_HOLDING = {
    "postgresql": (f"SELECT * FROM (SELECT {_NEAR} AS branch, m.name FROM models m "
                   "WHERE m.id = ANY (ARRAY(SELECT s.model_id FROM model_name_suffixes s "
                   f"WHERE s.suffix >= ? AND s.suffix < ? LIMIT {HINT_EACH}))) h"),
    "sqlite": (f"SELECT * FROM (SELECT {_NEAR} AS branch, m.name FROM models m WHERE m.id IN ("
               "SELECT s.model_id FROM model_name_suffixes s WHERE s.suffix >= ? AND "
               f"s.suffix < ? LIMIT {HINT_EACH})) h"),
}
CANDIDATES = {dialect: " UNION ALL ".join([_EVERY_NAME, _BEFORE, _FROM, holding, holding])
              for dialect, holding in _HOLDING.items()}
FORMER_ROW = f"SELECT {_FORMER} AS branch, name FROM redirects WHERE name_key = ?"
# A former name's row, then the candidates.
MISS = {dialect: f"{FORMER_ROW} UNION ALL SELECT * FROM ({candidates}) c"
        for dialect, candidates in CANDIDATES.items()}
