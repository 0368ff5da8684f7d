"""Triggers that make the events table append-only on both databases.

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
]
_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS events_no_update",
    "DROP TRIGGER IF EXISTS events_no_delete",
]

_POSTGRES = [
    "CREATE OR REPLACE FUNCTION charter_events_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'events are append-only'; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events "
    "FOR EACH ROW EXECUTE FUNCTION charter_events_append_only()",
    "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
    "FOR EACH STATEMENT EXECUTE FUNCTION charter_events_append_only()",
]
_POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS events_no_update_delete ON events",
    "DROP TRIGGER IF EXISTS events_no_truncate ON events",
]


def create_append_only_triggers(connection: Connection) -> None:
    for statement in _SQLITE if connection.dialect.name == "sqlite" else _POSTGRES:
        connection.exec_driver_sql(statement)


def drop_append_only_triggers(connection: Connection) -> None:
    for statement in _SQLITE_DROP if connection.dialect.name == "sqlite" else _POSTGRES_DROP:
        connection.exec_driver_sql(statement)
