"""A parsed MLflow filter (``domain.search``) as SQL: the WHERE clause of a page, of fixed
fragments with every value a bound parameter, and its ORDER BY (store/search.py runs the
pages)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from charter.domain.search import ATTRIBUTE, Condition, Order, like_segments
from charter.store.driver import placeholders
from charter.store.models import name_key

# --- conditions as SQL -----------------------------------------------------------------------

_COMPARISONS = frozenset({"=", "!=", "<", "<=", ">", ">="})


def selective(condition: Condition) -> bool:
    """A condition an index answers with a few rows (a name, a run, a source)."""
    return condition.kind == ATTRIBUTE and condition.op in ("=", "IN") and \
        condition.key in ("name", "run_id", "source_path")


class Where:
    """The WHERE clause of a page. ``tags_filter``: another condition finds the few rows,
    so a tag condition checks each of them (EXISTS on the tag's primary key) instead of
    listing every owner of the tag first (IN, on the (key, value) index)."""

    def __init__(self, dialect: str, *, tags_filter: bool = False) -> None:
        self.dialect = dialect
        self.tags_filter = tags_filter
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.clauses) if self.clauses else ""

    def model(self, condition: Condition) -> None:
        if condition.kind == ATTRIBUTE:  # only "name" is searchable on models
            self.clauses.append(self._name_clause(condition))
        else:
            self._tag(condition, "model_tags", "model_id", "m.id")

    def version(self, condition: Condition) -> None:
        if condition.kind != ATTRIBUTE:
            self._tag(condition, "version_tags", "version_id", "v.id")
        elif condition.key == "name" and condition.op in ("=", "IN"):
            self.clauses.append(self._name_clause(condition))  # the joined model's key
        elif condition.key == "name":
            # The models matched, then their versions by model_id: with the condition on
            # the join, SQLite walks every version newest first and looks its model up.
            self.clauses.append("v.model_id IN (SELECT m.id FROM models m WHERE "
                                f"{self._name_clause(condition)})")
        else:
            column = {"version_number": "v.version", "run_id": "v.run_id"}.get(
                condition.key, "v.source")
            self.clauses.append(self._compare(column, condition.op, condition.value))

    def member(self, column: str, op: str, values: tuple[Any, ...]) -> None:
        self.clauses.append(self._compare(column, op, values))

    def _name_clause(self, condition: Condition) -> str:
        """Equality and membership follow the name's identity (case-insensitive, DESIGN §2.1);
        LIKE matches the name as written, ILIKE ignores case."""
        value = condition.value
        if condition.op in ("=", "!=", "IN", "NOT IN"):
            keyed = (tuple(name_key(v) for v in value) if isinstance(value, tuple)
                     else name_key(str(value)))
            return self._compare("m.name_key", condition.op, keyed)
        return self._compare("m.name", condition.op, value)

    def _tag(self, condition: Condition, table: str, owner: str, owner_id: str) -> None:
        """The tag's owners listed by the (key, value) index, or each row checked when
        another condition drives (``tags_filter``); an absent tag that matches (``!=``)
        adds the owners without the key."""
        self.params.append(condition.key)
        value = self._tag_value(condition.op, condition.value)
        if self.tags_filter:
            match = (f"EXISTS (SELECT 1 FROM {table} t WHERE t.{owner} = {owner_id} "
                     f"AND t.key = ? AND {value})")
        else:
            match = (f"{owner_id} IN (SELECT t.{owner} FROM {table} t "
                     f"WHERE t.key = ? AND {value})")
        if condition.absent_matches:
            self.params.append(condition.key)
            match = (f"({match} OR {owner_id} NOT IN "
                     f"(SELECT t.{owner} FROM {table} t WHERE t.key = ?))")
        self.clauses.append(match)

    def _tag_value(self, op: str, value: Any) -> str:
        """PostgreSQL indexes a tag's value by its md5 (a B-tree entry cannot hold 5,000
        characters; migration 0007), so equality names the md5 too, then the value."""
        if op == "=" and self.dialect == "postgresql":
            self.params.append(value)
            return f"md5(t.value) = md5(?) AND {self._compare('t.value', op, value)}"
        return self._compare("t.value", op, value)

    def _key_range(self, column: str, pattern: str) -> str:
        """For a name pattern with a literal ASCII prefix, the range of ``name_key`` (the
        lowercased name, a unique index) that holds every match: the database then reads
        the few models under the prefix instead of testing the pattern on each. The range
        is exact when text is compared bytewise: SQLite does; PostgreSQL's collation need
        not, so there it is compared in "C", which an index of its own serves (migration
        0010). (ASCII: its lowercase is the key's prefix, char for char; no surrounding
        space: a key is the name stripped.)"""
        prefix = _literal_prefix(pattern).lower()
        if (column != "m.name" or not prefix or not prefix.isascii()
                or prefix != prefix.strip() or prefix[-1] == "\x7f"):
            return ""
        self.params.extend((prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)))
        if self.dialect == "postgresql":
            return ' AND m.name_key COLLATE "C" >= ? AND m.name_key COLLATE "C" < ?'
        return " AND m.name_key >= ? AND m.name_key < ?"

    def _compare(self, column: str, op: str, value: Any) -> str:
        if op in _COMPARISONS:
            self.params.append(value)
            return f"{column} {op} ?"
        if op in ("IN", "NOT IN"):
            if not value:
                return "1 = 0" if op == "IN" else "1 = 1"
            self.params.extend(value)
            return f"{column} {op} ({placeholders(len(value))})"
        if op == "LIKE":
            # Case-sensitive everywhere: SQLite's LIKE ignores ASCII case, its GLOB does not.
            if self.dialect == "sqlite":
                self.params.append(_glob(value))
                return f"{column} GLOB ?" + self._key_range(column, value)
            self.params.append(_escaped_like(value))
            return f"{column} LIKE ? ESCAPE '\\'" + self._key_range(column, value)
        if op == "ILIKE":
            self.params.append(_escaped_like(value))
            if self.dialect == "sqlite":
                return f"lower({column}) LIKE lower(?) ESCAPE '\\'"
            return f"{column} ILIKE ? ESCAPE '\\'"
        raise AssertionError(f"unhandled operator {op}")


def _literal_prefix(pattern: str) -> str:
    """The literal text a LIKE pattern starts with ("" when it starts with a wildcard)."""
    out = []
    for kind, text in like_segments(pattern):
        if kind != "lit":
            break
        out.append(text)
    return "".join(out)


def _escaped_like(pattern: str) -> str:
    out = []
    for kind, text in like_segments(pattern):
        if kind == "lit":
            out.append("\\" + text if text in "\\%_" else text)
        else:
            out.append(text)
    return "".join(out)


def _glob(pattern: str) -> str:
    out = []
    for kind, text in like_segments(pattern):
        if kind == "any":
            out.append("*")
        elif kind == "one":
            out.append("?")
        elif text in "*?[":
            out.append(f"[{text}]")
        else:
            out.append(text)
    return "".join(out)


# --- order -----------------------------------------------------------------------------------

MODEL_SORT = {"name": "m.name_key", "creation_timestamp": "m.created_at",
               "last_updated_timestamp": "m.updated_at"}
VERSION_SORT = {"name": "m.name_key", "version_number": "v.version",
                 "creation_timestamp": "v.created_at", "last_updated_timestamp": "v.updated_at"}


def order_sql(orders: Sequence[Order], columns: dict[str, str]) -> str:
    return ", ".join(f"{columns[o.key]} {'ASC' if o.ascending else 'DESC'}" for o in orders)
