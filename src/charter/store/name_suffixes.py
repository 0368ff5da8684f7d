"""Every suffix of every model's name key (table ``model_name_suffixes``, migration 0009):
the listing's substring name filter as a range of one index, not a walk over every name.

A name key contains ``s`` exactly when one of its suffixes starts with ``s``: the models
whose suffixes lie in [s, s with its last character the next one). One range of
ix_model_name_suffixes_suffix, so a filter that matches few names reads few rows; a
``LIKE '%s%'`` on name_key walks the names in order until the page is full, which for a
filter that matches little is every model's name (140 µs at 2,000 models, 15 at 20:
bench/README.md). But the range collects every match before the page is sorted, so a
filter that most names contain (``a``) would cost 1.1 ms at 2,000 models instead of the
walk's 40 µs, which stops after a page: ``name_clause`` first counts the range up to
``DENSE_SUFFIXES`` rows, and walks the names when it holds that many. The worst case is
then a filter with about that many matches, not one with none.

On SQLite the store writes a model's suffixes with its name (``write``, ``rewrite``); on
PostgreSQL a trigger on ``models`` does (store/triggers.py ``create_name_suffix_trigger``),
so replicas of an earlier version during a rolling upgrade, which know nothing of them,
keep them too. A model's suffixes go with it (ON DELETE CASCADE).
"""

from __future__ import annotations

from collections.abc import Sequence

from charter.store.driver import Conn, Reader, placeholders, reader_for

_NAME_CONTAINS = ("m.id IN (SELECT s.model_id FROM model_name_suffixes s "
                  "WHERE s.suffix >= ? AND s.suffix < ?)")
_NAME_LIKE = "m.name_key LIKE ? ESCAPE '\\'"
_SUFFIXES_UP_TO = ("SELECT count(*) FROM (SELECT 1 FROM model_name_suffixes "
                   "WHERE suffix >= ? AND suffix < ?{readable} LIMIT ?) AS hits")
DENSE_SUFFIXES = 256


def suffix_range(text: str) -> tuple[str, str]:
    """The bounds of the suffixes that start with ``text`` (not empty), in code point
    order, which is UTF-8's byte order."""
    last = ord(text[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # a surrogate is no character: the next one is
        last = 0xE000
    return text, text[:-1] + chr(min(last, 0x10FFFF))


def name_clause(reader: Reader, text: str, clauses: list[str], params: list[object], *,
                readable: Sequence[int] | None = None) -> None:
    """The filter "the name key (alias ``m``) contains ``text``": the suffix range when it
    is short, else the walk in name order, which a filter that many names contain ends
    soon. The choice counts only the ``readable`` models' suffixes (None: every model's),
    so how long a listing takes does not depend on names its caller may not see."""
    bounds = suffix_range(text)
    where = "" if readable is None else (
        f" AND model_id IN ({placeholders(len(readable))})" if readable else " AND 1 = 0")
    count = reader.value(_SUFFIXES_UP_TO.format(readable=where),
                         (*bounds, *(readable or ()), DENSE_SUFFIXES))
    if int(count) < DENSE_SUFFIXES:
        clauses.append(_NAME_CONTAINS)
        params.extend(bounds)
    else:
        clauses.append(_NAME_LIKE)
        params.append("%" + "".join("\\" + c if c in "\\%_" else c for c in text) + "%")


def write(conn: Conn, model_id: int, key: str) -> None:
    """Every suffix of a new model's name key (on PostgreSQL the trigger writes them)."""
    if not key or reader_for(conn).dialect == "postgresql":
        return
    suffixes = [key[start:] for start in range(len(key))]
    values: list[object] = []
    for suffix in suffixes:
        values += [model_id, suffix]
    reader_for(conn).run("INSERT INTO model_name_suffixes (model_id, suffix) VALUES "
                         + ", ".join(["(?, ?)"] * len(suffixes)), values)


def rewrite(conn: Conn, model_id: int, key: str) -> None:
    """A renamed model's suffixes: the old name's go, the new name's come (on PostgreSQL
    the trigger does both)."""
    reader = reader_for(conn)
    if reader.dialect == "postgresql":
        return
    reader.run("DELETE FROM model_name_suffixes WHERE model_id = ?", (model_id,))
    write(reader, model_id, key)
