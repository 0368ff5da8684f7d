"""Engines and migrations: the SQLAlchemy engine for a database URL (SQLite's connection
set-up and BEGIN, PostgreSQL's pool), libpq's connection string, and Alembic's upgrade.
The unit of work built on them is ``store/database.py``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, make_url, text

from charter.metrics import pool_checked_out
from charter.store.driver import SQLITE_BUSY_TIMEOUT_S, TCP_LIVENESS, prepare_sqlite

# PostgreSQL: connections each server process keeps (and may open beyond, under load), and
# how long to wait for a new one before answering 503 (docs/configuration.md).
PG_POOL_SIZE = 8
PG_POOL_OVERFLOW = 32
PG_CONNECT_TIMEOUT_S = 5
PG_POOL_TIMEOUT_S = 10


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` as users write it and use psycopg 3 for it."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        # As many connections as the server's thread pool has threads: opening one
        # per request (and its PRAGMAs) costs more than the query.
        pool_size=40, max_overflow=40,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        prepare_sqlite(dbapi_connection, SQLITE_BUSY_TIMEOUT_S)

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # type: ignore[no-untyped-def]
        write = connection.get_execution_options().get("charter_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def make_engine(url: str, *, pool_size: int = PG_POOL_SIZE,
                pool_timeout: float = PG_POOL_TIMEOUT_S,
                pool_overflow: int = PG_POOL_OVERFLOW) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = _sqlite_engine(url)
    else:
        # pool_pre_ping: a pooled connection is checked before use (an empty query), so
        # one that died idle (a restarted server, pg_terminate_backend) is replaced instead
        # of failing a request. A look at the socket at checkout instead (no round trip,
        # liveness.looks_alive) was tried: SQLAlchemy then refused connections still in use
        # ("This connection is closed") in the webhook and transfer store tests.
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_overflow,
                               pool_timeout=pool_timeout, pool_recycle=3600,
                               pool_pre_ping=True,
                               connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S,
                                             **TCP_LIVENESS})
        _json_by_orjson(engine)
    _count_checkouts(engine)
    return engine


def _json_by_orjson(engine: Engine) -> None:
    """JSON columns a plain-SQL read answers (a version's tags, files and aliases with a
    stage move: store/moves.py) decoded by orjson, as on the read connections
    (store/pg_reads.py): json.loads was a twentieth of a move's CPU."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        import orjson
        from psycopg.types.json import set_json_loads

        set_json_loads(orjson.loads, dbapi_connection)


def _count_checkouts(engine: Engine) -> None:
    """charter_db_pool_in_use (charter.metrics): connections out of the pool now."""

    @event.listens_for(engine, "checkout")
    def _out(*_args: object) -> None:
        pool_checked_out(1)

    @event.listens_for(engine, "checkin")
    def _in(*_args: object) -> None:
        pool_checked_out(-1)


def conninfo(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as libpq's connection string (psycopg's own)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> None:
    """Apply every Alembic migration (idempotent; run on start and by `charter db upgrade`)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("charter.store") / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
