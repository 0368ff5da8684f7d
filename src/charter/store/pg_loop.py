"""PostgreSQL reads for a use case that runs on the event loop: it awaits the database
instead of blocking a thread.

The service and the store are synchronous. The web runs a read use case on PostgreSQL in
a greenlet on the event loop (``Database.read_on_loop``, SQLAlchemy's ``greenlet_spawn``);
inside it, ``PgSnapshots`` hands out ``LoopReads``' connections, psycopg
``AsyncConnection``s, and a ``Reader`` whose cursor suspends the greenlet on each
statement (``await_``) while the loop serves other requests. Nothing above the store
changes, and no thread is handed the request: on two cores under 16 connections the hop
to the thread pool and back was a third of a point read's server CPU, and with several
pool threads busy the loop waited for the GIL (its 5 ms switch interval) — the tails.

One ``LoopReads`` per event loop (each server worker has one): a stack of idle
connections kept open, so the statements psycopg has prepared on them stay prepared
(beyond ``keep_idle`` of them, only while they are used); at most ``limit`` out at
once, and a read that finds none free within ``timeout_s`` fails like a pool timeout
(503). Connections stay in autocommit: a one-statement read
(``one_statement``) is its own snapshot — its statement goes out with the others of the
loop's turn, on a connection of the batches' own stack (store/pg_batch.py) — and a read
of several statements is wrapped in
an explicit ``BEGIN … REPEATABLE READ READ ONLY`` and ended by COMMIT (never a
rollback, which would make psycopg forget its prepared statements; a COMMIT ends a failed
transaction too). A connection is checked before use without a round trip
(``liveness.looks_alive``); one whose state is not idle after a read — lost, or cut off
mid-statement by a cancelled request — is closed, not kept.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from charter.metrics import pool_checked_out, pool_wait
from charter.store.driver import Reader
from charter.store.liveness import TCP_LIVENESS, looks_alive
from charter.store.pg_batch import StatementBatches, Statements

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")

_IDLE, _INTRANS, _INERROR = 0, 2, 3  # psycopg.pq.TransactionStatus
_PIPELINE_OFF = 0  # psycopg.pq.PipelineStatus
_ROWS = 2  # psycopg.pq.ExecStatus.TUPLES_OK
_BEGIN = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


def on_loop() -> bool:
    """Whether the caller runs in a greenlet on the event loop (``greenlet_spawn``), where
    the database is awaited: then a blocking call would stop every request of the loop."""
    from sqlalchemy.util.concurrency import in_greenlet

    return in_greenlet()


class NeedsThread(Exception):
    """Raised when a use case run on the loop reaches blocking database I/O (an ORM
    session, a write): its caller runs it again in a thread
    (``charter.web.run_read``). Raised before that I/O begins; a read use case is safe
    to run again."""


def refuse_on_loop(what: str) -> None:
    """Raise ``NeedsThread`` if the caller runs on the loop: ``what`` would block it."""
    if on_loop():
        raise NeedsThread(what)


async def run_on_loop(call: Callable[..., T], *args: object) -> T:
    """``call(*args)`` in a greenlet on the running loop: its PostgreSQL reads are
    awaited (``PgSnapshots.read``), the loop serving other requests meanwhile."""
    from sqlalchemy.util import greenlet_spawn

    return await greenlet_spawn(call, *args)


def awaited(awaitable: Awaitable[T]) -> T:
    """Suspend the caller's greenlet until ``awaitable`` is done on the loop."""
    from sqlalchemy.util import await_only

    return await_only(awaitable)


class _Rows:
    """The rows of a cursor's last statement, as ``Reader`` reads them."""

    __slots__ = ("_rows",)

    def __init__(self) -> None:
        self._rows: list[Any] = []

    def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def close(self) -> None:
        self._rows = []


class LoopCursor(_Rows):
    """What ``Reader`` asks of a DB-API cursor, over a psycopg ``AsyncCursor``: each
    statement is sent and its rows read in one wait of the greenlet."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: psycopg.AsyncCursor[Any]) -> None:
        super().__init__()
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._rows = awaited(_rows_of(self._cursor, sql, params))

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount


async def _rows_of(cursor: psycopg.AsyncCursor[Any], sql: str, params: Sequence[Any]
                   ) -> list[Any]:
    await cursor.execute(sql, params)
    # Whether rows came, from the result's status: ``cursor.description`` would build a
    # Column per column first (~40 µs for a version's 19).
    result = cursor.pgresult
    return await cursor.fetchall() if result is not None and result.status == _ROWS else []


class LoopConnection:
    """An ``AsyncConnection`` as ``Reader`` takes a connection: it gives cursors."""

    __slots__ = ("_connection",)

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self._connection = connection

    def cursor(self) -> LoopCursor:
        return LoopCursor(self._connection.cursor())


class BatchedCursor(_Rows):
    """What ``Reader`` asks of a cursor, for a one-statement read: each statement goes out
    with the loop turn's others (store/pg_batch.py)."""

    __slots__ = ("_batches", "_heavy")

    def __init__(self, batches: StatementBatches, heavy: bool) -> None:
        super().__init__()
        self._batches = batches
        self._heavy = heavy

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._rows = self._batches.rows(sql, params, heavy=self._heavy)

    @property
    def rowcount(self) -> int:
        return len(self._rows)


class BatchedConnection:
    __slots__ = ("_batches", "_heavy")

    def __init__(self, batches: StatementBatches, heavy: bool) -> None:
        self._batches = batches
        self._heavy = heavy

    def cursor(self) -> BatchedCursor:
        return BatchedCursor(self._batches, self._heavy)


class LoopReads:
    """One event loop's read connections (see the module). Every method but ``close``
    is called from a greenlet on that loop, and only there: no lock is needed."""

    # A connection beyond the ``keep_idle`` most recently used ones is closed once it has
    # been idle this long. Closing every connection beyond them as it came back (the
    # threads' rule) opened one connection per ten reads under 16 clients on one worker:
    # the loop has every request of its worker in flight at once, so its reads peak
    # above ``keep_idle``, and each reconnection is a backend forked for one read.
    SPARE_IDLE_S = 30.0

    def __init__(self, conninfo: str, *, limit: int, keep_idle: int, timeout_s: float,
                 connect_timeout_s: int) -> None:
        from psycopg.conninfo import make_conninfo

        self._conninfo = make_conninfo(conninfo, **TCP_LIVENESS)
        self._limit = limit
        self._keep_idle = keep_idle
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        # Idle connections with the time each came back, the most recent last: the reads'
        # and, apart, the batches' (store/pg_batch.py: theirs hold its prepared statements).
        self._idle: list[tuple[psycopg.AsyncConnection[Any], float]] = []
        self._batch_idle: list[tuple[psycopg.AsyncConnection[Any], float]] = []
        self._statements: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], Statements] \
            = weakref.WeakKeyDictionary()
        self._batches = StatementBatches(self)
        self._out = 0  # slots taken; a slot freed while reads wait passes to the first
        self._waiting: deque[asyncio.Future[None]] = deque()

    @contextmanager
    def read(self, *, one_statement: bool = False, heavy: bool = False) -> Iterator[Reader]:
        """A read transaction; or, ``one_statement``, a reader whose statements go out with
        the other one-statement reads of the loop's turn (store/pg_batch.py), each its own
        snapshot; ``heavy`` ones (a search page) after the point reads, one per pipeline."""
        if one_statement:
            yield Reader(BatchedConnection(self._batches, heavy), "postgresql")
            return
        with self._taken() as connection:
            awaited(connection.execute(_BEGIN, prepare=False))
            try:
                yield Reader(LoopConnection(connection), "postgresql")
            except BaseException:
                _end_quietly(connection)
                raise
            else:
                awaited(connection.execute("COMMIT", prepare=False))

    def rows_alone(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """``sql``'s rows, sent alone on a connection of the loop's (autocommit)."""
        with self._taken() as connection:
            return awaited(_rows_of(connection.cursor(), sql, params))

    @contextmanager
    def batch_connection(self) -> Iterator[tuple[psycopg.AsyncConnection[Any], Statements]]:
        """A connection for a batch of statements, with what is prepared on it."""
        with self._taken(batch=True) as connection:
            yield connection, self._statements[connection]

    @contextmanager
    def _taken(self, *, batch: bool = False) -> Iterator[psycopg.AsyncConnection[Any]]:
        """A slot and a live connection (a batch's, or a read's), given back after."""
        waited = time.perf_counter()
        self._take_slot()
        pool_wait(time.perf_counter() - waited)
        pool_checked_out(1)
        idle = self._batch_idle if batch else self._idle
        connection = None
        try:
            connection = self._connection(idle)
            if batch and connection not in self._statements:
                self._statements[connection] = Statements()
            yield connection
        finally:
            if connection is not None:
                self._give_back(connection, idle)
            pool_checked_out(-1)
            self._free_slot()

    def _take_slot(self) -> None:
        if self._out < self._limit and not self._waiting:
            self._out += 1
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            awaited(asyncio.wait_for(turn, self._timeout_s))
        except TimeoutError:
            from sqlalchemy.exc import TimeoutError as PoolTimeout  # told as 503

            raise PoolTimeout("no database connection for a read in time") from None
        except BaseException:
            if turn.done() and not turn.cancelled():  # the slot came as we were cancelled
                self._free_slot()
            raise
        finally:
            if turn in self._waiting:
                self._waiting.remove(turn)

    def _free_slot(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)  # the slot passes to it: ``_out`` is unchanged
                return
        self._out -= 1

    def _connection(self, idle: list[tuple[psycopg.AsyncConnection[Any], float]]
                    ) -> psycopg.AsyncConnection[Any]:
        while idle:
            connection, _ = idle.pop()
            if looks_alive(connection):
                return connection
            close_now(connection)  # died idle (a restart, pg_terminate_backend)
        return awaited(self._connect())

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        import orjson
        import psycopg
        from psycopg.types.json import set_json_loads

        from charter.store.pg_reads import PREPARE_THRESHOLD

        connection = await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, prepare_threshold=PREPARE_THRESHOLD,
            connect_timeout=self._connect_timeout_s)
        set_json_loads(orjson.loads, connection)  # the at_once reads answer JSON arrays
        return connection

    def _give_back(self, connection: psycopg.AsyncConnection[Any],
                   idle: list[tuple[psycopg.AsyncConnection[Any], float]]) -> None:
        """Keep the connection if it is idle and healthy, else close it; close the spare
        connections that have not been used for ``SPARE_IDLE_S``."""
        now = time.monotonic()
        if (not connection.closed and not connection.broken
                and connection.info.transaction_status == _IDLE
                and connection.pgconn.pipeline_status == _PIPELINE_OFF):
            idle.append((connection, now))
        else:
            close_now(connection)
        for kept in (self._idle, self._batch_idle):  # both: either may see no give-back
            while len(kept) > self._keep_idle and kept[0][1] < now - self.SPARE_IDLE_S:
                close_now(kept.pop(0)[0])

    def close(self) -> None:
        """Close the idle connections (those out close when they come back)."""
        for idle in (self._idle, self._batch_idle):
            taken, idle[:] = list(idle), []
            for connection, _ in taken:
                close_now(connection)


def _end_quietly(connection: psycopg.AsyncConnection[Any]) -> None:
    """End a read transaction after its body failed: COMMIT (which rolls back a failed
    one) when the connection waits for a command; any other state is closed by the
    caller. An error here is not the one to tell."""
    if connection.closed or connection.info.transaction_status not in (_INTRANS, _INERROR):
        return
    try:
        awaited(connection.execute("COMMIT", prepare=False))
    except Exception:
        pass


def close_now(connection: psycopg.AsyncConnection[Any]) -> None:
    """Close an ``AsyncConnection`` from anywhere, on its loop or not: its ``close()``
    does no I/O (libpq's PQfinish, which sends a Terminate message without waiting) and
    never suspends, so its coroutine is run to the end here."""
    closing = connection.close()
    try:
        closing.send(None)
    except StopIteration:
        return
    closing.close()  # it suspended after all (a future psycopg): leave it to the finaliser
    connection.pgconn.finish()
