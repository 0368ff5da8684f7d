"""SQL on the database driver's own connection: the read path without per-statement
framework cost.

SQLAlchemy builds, caches and post-processes every statement it runs; on a point
read that costs ~100x what SQLite spends answering it (bench/README.md). The store
modules on the hot paths (models, versions, events, search, access, governance) are
therefore plain parameterised SQL run on the DBAPI cursor. Everything is still a bound
parameter: no value is ever formatted into SQL text.

A ``Reader`` wraps the connection of one transaction. ``reader_for`` turns
whatever a caller holds — a Reader (``Database.snapshot()``), an ORM Session
(``Database.read()``) or a write transaction (``Database.write()``) — into one, on
the same transaction, so a write can read what it has just written. The store
modules written in plain SQL take any of the three as ``Conn``.
"""

from __future__ import annotations

import select
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeAlias

from sqlalchemy import Engine
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session

from charter.metrics import pool_wait

if TYPE_CHECKING:
    import psycopg

    from charter.store.database import WriteTx

SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA foreign_keys=ON",
                  "PRAGMA synchronous=NORMAL")


def prepare_sqlite(connection: sqlite3.Connection, busy_timeout_s: int) -> None:
    """Every SQLite connection Charter opens: WAL, foreign keys, and our own BEGINs."""
    connection.isolation_level = None  # the driver must not open transactions on its own
    cursor = connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.execute(f"PRAGMA busy_timeout={busy_timeout_s * 1000}")
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

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._cursor
        cursor.execute(_pyformat(sql) if self._pyformat else sql, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        cursor = self._cursor
        cursor.execute(_pyformat(sql) if self._pyformat else sql, params)
        row: tuple[Any, ...] | None = cursor.fetchone()
        return row

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = self.one(sql, params)
        return row[0] if row is not None else None

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """A statement that returns no rows; the number of rows it changed."""
        cursor = self._cursor
        cursor.execute(_pyformat(sql) if self._pyformat else sql, params)
        return int(cursor.rowcount)

    @property
    def dialect(self) -> str:
        return "postgresql" if self._pyformat else "sqlite"


# What a plain-SQL store function runs on: a read snapshot, an ORM session, or a write.
Conn: TypeAlias = "Reader | Session | WriteTx"


def reader_for(conn: Conn) -> Reader:
    """A Reader on the transaction ``conn`` belongs to."""
    if isinstance(conn, Reader):
        return conn
    if isinstance(conn, Session):
        return session_reader(conn)
    return conn.sql()


def session_reader(session: Session) -> Reader:
    """A Reader on an ORM session's transaction, its changes so far flushed first (what a
    write has added must be visible to its reads)."""
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
    a search converts hundreds per answer)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
        self._sqlite_path = (make_url(str(engine.url)).database or ""
                             if self.dialect == "sqlite" else "")
        # ":memory:" databases exist once per connection: share the engine's instead.
        self._own_connections = self.dialect == "sqlite" and self._sqlite_path not in (
            "", ":memory:") and "mode=memory" not in self._sqlite_path

    @contextmanager
    def read(self) -> Iterator[Reader]:
        if self._own_connections:
            with self._sqlite() as reader:
                yield reader
            return
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

    @contextmanager
    def _sqlite(self) -> Iterator[Reader]:
        with self._lock:
            connection = self._idle.pop() if self._idle else None
        if connection is None:
            connection = sqlite3.connect(self._sqlite_path, timeout=self._busy_timeout_s,
                                         check_same_thread=False)
            prepare_sqlite(connection, self._busy_timeout_s)
        healthy = False
        try:
            connection.execute("BEGIN")
            yield Reader(connection, "sqlite")
            healthy = True
        finally:
            try:
                connection.execute("ROLLBACK")  # a read changes nothing: end it cheaply
            except sqlite3.Error:
                healthy = False
            with self._lock:
                if healthy and len(self._idle) < self.MAX_IDLE:
                    self._idle.append(connection)
                    connection = None
            if connection is not None:
                connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


# --- a lost connection, and the chain head read on the event loop ----------------------


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says PostgreSQL could not be reached or dropped the connection (a
    restart, ``pg_terminate_backend``, a network cut), or no pooled connection came in
    time: a fault that passes, answered 503, never a bug. SQLite's errors are not."""
    import psycopg
    from sqlalchemy import exc as sa

    lost = (psycopg.OperationalError, psycopg.InterfaceError)
    if isinstance(exc, lost):
        return True
    if isinstance(exc, sa.DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(exc.orig, lost)
    return isinstance(exc, sa.TimeoutError)  # the engine's pool had no connection in time


def looks_alive(connection: psycopg.Connection[Any]) -> bool:
    """A check before use that costs no round trip: an idle connection has nothing to read,
    unless the server has closed it (a terminated backend sends its FATAL error first)."""
    if connection.closed or connection.broken:
        return False
    try:
        readable, _, _ = select.select([connection.fileno()], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


# A connection whose server went silent (a network cut, no RST) is found out within a few
# seconds instead of TCP's minutes: keepalive probes, and a bound on unacknowledged sends.
TCP_LIVENESS: dict[str, int] = {"keepalives": 1, "keepalives_idle": 5,
                                "keepalives_interval": 1, "keepalives_count": 3,
                                "tcp_user_timeout": 5000}


class HeadReader:
    """The chain head's ``seq`` on PostgreSQL over one kept autocommit connection, read on
    the calling thread: the answer cache's check (api/mlflow/cache.py) on the event loop.

    Measured per check (bench/README.md): this prepared statement costs ~25 µs of CPU and
    one loopback round trip (~60 µs); psycopg's AsyncConnection ~95 µs of CPU; a read
    transaction from the engine's pool (pre-ping, BEGIN, SELECT, COMMIT) ~180 µs plus a
    hop to a pool thread. The one statement needs no transaction, is prepared on its
    first run, and its connection is checked before each use without a round trip
    (``looks_alive``); one lost anyway is replaced and the read tried once more. The event
    loop only ever queries a live connection (``seq_now``); connecting happens in a
    thread. A statement timeout and TCP keepalives bound how long a stalled server or
    network can hold the loop.
    """

    SQL = "SELECT seq FROM chain_head WHERE id = 1"

    def __init__(self, conninfo: str, connect_timeout_s: int, statement_timeout_ms: int) -> None:
        self._conninfo = conninfo
        self._connect_timeout_s = connect_timeout_s
        self._options = f"-c statement_timeout={statement_timeout_ms}"
        self._connection: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    def _connected(self) -> psycopg.Connection[Any]:
        connection = self._connection
        if connection is not None and looks_alive(connection):
            return connection
        if connection is not None:
            connection.close()
        import psycopg

        self._connection = None
        from psycopg.conninfo import make_conninfo

        conninfo = make_conninfo(self._conninfo, **TCP_LIVENESS)
        connection = psycopg.connect(conninfo, autocommit=True, prepare_threshold=0,
                                     connect_timeout=self._connect_timeout_s,
                                     options=self._options)
        self._connection = connection
        return connection

    def seq_now(self) -> int | None:
        """The ``seq`` over the kept connection if it is there and alive, without waiting
        for anything else (the event loop's call); None when a connection must be made
        first, or another thread holds it: ``seq()`` then, off the loop."""
        import psycopg

        if not self._lock.acquire(blocking=False):
            return None
        try:
            connection = self._connection
            if connection is None or not looks_alive(connection):
                return None
            try:
                row = connection.execute(self.SQL).fetchone()
            except (psycopg.OperationalError, psycopg.InterfaceError):
                connection.close()
                self._connection = None
                return None
            return int(row[0]) if row is not None else 0
        finally:
            self._lock.release()

    def seq(self) -> int:
        """The ``seq``, connecting first if need be (may wait up to the connect timeout)."""
        import psycopg

        with self._lock:
            for attempt in (1, 2):
                connection = self._connected()
                try:
                    row = connection.execute(self.SQL).fetchone()
                except (psycopg.OperationalError, psycopg.InterfaceError):
                    connection.close()
                    self._connection = None
                    if attempt == 2:
                        raise
                    continue
                return int(row[0]) if row is not None else 0
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
