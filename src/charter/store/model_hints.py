"""A missing model's "did you mean": the names it may be a slip of, found at a bounded
cost whatever the registry's size. Plain SQL on the driver's connection (store/driver.py).
"""

from __future__ import annotations

import difflib
import heapq
from collections.abc import Sequence

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
# store/name_suffixes.py). difflib (~18 µs a name) then compares only the HINT_COMPARED
# with the most characters in common (``nearest``).
HINT_EVERY_NAME = 100
HINT_EACH = 16
HINT_COMPARED = 8


def not_found(conn: Conn, name: str) -> NotFound:
    close = difflib.get_close_matches(name_key(name), nearest(name, hint_candidates(conn, name)),
                                      n=3)
    hint = (f"did you mean {', '.join(repr(c) for c in close)}?" if close
            else "list the registered models with `charter ls`")
    return NotFound(codes.MODEL_NOT_FOUND, f"No model named '{name}' is registered", hint,
                    {"name": name})


def hint_candidates(conn: Conn, name: str) -> list[str]:
    """The names a miss of ``name`` may be a slip of (``not_found``), in one statement:
    every name of a small registry; in a larger one at most 4 × HINT_EACH."""
    key = name_key(name)
    parts = [part for part in dict.fromkeys((key[1:], key[len(key) // 2:])) if len(part) >= 3]
    statement = " UNION ALL ".join(
        [_EVERY_NAME, _BEFORE, _FROM] + [_HOLDING] * len(parts))
    params: list[object] = [HINT_EVERY_NAME + 1, key, HINT_EACH, key, HINT_EACH]
    for part in parts:
        params += [*name_suffixes.suffix_range(part), HINT_EACH]
    found = reader_for(conn).all(statement, params)
    every = [found_name for branch, found_name in found if branch == 0]
    if len(every) <= HINT_EVERY_NAME:
        return every
    return list(dict.fromkeys(found_name for branch, found_name in found if branch == 1))


def nearest(name: str, candidates: Sequence[str]) -> list[str]:
    """The HINT_COMPARED of ``candidates`` (lowercased) with the most characters in common
    with ``name``, in any order (difflib's quick_ratio, an upper bound of its ratio): a
    cheap cut before difflib's full comparison. Shared start and end ranked worse: a slip
    in a name's first and last characters left every name at nought."""
    asked = name_key(name)
    lowered = [candidate.lower() for candidate in candidates]
    if len(lowered) <= HINT_COMPARED:
        return lowered
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(asked)

    def in_common(candidate: str) -> float:
        matcher.set_seq1(candidate)
        return matcher.quick_ratio()

    return heapq.nlargest(HINT_COMPARED, lowered, key=in_common)


# Each part in a subquery of its own: SQLite takes no ORDER BY or LIMIT on a part of a
# compound SELECT.
_EVERY_NAME = ("SELECT * FROM (SELECT 0 AS branch, name FROM models ORDER BY name_key "
               "LIMIT ?) a")  # in key order: the same hint for the same miss
_BEFORE = ("SELECT * FROM (SELECT 1 AS branch, name FROM models WHERE name_key < ? "
           "ORDER BY name_key DESC LIMIT ?) b")
_FROM = ("SELECT * FROM (SELECT 1 AS branch, name FROM models WHERE name_key >= ? "
         "ORDER BY name_key LIMIT ?) f")
_HOLDING = ("SELECT * FROM (SELECT 1 AS branch, m.name FROM models m WHERE m.id IN ("
            "SELECT s.model_id FROM model_name_suffixes s WHERE s.suffix >= ? AND "
            "s.suffix < ? LIMIT ?)) h")
