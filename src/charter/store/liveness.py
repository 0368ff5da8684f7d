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
