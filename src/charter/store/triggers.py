"""Triggers that keep the contract in the database itself, on both databases:

* the events table is append-only;
* what a version number means never changes: a version's source, run id and
  digest, and its files' paths, sizes and digests, cannot be updated in place.

They are DDL the ORM cannot express, kept here so the migration and the tests
(which drop them to play an attacker with database access) share one text.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

_SQLITE = [
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
    "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
    "CREATE TRIGGER versions_content_fixed BEFORE UPDATE OF source, run_id, digest ON versions "
    "WHEN NEW.source IS NOT OLD.source OR NEW.run_id IS NOT OLD.run_id "
    "OR NEW.digest IS NOT OLD.digest "
    "BEGIN SELECT RAISE(ABORT, 'a version''s source and digest never change'); END",
    "CREATE TRIGGER version_files_fixed BEFORE UPDATE ON version_files "
    "BEGIN SELECT RAISE(ABORT, 'a version''s files never change'); END",
]
_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS events_no_update",
    "DROP TRIGGER IF EXISTS events_no_delete",
    "DROP TRIGGER IF EXISTS versions_content_fixed",
    "DROP TRIGGER IF EXISTS version_files_fixed",
]

_POSTGRES = [
    "CREATE OR REPLACE FUNCTION charter_events_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'events are append-only'; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events "
    "FOR EACH ROW EXECUTE FUNCTION charter_events_append_only()",
    "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
    "FOR EACH STATEMENT EXECUTE FUNCTION charter_events_append_only()",
    "CREATE OR REPLACE FUNCTION charter_version_content_fixed() RETURNS trigger AS $$ "
    "BEGIN IF NEW.source IS DISTINCT FROM OLD.source OR NEW.run_id IS DISTINCT FROM OLD.run_id "
    "OR NEW.digest IS DISTINCT FROM OLD.digest THEN "
    "RAISE EXCEPTION 'a version''s source and digest never change'; END IF; RETURN NEW; END $$ "
    "LANGUAGE plpgsql",
    "CREATE TRIGGER versions_content_fixed BEFORE UPDATE ON versions "
    "FOR EACH ROW EXECUTE FUNCTION charter_version_content_fixed()",
    "CREATE OR REPLACE FUNCTION charter_version_files_fixed() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'a version''s files never change'; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER version_files_fixed BEFORE UPDATE ON version_files "
    "FOR EACH ROW EXECUTE FUNCTION charter_version_files_fixed()",
]
_POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS events_no_update_delete ON events",
    "DROP TRIGGER IF EXISTS events_no_truncate ON events",
    "DROP TRIGGER IF EXISTS versions_content_fixed ON versions",
    "DROP TRIGGER IF EXISTS version_files_fixed ON version_files",
]


def create_append_only_triggers(connection: Connection) -> None:
    for statement in _SQLITE if connection.dialect.name == "sqlite" else _POSTGRES:
        connection.exec_driver_sql(statement)


def drop_append_only_triggers(connection: Connection) -> None:
    for statement in _SQLITE_DROP if connection.dialect.name == "sqlite" else _POSTGRES_DROP:
        connection.exec_driver_sql(statement)


# --- provenance (migration 0004): a version's signer is set once; attestations never change

_SQLITE_PROVENANCE = [
    "CREATE TRIGGER versions_signer_fixed BEFORE UPDATE OF signer, signature ON versions "
    "WHEN OLD.signer IS NOT NULL AND (NEW.signer IS NOT OLD.signer "
    "OR NEW.signature IS NOT OLD.signature) "
    "BEGIN SELECT RAISE(ABORT, 'a version''s signature never changes'); END",
    "CREATE TRIGGER attestations_fixed BEFORE UPDATE ON attestations "
    "BEGIN SELECT RAISE(ABORT, 'attestations never change'); END",
]
_SQLITE_PROVENANCE_DROP = [
    "DROP TRIGGER IF EXISTS versions_signer_fixed",
    "DROP TRIGGER IF EXISTS attestations_fixed",
]
_POSTGRES_PROVENANCE = [
    "CREATE OR REPLACE FUNCTION charter_version_signer_fixed() RETURNS trigger AS $$ "
    "BEGIN IF OLD.signer IS NOT NULL AND (NEW.signer IS DISTINCT FROM OLD.signer "
    "OR NEW.signature IS DISTINCT FROM OLD.signature) THEN "
    "RAISE EXCEPTION 'a version''s signature never changes'; END IF; RETURN NEW; END $$ "
    "LANGUAGE plpgsql",
    "CREATE TRIGGER versions_signer_fixed BEFORE UPDATE ON versions "
    "FOR EACH ROW EXECUTE FUNCTION charter_version_signer_fixed()",
    "CREATE OR REPLACE FUNCTION charter_attestations_fixed() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'attestations never change'; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER attestations_fixed BEFORE UPDATE ON attestations "
    "FOR EACH ROW EXECUTE FUNCTION charter_attestations_fixed()",
]
_POSTGRES_PROVENANCE_DROP = [
    "DROP TRIGGER IF EXISTS versions_signer_fixed ON versions",
    "DROP TRIGGER IF EXISTS attestations_fixed ON attestations",
]


def create_provenance_triggers(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    for statement in _SQLITE_PROVENANCE if sqlite else _POSTGRES_PROVENANCE:
        connection.exec_driver_sql(statement)


def drop_provenance_triggers(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    for statement in _SQLITE_PROVENANCE_DROP if sqlite else _POSTGRES_PROVENANCE_DROP:
        connection.exec_driver_sql(statement)


# --- name suffixes (migration 0009): on PostgreSQL the database writes a model's name
# suffixes itself, so a replica still on an earlier version during a rolling upgrade, which
# knows nothing of them, keeps them too (store/models.py ``write_name_suffixes`` leaves
# them to this trigger there). An embedded SQLite registry has one version at a time.

_POSTGRES_NAME_SUFFIXES = [
    "CREATE OR REPLACE FUNCTION charter_name_suffixes() RETURNS trigger AS $$ "
    "BEGIN IF TG_OP = 'UPDATE' THEN "
    "IF NEW.name_key IS NOT DISTINCT FROM OLD.name_key THEN RETURN NEW; END IF; "
    "DELETE FROM model_name_suffixes WHERE model_id = NEW.id; END IF; "
    "INSERT INTO model_name_suffixes (model_id, suffix) SELECT NEW.id, substr(NEW.name_key, i) "
    "FROM generate_series(1, length(NEW.name_key)) AS i; RETURN NEW; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER models_name_suffixes AFTER INSERT OR UPDATE OF name_key ON models "
    "FOR EACH ROW EXECUTE FUNCTION charter_name_suffixes()",
]
_POSTGRES_NAME_SUFFIXES_DROP = [
    "DROP TRIGGER IF EXISTS models_name_suffixes ON models",
    "DROP FUNCTION IF EXISTS charter_name_suffixes()",
]


def create_name_suffix_trigger(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        for statement in _POSTGRES_NAME_SUFFIXES:
            connection.exec_driver_sql(statement)


def drop_name_suffix_trigger(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        for statement in _POSTGRES_NAME_SUFFIXES_DROP:
            connection.exec_driver_sql(statement)


# --- kept model briefs (migration 0011): any change to what a model's brief is made of
# forgets it, in the change's transaction (store/model_briefs.py). The model's row is locked
# first, whether its brief is kept or not: a refresh skips a model whose writer has not
# committed (FOR NO KEY UPDATE SKIP LOCKED), and a writer that comes after a refresh took
# the lock waits for it, then — in a statement of its own, so seeing what the refresh
# committed — forgets what it made (tests/store/test_store_kept_briefs.py). Row triggers:
# statement triggers with the changed rows as a table took a pgbench script of two writes
# per transaction from ~1,300 to ~1,067 transactions/s, row triggers within its noise
# (bench/README.md, "Model briefs kept on PostgreSQL").

_BRIEF_OWNER = {  # table: its row's model, as an expression of the row ``r``
    "versions": "r.model_id",
    "aliases": "r.model_id",
    "model_tags": "r.model_id",
    "version_tags": "(SELECT v.model_id FROM versions v WHERE v.id = r.version_id)",
}
# A transaction that has forgotten a model's brief (holding its row) says so in a setting of
# its own, ``charter.forgot`` (the model's id; ``charter.forgot_version``: a version of it
# whose row this transaction wrote): a trigger's WHEN skips that model's rows then, without
# calling the function. A registration forgets in its number's UPDATE and fires nothing
# (store/models.py ``take_next_number``, store/versions.py ``insert``). Rolling back to a
# savepoint undoes the setting with the forgetting.
_SKIP_FORGOTTEN = {
    "versions": "current_setting('charter.forgot', true) IS DISTINCT FROM {row}.model_id::text",
    "aliases": "current_setting('charter.forgot', true) IS DISTINCT FROM {row}.model_id::text",
    "model_tags": "current_setting('charter.forgot', true) IS DISTINCT FROM {row}.model_id::text",
    "version_tags": ("current_setting('charter.forgot_version', true) "
                     "IS DISTINCT FROM {row}.version_id::text"),
}
_POSTGRES_BRIEFS = [
    *(f"CREATE OR REPLACE FUNCTION charter_forget_brief_{table}() RETURNS trigger AS $$ "
      "DECLARE r record; owner integer; BEGIN "
      "IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF; "
      f"owner := {owner}; "
      "PERFORM 1 FROM models WHERE id = owner FOR NO KEY UPDATE; "
      "UPDATE models SET brief = NULL WHERE id = owner AND brief IS NOT NULL; "
      "PERFORM set_config('charter.forgot', owner::text, true); "
      "RETURN NULL; END $$ LANGUAGE plpgsql" for table, owner in _BRIEF_OWNER.items()),
    *(f"CREATE TRIGGER {table}_forget_brief AFTER INSERT OR UPDATE ON {table} FOR EACH ROW "
      f"WHEN ({_SKIP_FORGOTTEN[table].format(row='NEW')}) "
      f"EXECUTE FUNCTION charter_forget_brief_{table}()" for table in _BRIEF_OWNER),
    *(f"CREATE TRIGGER {table}_forget_brief_gone AFTER DELETE ON {table} FOR EACH ROW "
      f"WHEN ({_SKIP_FORGOTTEN[table].format(row='OLD')}) "
      f"EXECUTE FUNCTION charter_forget_brief_{table}()" for table in _BRIEF_OWNER),
]
_POSTGRES_BRIEFS_DROP = [
    *(f"DROP TRIGGER IF EXISTS {table}_forget_brief{gone} ON {table}"
      for table in _BRIEF_OWNER for gone in ("", "_gone")),
    *(f"DROP FUNCTION IF EXISTS charter_forget_brief_{table}()" for table in _BRIEF_OWNER),
]


def create_brief_triggers(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        for statement in _POSTGRES_BRIEFS:
            connection.exec_driver_sql(statement)


def drop_brief_triggers(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        for statement in _POSTGRES_BRIEFS_DROP:
            connection.exec_driver_sql(statement)
