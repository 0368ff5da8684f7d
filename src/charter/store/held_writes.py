"""Writes held in a PostgreSQL group commit: sent with the next statement whose answer is
read, in one psycopg pipeline (``deferring``; docs/architecture.md, "Where a PostgreSQL
write waits").

A group commit holds the chain head's row lock, which every writer of every replica waits
on, and each round trip in it is a wait for all of them. ``driver.Reader.later`` hands a
write whose answer nobody reads (no rows, no count) to ``hold``; the Reader's next read on
that connection goes with them (``waiting``, ``send_with``), and the batch ends with
``commit_with_deferred``. Per thread: the batch's thread is the only one on its connection.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any


class _Deferred(threading.local):
    """The writes ``Reader.later`` holds back on this thread, and the one PostgreSQL
    connection they are for (``deferring``)."""

    connection: Any = None
    side: Any = None  # a cursor of ``connection`` for the held writes (answers unread)
    pending: list[tuple[str, Sequence[Any] | None]] | None = None
    unsent_savepoints: set[str] = set()  # noqa: RUF012 - per thread: set anew in deferring


_deferred = _Deferred()


@contextmanager
def deferring(dbapi_connection: Any) -> Iterator[None]:
    """Within: a ``Reader.later`` write on ``dbapi_connection`` (a psycopg connection) is
    not sent on its own but with the next statement on that connection whose answer is
    read, in one pipeline — one round trip for both. A group commit's thread runs its
    batch so (store/group_commit.py): it holds the chain head's lock, which every writer
    of every replica waits on, and a loopback round trip costs ~0.1–0.2 ms here. The
    caller ends each unit of work with ``send_deferred`` (a failure of a held write is
    raised there, in that unit) or ``drop_deferred`` (it is being rolled back). None (a
    SQLite connection, whose statements cost no round trip): writes are run at once."""
    if dbapi_connection is None:
        yield
        return
    _deferred.connection, _deferred.pending = dbapi_connection, []
    _deferred.side = dbapi_connection.cursor()
    _deferred.unsent_savepoints = set()
    try:
        yield
    finally:
        _deferred.side.close()
        _deferred.connection = _deferred.pending = _deferred.side = None


def send_deferred() -> None:
    """Send the held writes now and wait for them; raises the first one's error."""
    pending = _deferred.pending
    if pending:
        _deferred.pending = []
        _send(_deferred.connection, pending)


def hold_savepoint(dbapi_connection: Any, name: str) -> bool:
    """A SAVEPOINT held like a write (``deferring``), sent with the next statement: False
    when ``dbapi_connection`` is not deferring (the caller runs it now)."""
    if _deferred.pending is None or dbapi_connection is not _deferred.connection:
        return False
    # A held SAVEPOINT goes first in its pipeline, so it has run unless the connection
    # is lost (``never_sent`` then knows): writes held before it are sent now (no flow of
    # a group commit holds any there).
    send_deferred()
    _deferred.pending.append((f"SAVEPOINT {name}", None))
    _deferred.unsent_savepoints.add(name)
    return True


def never_sent(name: str) -> bool:
    """Whether the held SAVEPOINT ``name`` was dropped unsent: then nothing after it was
    sent either, and rolling back to it has nothing to undo (nor a savepoint to name)."""
    if name in _deferred.unsent_savepoints:
        _deferred.unsent_savepoints.discard(name)
        return True
    return False


def commit_with_deferred() -> None:
    """Send the held writes and COMMIT in one round trip (the caller has flushed its ORM
    session). The transaction's own COMMIT then finds nothing to do: psycopg's
    ``commit()`` sends nothing on a connection no longer in a transaction."""
    connection, pending = _deferred.connection, _deferred.pending or []
    if connection is None:  # not deferring: the transaction commits as usual
        return
    _deferred.pending = []
    _deferred.unsent_savepoints.clear()
    with connection.pipeline():
        side = _deferred.side
        for sql, params in pending:
            side.execute(sql, params)
        side.execute("COMMIT")  # ``connection.commit()`` would wait for it, then sync again
    if side.statusmessage != "COMMIT":  # PostgreSQL ends a failed transaction with ROLLBACK
        raise RuntimeError(f"the batch's COMMIT answered {side.statusmessage!r}")


def drop_deferred() -> None:
    """Forget the held writes: their transaction (or savepoint) is being rolled back."""
    if _deferred.pending:
        _deferred.pending = []


def send_deferred_before(connection: Any, *_: Any) -> None:
    """SQLAlchemy's ``before_cursor_execute`` (store/database.py): the held writes, if
    they are for this SQLAlchemy ``connection``, go before its statement (order kept)."""
    if _deferred.pending and connection.connection.driver_connection is _deferred.connection:
        send_deferred()


def _send(connection: Any, pending: list[tuple[str, Sequence[Any] | None]],
          cursor: Any = None, last: tuple[str, Sequence[Any]] | None = None) -> None:
    """``pending`` (and ``last`` on ``cursor``, whose answer the caller then reads) in one
    pipeline; leaving it waits for every answer and raises the first error."""
    _deferred.unsent_savepoints.clear()
    with connection.pipeline():
        side = _deferred.side
        for sql, params in pending:
            side.execute(sql, params)
        if last is not None:
            cursor.execute(*last)


def waiting(cursor: Any) -> bool:
    """Whether writes are held for ``cursor``'s connection (its next statement sends
    them). Asks the cursor for its connection only then: the event loop's cursors
    (store/pg_loop.py) have none to give and never meet held writes."""
    return bool(_deferred.pending) and cursor.connection is _deferred.connection


def hold(cursor: Any, sql: str, params: Sequence[Any]) -> bool:
    """Hold a write for ``cursor``'s connection if it is deferring; False: run it now."""
    if _deferred.pending is None or cursor.connection is not _deferred.connection:
        return False
    _deferred.pending.append((sql, params))
    return True


def send_with(cursor: Any, sql: str, params: Sequence[Any]) -> None:
    """The held writes, then ``sql`` on ``cursor`` (whose answer the caller reads), in one
    pipeline."""
    pending, _deferred.pending = _deferred.pending or [], []
    _send(cursor.connection, pending, cursor, (sql, params))
