"""PostgreSQL connections that go away: telling a lost connection from a bug
(``connection_lost``, answered 503), checking a kept connection before use without a
round trip (``looks_alive``), TCP settings that find a silent server out within seconds
(``TCP_LIVENESS``), and the chain head's ``seq`` read on the event loop over one kept
connection (``HeadReader``, the answer cache's check). ``store.driver`` re-exports them.
"""

from __future__ import annotations

import select
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    import psycopg


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says PostgreSQL could not be reached or dropped the connection (a
    restart, ``pg_terminate_backend``, a network cut), or no pooled connection came in
    time: a fault that passes, answered 503, never a bug. SQLite's errors are not."""
    from sqlalchemy import exc as sa

    # Only a process that opened a PostgreSQL connection has psycopg loaded, and only its
    # errors can be psycopg's: on SQLite every refusal passes here, and importing psycopg
    # for it would cost each server worker 10 MB.
    psycopg = sys.modules.get("psycopg")
    lost = (psycopg.OperationalError, psycopg.InterfaceError) if psycopg else ()
    if isinstance(exc, lost):
        return True
    if isinstance(exc, sa.DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(exc.orig, lost)
    return isinstance(exc, sa.TimeoutError)  # the engine's pool had no connection in time


def looks_alive(connection: psycopg.BaseConnection[Any]) -> bool:
    """A check before use that costs no round trip: an idle connection has nothing to read,
    unless the server has closed it (a terminated backend sends its FATAL error first)."""
    if connection.closed or connection.broken:
        return False
    # poll, not select: select takes no descriptor above 1023 (FD_SETSIZE), and a server
    # with a thousand client connections open gives its database connections such numbers
    # — every kept connection was then taken for dead and replaced.
    watch = select.poll()
    try:
        watch.register(connection.fileno(), select.POLLIN)
        return not watch.poll(0)
    except (OSError, ValueError):
        return False


# A connection whose server went silent (a network cut, no RST) is found out within a few
# seconds instead of TCP's minutes: keepalive probes, and a bound on unacknowledged sends.
TCP_LIVENESS: dict[str, int] = {"keepalives": 1, "keepalives_idle": 5,
                                "keepalives_interval": 1, "keepalives_count": 3,
                                "tcp_user_timeout": 5000}


class HeadReader:
    """The chain head's ``seq`` on PostgreSQL over one kept autocommit connection: the
    answer cache's check (api/mlflow/cache.py), for callers on the event loop.

    ``seq_async`` never blocks the loop: the statement is sent with libpq's asynchronous
    calls and the loop waits for the answer on the socket. Checks asked for while one is
    on its way share the next one (sent once that answer is in): each caller gets a
    ``seq`` read by a statement sent after it asked, which is all the cache needs (a
    change committed before the request came in has moved it). Under 16 connections a
    handful of requests share a round trip, so the check's CPU — ours and PostgreSQL's —
    is divided among them, and a slow answer on a busy machine no longer holds the
    loop's other requests. (Before, the check ran the statement synchronously on the
    loop: ~25 µs of CPU, but the whole round trip with the loop stopped.)

    The statement is prepared on the connection once; the connection is checked before
    each use without a round trip (``looks_alive``); connecting, and the check after a
    connection was lost (replaced and tried once more), run in a thread (``seq``). A
    statement timeout and TCP keepalives bound how long a stalled server can keep a
    check waiting; a check that waits longer than ``wait_s`` is treated like a lost
    connection: the connection is dropped and the check tried once more on a new one (in a
    thread, under the same statement timeout), so a stalled server answers 503 after about
    twice ``wait_s`` plus the connect timeout.
    """

    SQL = "SELECT seq FROM chain_head WHERE id = 1"
    PREPARED = b"charter_head_seq"

    def __init__(self, conninfo: str, connect_timeout_s: int, statement_timeout_ms: int) -> None:
        self._conninfo = conninfo
        self._connect_timeout_s = connect_timeout_s
        self._options = f"-c statement_timeout={statement_timeout_ms}"
        self._wait_s = statement_timeout_ms / 1000 + 1
        self._connection: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        # The checks waiting for the next statement, on the loop that asked for them.
        self._next: asyncio.Future[int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sending = False

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
        connection.execute(f"PREPARE {self.PREPARED.decode()} AS {self.SQL}")
        self._connection = connection
        return connection

    async def seq_async(self) -> int:
        """The ``seq``, read by a statement sent after this call began (see the class)."""
        import asyncio  # not at import: the CLI's start does not need it

        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._sending:  # another loop's checks are under way (tests): off the loop
                return await asyncio.to_thread(self.seq)
            self._loop, self._next = loop, None
        if self._next is None:
            self._next = loop.create_future()
        waiting = self._next
        if not self._sending:
            self._sending = True
            loop.create_task(self._send_while_asked())
        # shielded: a cancelled request must not cancel the check others share
        return await asyncio.shield(waiting)

    async def _send_while_asked(self) -> None:
        try:
            while self._next is not None:
                asked, self._next = self._next, None
                try:
                    seq = await self._read_async()
                except BaseException as exc:  # every waiter gets it (a lost connection: 503)
                    asked.set_exception(exc)
                    asked.exception()  # retrieved: no warning if every waiter went away
                    if not isinstance(exc, Exception):
                        raise
                else:
                    asked.set_result(seq)
        finally:
            self._sending = False

    async def _read_async(self) -> int:
        """One statement over the kept connection without blocking the loop; in a thread
        (connecting, or replacing a lost connection) when it is not there and alive."""
        import asyncio  # not at import: the CLI's start does not need it

        import psycopg

        if not self._lock.acquire(blocking=False):
            return await asyncio.to_thread(self.seq)
        try:
            connection = self._connection
            if connection is None or not looks_alive(connection):
                lost = True
            else:
                try:
                    return await self._statement(connection.pgconn)
                except (psycopg.OperationalError, psycopg.InterfaceError, TimeoutError):
                    connection.close()  # its state is unknown: never used again
                    self._connection = None
                    lost = True
        finally:
            self._lock.release()
        assert lost
        return await asyncio.to_thread(self.seq)

    async def _statement(self, pgconn: Any) -> int:
        """The prepared statement by libpq's asynchronous calls: send, wait for the socket
        to be readable, read the result (psycopg.pq, the layer psycopg itself is built on)."""
        import asyncio  # not at import: the CLI's start does not need it

        import psycopg
        from psycopg import pq

        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_s
        pgconn.send_query_prepared(self.PREPARED, None)
        while pgconn.flush():  # the statement is a few bytes: sent at once in practice
            await asyncio.sleep(0)
        socket = pgconn.socket
        while True:
            pgconn.consume_input()
            if not pgconn.is_busy():
                break
            readable = loop.create_future()
            loop.add_reader(socket, _set_done, readable)
            late = loop.call_at(deadline, _set_late, readable)
            try:
                await readable
            finally:
                late.cancel()
                loop.remove_reader(socket)
        found, result = None, pgconn.get_result()
        while result is not None:
            if result.status != pq.ExecStatus.TUPLES_OK:
                raise psycopg.OperationalError(
                    (result.error_message or b"the chain head could not be read").decode(
                        errors="replace"))
            found = result.get_value(0, 0) if result.ntuples else b"0"
            result = pgconn.get_result()
        if found is None:
            raise psycopg.OperationalError("the chain head read answered nothing")
        return int(found)

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


def _set_done(waiting: asyncio.Future[None]) -> None:
    if not waiting.done():
        waiting.set_result(None)


def _set_late(waiting: asyncio.Future[None]) -> None:
    if not waiting.done():
        waiting.set_exception(TimeoutError("the chain head read took too long"))
