"""The model listing: pages of models in name order, filtered in SQL.

A filter by name reads the range of its suffixes (store/name_suffixes.py), by tag the
(key, value) index, by stage each model's (model_id, stage) index entries in name order;
a page resumes after the last name key shown (a keyset token), so a page costs what it
shows, not what precedes it. The service (``list_models``, retention) and the read-only
start of ``charter ls`` (store/read_only.py) list through here.
"""

from __future__ import annotations

from collections.abc import Sequence

from charter.domain.paging import ModelFilter, keyset_token
from charter.domain.records import Page
from charter.store import name_suffixes
from charter.store.driver import Conn, placeholders, reader_for
from charter.store.models import COLUMNS, ModelRow, records


def page(conn: Conn, *, name_like: str = "", readable: Sequence[int] | None, offset: int = 0,
         limit: int | None = None, after: str | None = None,
         only: ModelFilter | None = None) -> list[ModelRow]:
    """Models ordered by name key; ``name_like`` a case-insensitive substring, ``readable``
    the ids a principal may read (None: every model); all of them when no ``limit``.
    ``after`` starts after that name key (a keyset page); ``only`` filters by name, tag
    and stage in SQL: a name through the range of its suffixes (store/name_suffixes.py), a
    tag through its (key, value) index, a stage by probing each model's (model_id,
    stage) index entries in name order."""
    clauses: list[str] = []
    params: list[object] = []
    name_like = name_like or (only.name_like if only else "")
    if name_like:
        name_suffixes.name_clause(reader_for(conn), name_like.lower(), clauses, params,
                                  readable=readable)
    if only is not None:
        _filter_clauses(reader_for(conn).dialect, only, clauses, params)
    if after is not None:
        clauses.append("m.name_key > ?")
        params.append(after)
    if readable is not None:
        clauses.append(f"m.id IN ({placeholders(len(readable))})" if readable else "1 = 0")
        params.extend(readable)
    sql = f"SELECT {COLUMNS} FROM models m"
    if clauses:
        sql += f" WHERE {' AND '.join(clauses)}"
    sql += " ORDER BY m.name_key"
    if limit is not None:  # no OFFSET on the first page: see store/search.py _page_statement
        sql += " LIMIT ? OFFSET ?" if offset else " LIMIT ?"
        params += [limit, offset] if offset else [limit]
    return [ModelRow.of(raw) for raw in reader_for(conn).all(sql, params)]


def _filter_clauses(dialect: str, only: ModelFilter, clauses: list[str],
                    params: list[object]) -> None:
    if only.tag_key:
        tagged = "SELECT t.model_id FROM model_tags t WHERE t.key = ?"
        params.append(only.tag_key)
        if only.tag_value is not None:
            if dialect == "postgresql":  # its index holds md5(value) (migration 0007)
                tagged += " AND md5(t.value) = md5(?)"
                params.append(only.tag_value)
            tagged += " AND t.value = ?"
            params.append(only.tag_value)
        clauses.append(f"m.id IN ({tagged})")
    if only.stage:
        clauses.append("EXISTS (SELECT 1 FROM versions s WHERE s.model_id = m.id "
                       "AND s.stage = ?)")
        params.append(only.stage)


def listing(conn: Conn, *, readable: Sequence[int] | None, after: str | None, limit: int,
            only: ModelFilter) -> Page:
    """A page of the model listing: up to ``limit`` records in name order after the name
    key ``after``, and the keyset token of the next page ("" on the last one)."""
    rows = page(conn, readable=readable, after=after, limit=limit + 1, only=only)
    more = len(rows) > limit
    return Page(records(conn, rows[:limit]), keyset_token(rows[limit - 1].name_key) if more else "")
