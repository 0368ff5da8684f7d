"""A model's brief kept beside it (PostgreSQL): what a search of models shows of it.

A page of models shows each one's tags, aliases and newest version per stage (with that
version's tags). Built for every answer, that is ~10 index descents per model: a page of
80 models cost PostgreSQL 5.8–6.4 ms, ten times what reading the models themselves does
(bench/README.md, "Model briefs kept on PostgreSQL"). So the database keeps it, as one
JSON value in ``models.brief`` (migration 0011):

* **Forgotten by every change, in the change's own transaction.** Triggers on the tables a
  brief is made of (``versions``, ``version_tags``, ``aliases``, ``model_tags``) set the
  model's ``brief`` to NULL (store/triggers.py) — whatever wrote the row: a use case, an
  import, a replica running older code. When the brief is forgotten already the trigger
  locks the model's row all the same: ``refresh`` relies on that lock.
* **Read kept or made.** A search reads ``coalesce(m.brief, <made now>)``: a NULL brief is
  made by the same subqueries, so an answer never shows a forgotten brief, only costs more.
* **Made again in the background** (``refresh``, by the server's refresher thread): it
  locks models whose brief is NULL, skipping any a writer holds, then — in a *later*
  statement, so with a snapshot taken after its locks — makes their briefs. A writer either
  committed before that snapshot (its change is in the brief) or takes the row's lock
  after the refresh commits (and forgets the brief again): a kept brief is never older than
  the rows it was made of.

SQLite keeps no brief: its searches make them in Python from indexed reads (store/search.py)
in tens of microseconds per model.
"""

from __future__ import annotations

from collections.abc import Sequence

from charter.domain.lifecycle import STAGES
from charter.store.driver import Conn, reader_for

# A version's tags as a JSON array of [key, value], in code-point order whatever the
# database's collation: as Python sorts them, as SQLite orders text, and as a registration
# answers them (versions.insert).
VERSION_TAGS_JSON = (
    "(SELECT coalesce(json_agg(json_build_array(t.key, t.value) ORDER BY t.key COLLATE \"C\"), "
    "'[]') FROM version_tags t WHERE t.version_id = v.id)")

_STAGE_VALUES = ", ".join(f"('{stage.value}')" for stage in STAGES)

# A model's brief, made now: [tags, aliases, newest version per stage] — its tags as
# [key, value], its aliases as [alias, version number] (a version's aliases are taken from
# these: every alias of a version is one of its model's), and per stage the newest
# version's columns and tags, each found by one descent of the (model_id, stage, version)
# index.
MADE_BRIEF = (
    "json_build_array("
    "(SELECT coalesce(json_agg(json_build_array(t.key, t.value) ORDER BY t.key COLLATE \"C\"), "
    "'[]') FROM model_tags t WHERE t.model_id = m.id), "
    "(SELECT coalesce(json_agg(json_build_array(a.alias, x.version) "
    "ORDER BY a.alias COLLATE \"C\"), '[]') "
    "FROM aliases a JOIN versions x ON x.id = a.version_id WHERE a.model_id = m.id), "
    "(SELECT coalesce(json_agg(json_build_array("
    "v.version, v.stage, v.source, v.run_id, v.description, v.status, v.created_at, "
    f"v.updated_at, v.logged_model_id, {VERSION_TAGS_JSON})), '[]') "
    f"FROM (VALUES {_STAGE_VALUES}) s (stage) CROSS JOIN LATERAL (SELECT * FROM versions y "
    "WHERE y.model_id = m.id AND y.stage = s.stage ORDER BY y.version DESC LIMIT 1) v))")

# What a search selects of model ``m``'s brief: the kept one, else made now.
BRIEF = f"coalesce(m.brief, {MADE_BRIEF})"

# Models whose brief was forgotten, that no writer holds now. NO KEY UPDATE: the lock an
# UPDATE of a non-key column takes, so a row that only references its model (KEY SHARE)
# does not wait for a refresh, while forgetting the model's brief does.
_LOCK_FORGOTTEN = ("SELECT id FROM models WHERE brief IS NULL ORDER BY id LIMIT ? "
                   "FOR NO KEY UPDATE SKIP LOCKED")
_MAKE = f"UPDATE models m SET brief = {MADE_BRIEF} WHERE m.id = ANY(?)"


def refresh(conn: Conn, limit: int) -> int:
    """Make the briefs of up to ``limit`` models whose brief was forgotten; how many were
    made. PostgreSQL only, in a READ COMMITTED transaction: the second statement's snapshot
    must be taken after the first one's locks (the module's docstring says why)."""
    reader = reader_for(conn)
    # Whatever the database's default_transaction_isolation: under REPEATABLE READ the
    # UPDATE would make the briefs from the lock statement's snapshot.
    reader.run("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
    locked: Sequence[int] = [row[0] for row in reader.all(_LOCK_FORGOTTEN, (limit,))]
    if locked:
        reader.run(_MAKE, (list(locked),))
    return len(locked)


def forgotten(conn: Conn) -> int:
    """How many models have no kept brief now (PostgreSQL)."""
    return int(reader_for(conn).value("SELECT count(*) FROM models WHERE brief IS NULL"))
