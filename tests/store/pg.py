"""Per-test PostgreSQL databases, cloned from one migrated template.

Migrating a database takes longer than copying one, so a session creates
``charter_tpl_<pid>`` once, runs the migrations on it, and every test gets its
own ``CREATE DATABASE charter_t_<pid>_<n> TEMPLATE charter_tpl_<pid>``, dropped
``WITH (FORCE)`` when the test ends. The pid keeps two test sessions on one
server (two developers, or CI next to a developer) apart.

Creating and dropping a database cost a WAL flush or two each, which on a busy
machine is hundreds of milliseconds, so two admin threads work in the
background: one clones the next tests' databases ahead of time, the other drops
the finished ones.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from charter.store.database import Database

T = TypeVar("T")


def with_database(url: str, database: str) -> str:
    """``url`` pointing at another database on the same server."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The URL psycopg itself understands (no SQLAlchemy ``+driver`` suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresDatabases:
    """The session's template and the per-test databases cloned from it."""

    AHEAD = 2  # databases cloned ahead of the tests that will use them
    # PostgreSQL 15 runs a checkpoint for every DROP DATABASE (about a second on a busy
    # disk); drops that wait at the same time share one, so several run at once.
    DROPPERS = 8

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.template = f"charter_tpl_{os.getpid()}"
        self._numbers = itertools.count(1)
        self._cloner = _Admin(base_url, 1, "charter-pg-clone")
        self._dropper = _Admin(base_url, self.DROPPERS, "charter-pg-drop")
        self._ready: deque[Future[str]] = deque()

    def create_template(self) -> None:
        self._cloner.run(_drop, self.template)  # a dead session with this pid left it
        self._cloner.run(_execute, sql.SQL("CREATE DATABASE {}").format(
            sql.Identifier(self.template)))
        database = Database(with_database(self.base_url, self.template), migrate=True)
        database.dispose()  # a template must have no open connections when it is copied

    def _clone(self, connection: psycopg.Connection) -> str:
        name = f"charter_t_{os.getpid()}_{next(self._numbers)}"
        _execute(connection, sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(self.template)))
        return name

    def create(self) -> tuple[str, str]:
        """A fresh migrated database, (name, URL); the next ones start cloning at once."""
        while len(self._ready) < self.AHEAD + 1:
            self._ready.append(self._cloner.submit(self._clone))
        name = self._ready.popleft().result()
        return name, with_database(self.base_url, name)

    def drop(self, name: str) -> None:
        """Drop in the background; the caller has disposed of its connections."""
        self._dropper.submit(_drop, name)

    def close(self) -> None:
        try:
            for pending in self._ready:
                self.drop(pending.result())
            self._dropper.wait()  # every clone is gone before the template goes
            self._dropper.run(_drop, self.template)
        finally:
            self._cloner.close()
            self._dropper.close()


def _execute(connection: psycopg.Connection, statement: sql.Composable) -> None:
    connection.execute(statement)


def _drop(connection: psycopg.Connection, name: str) -> None:
    _execute(connection, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
        sql.Identifier(name)))


class _Admin:
    """Worker threads, each with its own autocommit connection to the base database."""

    def __init__(self, base_url: str, threads: int, name: str) -> None:
        self._url = libpq_url(base_url)
        self._local = threading.local()
        self._connections: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self._pending: list[Future[object]] = []
        self._worker = ThreadPoolExecutor(threads, thread_name_prefix=name)
        self.run(lambda _connection: None)  # fail now if the server cannot be reached

    def _connection(self) -> psycopg.Connection:
        if not hasattr(self._local, "connection"):
            self._local.connection = psycopg.connect(self._url, autocommit=True,
                                                     connect_timeout=10)
            with self._lock:
                self._connections.append(self._local.connection)
        return self._local.connection

    def submit(self, work: Callable[..., T], *args: object) -> Future[T]:
        future = self._worker.submit(lambda: work(self._connection(), *args))
        self._pending.append(future)  # type: ignore[arg-type]
        return future

    def run(self, work: Callable[..., T], *args: object) -> T:
        return self.submit(work, *args).result()

    def wait(self) -> None:
        """Wait for everything submitted so far; raise the first failure."""
        for future in self._pending:
            future.result()

    def close(self) -> None:
        self._worker.shutdown(wait=True)
        for connection in self._connections:
            connection.close()
