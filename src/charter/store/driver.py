"""SQL on the database driver's own connection: the read path without per-statement
framework cost.

SQLAlchemy builds, caches and post-processes every statement it runs; on a point
read that costs ~100x what SQLite spends answering it (bench/README.md). The store
modules on the hot paths (models, versions, events, search, access, governance) are
therefore plain parameterised SQL run on the DBAPI cursor. Everything is still a bound
parameter: no value is ever formatted into SQL text.

A ``Reader`` wraps the connection of one transaction (``Reader.later``: a write held in a
group commit, store/held_writes.py). ``reader_for`` turns
whatever a caller holds — a Reader (``Database.snapshot()``), an ORM Session
(``Database.read()``) or a write transaction (``Database.write()``) — into one, on
the same transaction, so a write can read what it has just written. The store
modules written in plain SQL take any of the three as ``Conn``.

SQLAlchemy is imported where a session or an engine is in hand, never by importing this
module: the store modules built on it (``models`` among them) then load without it, and
so does ``charter ls``'s read-only start (store/read_only.py, docs/cli.md "Start-up").
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeAlias

from charter.metrics import pool_wait
from charter.store import held_writes

# A lost connection, and the chain head read on the event loop: their own module, named
# here too for the store's callers (store.database).
from charter.store.liveness import TCP_LIVENESS as TCP_LIVENESS
from charter.store.liveness import HeadReader as HeadReader
from charter.store.liveness import connection_lost as connection_lost

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from charter.store.database import WriteTx

SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
SQLITE_BUSY_TIMEOUT_S = 60  # how long a statement waits for a writer's lock
# The commit that takes the WAL past this many pages copies them into the database and
# syncs it, holding the write turn meanwhile. A registration appends ~40 pages, so at
# SQLite's 1,000 a writer stopped every ~25 writes: 6,000 registrations in process spent
# 1.3-1.4 ms each, 190-260 of them over 5 ms; at 10,000 (a WAL of up to ~40 MB), 0.97-0.99
# ms and 17-33, with pages written again between checkpoints copied once (bench/README.md).
WAL_CHECKPOINT_PAGES = 10_000
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA foreign_keys=ON",
                  "PRAGMA synchronous=NORMAL",
                  f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
# Each kept read connection's page cache, in KiB (SQLite's default is 2,000). A worker keeps
# up to ``Snapshots.MAX_IDLE`` of them and each fills its cache with copies of the same
# pages the operating system already caches for the file; bench/README.md measures reads at
# 100,000 versions with this bound against the default.
READ_CACHE_KIB = 512
# The newest migration's revision; tests/store/test_migrations.py keeps it equal to
# Alembic's head, so a start can tell without Alembic (or SQLAlchemy) that nothing is to
# be migrated (store/database.py, store/read_only.py).
SCHEMA_REVISION = "0011"


def prepare_sqlite(connection: sqlite3.Connection, busy_timeout_s: int, *,
                   cache_kib: int | None = None) -> None:
    """Every SQLite connection Charter opens: WAL, foreign keys, and our own BEGINs;
    ``cache_kib`` bounds its page cache (SQLite's default when None)."""
    connection.isolation_level = None  # the driver must not open transactions on its own
    cursor = connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.execute(f"PRAGMA busy_timeout={busy_timeout_s * 1000}")
    if cache_kib is not None:
        cursor.execute(f"PRAGMA cache_size=-{int(cache_kib)}")  # negative: KiB, not pages
    cursor.close()


@lru_cache(maxsize=512)
def _pyformat(sql: str) -> str:
    """``?`` placeholders (SQLite's) as ``%s`` (psycopg's); queries here hold no literal %."""
    return sql.replace("?", "%s")


def update_or_insert(reader: Reader, update: str, update_params: Sequence[Any], insert: str,
                     insert_params: Sequence[Any]) -> None:
    """Run ``update``; when it changed no row, run ``insert``. Writers hold the write turn
    (store/database.py), so nothing comes between the two."""
    if not reader.run(update, update_params):
        reader.run(insert, insert_params)


def placeholders(count: int) -> str:
    """``?, ?, ?`` for an IN list of ``count`` values (at least one)."""
    return ", ".join("?" * max(count, 1))


class Reader:
    """Runs SQL with ``?`` placeholders on one DBAPI connection, inside its transaction."""

    __slots__ = ("_cursor", "_pyformat")

    def __init__(self, dbapi_connection: Any, dialect: str) -> None:
        self._cursor = dbapi_connection.cursor()
        self._pyformat = dialect == "postgresql"

    def _execute(self, sql: str, params: Sequence[Any]) -> Any:
        cursor = self._cursor
        if not self._pyformat:
            cursor.execute(sql, params)
        elif held_writes.waiting(cursor):  # they go first, in one round trip
            held_writes.send_with(cursor, _pyformat(sql), params)
        else:
            cursor.execute(_pyformat(sql), params)
        return cursor

    def one_then_all(self, first: str, then: str) -> tuple[tuple[Any, ...] | None,
                                                        list[tuple[Any, ...]]]:
        """``first``'s row and ``then``'s rows, two statements without parameters; on
        PostgreSQL sent together (one round trip): ``then`` starts once ``first`` is done,
        so it sees what committed while ``first`` waited for a lock."""
        if not self._pyformat:
            return self.one(first), self.all(then)
        cursor, connection = self._cursor, self._cursor.connection
        assert not held_writes.waiting(cursor), "one_then_all does not send held writes"
        after = connection.cursor()
        with connection.pipeline():
            cursor.execute(first)
            after.execute(then)
        return cursor.fetchone(), after.fetchall()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._execute(sql, params).fetchall()
        return rows

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._execute(sql, params).fetchone()
        return row

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = self.one(sql, params)
        return row[0] if row is not None else None

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """A statement that returns no rows; the number of rows it changed."""
        return int(self._execute(sql, params).rowcount)

    def later(self, sql: str, params: Sequence[Any] = ()) -> None:
        """A write whose answer nobody reads (no rows, no count): within ``deferring``
        its connection, sent with the next statement whose answer is read; else now."""
        if not (self._pyformat
                and held_writes.hold(self._cursor, _pyformat(sql), params)):
            self._execute(sql, params)

    @property
    def dialect(self) -> str:
        return "postgresql" if self._pyformat else "sqlite"

    def close(self) -> None:
        """Ends the statement last run (SQLite keeps a read open until its statement is
        reset: outside a transaction, that would be a snapshot held on the idle connection)."""
        self._cursor.close()


# What a plain-SQL store function runs on: a read snapshot, an ORM session, or a write.
Conn: TypeAlias = "Reader | Session | WriteTx"


def reader_for(conn: Conn) -> Reader:
    """A Reader on the transaction ``conn`` belongs to."""
    if isinstance(conn, Reader):
        return conn
    from sqlalchemy.orm import Session  # loaded already by whoever holds a session or a write

    if isinstance(conn, Session):
        return session_reader(conn)
    return conn.sql()


def driver_connection(session: Session) -> Any:
    """The DBAPI connection of an ORM session's transaction."""
    return session.connection().connection.driver_connection


def session_reader(session: Session) -> Reader:
    """A Reader on an ORM session's transaction, its changes so far flushed first (what a
    write has added must be visible to its reads)."""
    from sqlalchemy.engine import Connection

    session.flush()
    connection = session.connection()
    assert isinstance(connection, Connection), type(connection)
    return Reader(connection.connection.driver_connection, connection.dialect.name)


def utc(moment: datetime) -> datetime:
    """A stored time (UTC without a zone) as an aware one."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def naive(moment: datetime) -> datetime:
    """Columns store UTC without a zone (SQLite has none to keep)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def sql_time(reader: Reader, moment: datetime) -> str | datetime:
    """A moment as a DateTime column holds it: naive UTC; on SQLite, the text SQLAlchemy
    writes (always with microseconds, so stored times compare as text)."""
    moment = naive(moment)
    return moment if reader.dialect == "postgresql" else moment.strftime(SQLITE_TIME)


def time_value(value: str | datetime) -> datetime:
    """A DateTime column as the driver returns it (SQLite: ISO text; PostgreSQL: datetime)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def stored_time(value: str | datetime) -> datetime:
    """A DateTime column as an aware UTC time: what the store hands the service (inline:
    a search converts hundreds per answer). SQLite's naive text is parsed with a UTC offset
    appended, and a naive datetime (PostgreSQL's) combined with UTC: ``replace(tzinfo=…)``
    parses its arguments by keyword, ~1.5 µs against 0.2 for the parse or the combine."""
    if isinstance(value, str):
        try:  # no offset or Z written: one character each (slices cost twice as much)
            bare = value[-6] not in "+-" and value[-1] != "Z"
        except IndexError:  # too short for an offset
            bare = value[-1:] != "Z"
        value = datetime.fromisoformat(value + "+00:00" if bare else value)
    if value.tzinfo:
        return value
    if type(value) is datetime:
        return datetime.combine(value, value.time(), UTC)
    return value.replace(tzinfo=UTC)  # a subclass's own constructor decides its type


def as_stored(moment: datetime) -> datetime:
    """``moment`` as reading it back after writing it gives: aware, in UTC."""
    return utc(naive(moment))


def optional_time(value: str | datetime | None) -> datetime | None:
    return stored_time(value) if value is not None else None


@contextmanager
def _repeatable_read(driver: Any) -> Iterator[None]:
    """A read-only REPEATABLE READ transaction on a psycopg connection.

    It is opened by the first statement's own BEGIN (the connection's attributes, put
    back afterwards: no round trip for a SET TRANSACTION) and ended by COMMIT, which for
    a read-only transaction changes nothing more than ROLLBACK would; but psycopg forgets
    the statements it has prepared on the connection at every rollback, so reads that
    ended with one parsed and planned every query again."""
    from psycopg import IsolationLevel  # imported with PostgreSQL's engine already

    before = driver.isolation_level, driver.read_only
    driver.isolation_level, driver.read_only = IsolationLevel.REPEATABLE_READ, True
    try:
        yield
    except BaseException:
        try:
            driver.rollback()
        except Exception:  # the connection is gone: the first error is the one to tell
            pass
        raise
    else:
        driver.commit()
    finally:
        driver.isolation_level, driver.read_only = before


class _KeptRead:
    """A read on one of ``Snapshots``' kept SQLite connections, in a transaction unless
    ``begin`` is False (one statement). A class, not a generator: every MLflow point read
    opens two, and a generator's context manager costs several times as much."""

    __slots__ = ("_snapshots", "_begin", "_connection", "_reader")

    def __init__(self, snapshots: Snapshots, *, begin: bool) -> None:
        self._snapshots = snapshots
        self._begin = begin

    def __enter__(self) -> Reader:
        self._connection = connection = self._snapshots._take()
        try:
            if self._begin:
                connection.execute("BEGIN")
            self._reader = Reader(connection, "sqlite")
        except BaseException:
            self._snapshots._give_back(connection, begun=self._begin, healthy=False)
            raise
        return self._reader

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            self._reader.close()
        except BaseException:
            self._snapshots._give_back(self._connection, begun=self._begin, healthy=False)
            raise
        self._snapshots._give_back(self._connection, begun=self._begin,
                                   healthy=kind is None)


class Snapshots:
    """Read transactions on driver connections kept for the purpose.

    SQLite: a small stack of idle connections (a read never waits for a writer in
    WAL mode); PostgreSQL: the engine's pool, at REPEATABLE READ so the statements
    of one read see one snapshot.
    """

    MAX_IDLE = 8

    def __init__(self, engine: Engine, busy_timeout_s: int) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._busy_timeout_s = busy_timeout_s
        from sqlalchemy.engine import make_url

        self._sqlite_path = (make_url(str(engine.url)).database or ""
                             if self.dialect == "sqlite" else "")
        # ":memory:" databases exist once per connection: share the engine's instead.
        self._own_connections = self.dialect == "sqlite" and self._sqlite_path not in (
            "", ":memory:") and "mode=memory" not in self._sqlite_path

    def read(self, *, one_statement: bool = False,
             heavy: bool = False) -> AbstractContextManager[Reader]:
        """A read transaction; or, ``one_statement`` on a SQLite file, a kept connection
        outside any transaction for a read that is one statement (SQLite runs it in its
        own snapshot): no BEGIN and no ROLLBACK around it. (``heavy`` is PostgreSQL's.)"""
        if self._own_connections:
            return _KeptRead(self, begin=not one_statement)
        return self._pooled(one_statement=one_statement)

    @contextmanager
    def _pooled(self, *, one_statement: bool) -> Iterator[Reader]:
        waited = time.perf_counter()
        pooled = self.engine.raw_connection()
        pool_wait(time.perf_counter() - waited)
        try:
            driver = pooled.driver_connection
            assert driver is not None, "a pooled connection has its driver's connection"
            if self.dialect == "postgresql":
                with _repeatable_read(driver):
                    yield Reader(driver, self.dialect)
                return
            driver.execute("BEGIN")
            try:
                yield Reader(driver, self.dialect)
            finally:
                driver.execute("ROLLBACK")
        except Exception as exc:
            if connection_lost(exc):  # not back to the pool: the next read takes a new one
                pooled.invalidate(exc)
            raise
        finally:
            pooled.close()

    def _take(self) -> sqlite3.Connection:
        with self._lock:
            connection = self._idle.pop() if self._idle else None
        if connection is None:
            connection = sqlite3.connect(self._sqlite_path, timeout=self._busy_timeout_s,
                                         check_same_thread=False)
            prepare_sqlite(connection, self._busy_timeout_s, cache_kib=READ_CACHE_KIB)
        return connection

    def _give_back(self, connection: sqlite3.Connection, *, begun: bool,
                   healthy: bool) -> None:
        try:
            if begun or connection.in_transaction:
                connection.execute("ROLLBACK")  # a read changes nothing: end it cheaply
        except sqlite3.Error:
            healthy = False
        with self._lock:
            if healthy and len(self._idle) < self.MAX_IDLE:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
