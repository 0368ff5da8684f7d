"""PostgreSQL's read transactions on kept driver connections, outside SQLAlchemy's pool.

A read from the engine's pool paid for SQLAlchemy's checkout (its events, and the
pre-ping's round trip) before its first statement. Measured per two-statement read
(bench/README.md, PostgreSQL): ~300 µs of CPU from the engine's pool, ~170 µs on a kept
psycopg connection checked before use by a look at its socket (``liveness.looks_alive``,
no round trip). The connections stay open between reads, so the statements psycopg has
prepared on them (after ``PREPARE_THRESHOLD`` uses) stay prepared: a read transaction
ends with COMMIT, never a rollback, which would make psycopg forget them.

A read asked for from a greenlet on the event loop (``Database.read_on_loop``) runs on
that loop's own connections instead (store/pg_loop.py ``LoopReads``), awaited, not
blocking: the connections here serve the reads made in threads (the web UI, REST v1,
the CLI).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from charter.metrics import pool_checked_out, pool_wait
from charter.store.driver import Reader, _repeatable_read
from charter.store.liveness import TCP_LIVENESS, looks_alive
from charter.store.pg_loop import LoopReads, on_loop

_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE: no transaction left open on it

# psycopg prepares a statement on a connection after this many runs of it there: the hot
# reads are prepared at once, a rare one after a few.
PREPARE_THRESHOLD = 2


class PgSnapshots:
    """Read transactions (REPEATABLE READ, read-only) on a stack of idle connections.

    At most ``limit`` connections are out at once (the engine's pool size plus overflow);
    a read that finds none free within ``timeout_s`` fails like a pool timeout (503). A
    connection whose read failed on a lost connection is closed, not kept.
    """

    def __init__(self, conninfo: str, *, limit: int, max_idle: int, timeout_s: float,
                 connect_timeout_s: int) -> None:
        self._conninfo = conninfo
        self._slots = threading.BoundedSemaphore(limit)
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._limit = limit
        self._max_idle = max_idle
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        # Each event loop's own connections (a server worker has one loop; tests, several).
        self._loops: dict[asyncio.AbstractEventLoop, LoopReads] = {}

    def _take(self) -> Any:
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                import orjson
                import psycopg
                from psycopg.conninfo import make_conninfo
                from psycopg.types.json import set_json_loads

                connection = psycopg.connect(make_conninfo(self._conninfo, **TCP_LIVENESS),
                                             connect_timeout=self._connect_timeout_s)
                connection.prepare_threshold = PREPARE_THRESHOLD
                # The one-statement reads (store/at_once.py) answer JSON arrays: orjson
                # decodes them in a fraction of json.loads' time.
                set_json_loads(orjson.loads, connection)
                return connection
            if looks_alive(connection):
                return connection
            connection.close()  # died idle (a restart, pg_terminate_backend): the next one

    @contextmanager
    def read(self, *, one_statement: bool = False, heavy: bool = False) -> Iterator[Reader]:
        """A read transaction; or, ``one_statement``, a connection in autocommit for a
        read that is one statement (its own snapshot): no BEGIN and no COMMIT, a third
        of the round trips and ~60 µs of CPU instead of ~200 µs for two statements.

        From a greenlet on the event loop, the loop's connections, awaited."""
        if on_loop():
            with self._on_this_loop().read(one_statement=one_statement,
                                           heavy=heavy) as reader:
                yield reader
            return
        waited = time.perf_counter()
        if not self._slots.acquire(timeout=self._timeout_s):
            from sqlalchemy.exc import TimeoutError as PoolTimeout  # told as 503

            raise PoolTimeout("no database connection for a read in time")
        pool_wait(time.perf_counter() - waited)
        pool_checked_out(1)
        connection = None
        try:
            connection = self._take()
            try:
                if one_statement:
                    connection.autocommit = True
                    try:
                        yield Reader(connection, "postgresql")
                    finally:
                        if not connection.broken:
                            connection.autocommit = False
                else:
                    with _repeatable_read(connection):
                        yield Reader(connection, "postgresql")
            finally:  # kept after a refusal (a 404 is a read too), unless the link is gone
                with self._lock:
                    if (len(self._idle) < self._max_idle and not connection.closed
                            and not connection.broken
                            and connection.info.transaction_status == _IDLE):
                        self._idle.append(connection)
                        connection = None
        finally:
            if connection is not None:
                connection.close()
            pool_checked_out(-1)
            self._slots.release()

    def _on_this_loop(self) -> LoopReads:
        loop = asyncio.get_running_loop()
        reads = self._loops.get(loop)
        if reads is None:
            for stale in [known for known in self._loops if known.is_closed()]:
                self._loops.pop(stale).close()
            reads = self._loops[loop] = LoopReads(
                self._conninfo, limit=self._limit, keep_idle=self._max_idle,
                timeout_s=self._timeout_s, connect_timeout_s=self._connect_timeout_s)
        return reads

    def close_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close ``loop``'s idle connections (its server is shutting down)."""
        reads = self._loops.pop(loop, None)
        if reads is not None:
            reads.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            loops, self._loops = list(self._loops.values()), {}
        for connection in idle:
            connection.close()
        for reads in loops:
            reads.close()
