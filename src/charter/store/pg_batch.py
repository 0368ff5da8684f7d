"""One round trip for the one-statement reads of a turn of the event loop (PostgreSQL).

A server worker answers its requests on one event loop; under load, several of them
reach their database statement in the same turn (a point read is one statement,
store/at_once.py). Sent each on its own connection, every statement is a ``send``
system call that runs the database's side of loopback TCP and wakes a backend, then a
wait registered with the loop and a ``recv``: measured under wrk, the ``send`` alone was
a quarter of a point read's server CPU. Here the statements asked in one turn wait for
its end, then leave together on one connection in PostgreSQL's pipeline mode: one write,
one wake-up of one backend, one wait, their answers read off one socket.

Each statement answers as it would alone: the batch's connection is in autocommit and
every one-statement read is already its own snapshot; the pipeline has one
synchronisation point at its end, so the statements share an implicit transaction, but
a statement at READ COMMITTED takes its own snapshot all the same. A statement that fails
raises its own error to its caller; those after it in the batch are skipped by the
server (the pipeline is aborted to its end) and run again alone, on a connection of
their own, as before this module. A lost connection fails the whole batch with it: each
caller gets the driver's error, which the store tells as ``database.unavailable``.

The batch's connections come from the loop's (``LoopReads``, a slot each, checked before
use) and are used only for batches, so the statements prepared on them are this
module's: a statement is prepared once it has been sent ``PREPARE_THRESHOLD`` times on a
connection, and at most ``MAX_PREPARED`` are kept per connection (the least recently used
is deallocated in the batch that prepares the next one).
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

    from charter.store.pg_loop import LoopReads

PREPARE_THRESHOLD = 2  # as psycopg's on the loop's other connections (pg_reads.py)
MAX_PREPARED = 128     # statements kept prepared per batch connection
_PLACEHOLDER = re.compile(r"%(.)", re.DOTALL)

_TUPLES_OK, _COMMAND_OK, _FATAL = 2, 1, 7           # psycopg.pq.ExecStatus
_PIPELINE_SYNC, _PIPELINE_ABORTED = 10, 11


class RunAlone(Exception):
    """The statement was not run in its batch (the pipeline was aborted before it, or it
    cannot be sent in one): its caller runs it alone."""


def numbered(sql: str) -> str | None:
    """``sql`` with psycopg's ``%s`` placeholders as PostgreSQL's ``$1, $2, …`` (and ``%%``
    as ``%``); None when it holds any other placeholder (it is then run alone)."""
    count = 0
    unknown = False

    def number(match: re.Match[str]) -> str:
        nonlocal count, unknown
        if match.group(1) == "%":
            return "%"
        if match.group(1) != "s":
            unknown = True
            return match.group(0)
        count += 1
        return f"${count}"

    converted = _PLACEHOLDER.sub(number, sql)
    return None if unknown else converted


@dataclass
class Statements:
    """What a batch connection knows of its statements: how often each was sent, and the
    name of each prepared one (least recently used first)."""

    used: OrderedDict[tuple[str, tuple[int, ...]], int | bytes] = field(
        default_factory=OrderedDict)
    made: int = 0  # names handed out

    def name_for(self, key: tuple[str, tuple[int, ...]]) -> tuple[bytes | None, bool]:
        """(the statement's name or None to send it unnamed, whether to prepare it now)."""
        known = self.used.get(key, 0)
        if isinstance(known, bytes):
            self.used.move_to_end(key)
            return known, False
        if known + 1 < PREPARE_THRESHOLD:
            self.used[key] = known + 1
            self.used.move_to_end(key)
            return None, False
        self.made += 1
        return f"_charter_batch_{self.made}".encode(), True

    def evictions(self) -> list[bytes]:
        """Names to deallocate so that one more fits under ``MAX_PREPARED`` (counts of
        statements not yet prepared are dropped too, oldest first)."""
        names = []
        while len(self.used) >= MAX_PREPARED:
            _, known = self.used.popitem(last=False)
            if isinstance(known, bytes):
                names.append(known)
        return names


@dataclass
class _Asked:
    sql: str
    params: Sequence[Any]
    future: asyncio.Future[list[Any]]


class StatementBatches:
    """One event loop's batches (see the module); every method is called on that loop."""

    def __init__(self, reads: LoopReads) -> None:
        self._reads = reads
        self._asked: list[_Asked] = []
        self._sending: set[asyncio.Task[None]] = set()
        self.batches = self.statements = 0  # counted for the tests and the bench

    def rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """``sql``'s rows, from a greenlet on the loop: sent with the turn's other
        statements, or alone when it could not be."""
        from charter.store.pg_loop import awaited

        loop = asyncio.get_running_loop()
        asked = _Asked(sql, params, loop.create_future())
        self._asked.append(asked)
        if len(self._asked) == 1:
            loop.call_soon(self._send_asked)
        try:
            return awaited(asked.future)
        except RunAlone:
            return self._reads.rows_alone(sql, params)

    def _send_asked(self) -> None:
        from charter.store.pg_loop import run_on_loop

        batch, self._asked = self._asked, []
        self.batches += 1
        self.statements += len(batch)
        task = asyncio.ensure_future(run_on_loop(self._send, batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def _send(self, batch: list[_Asked]) -> None:
        """In a greenlet: the batch on one of the loop's connections; every caller gets
        its rows or its error."""
        from charter.store.pg_loop import awaited

        try:
            with self._reads.batch_connection() as (connection, statements):
                answers = awaited(pipelined(connection, statements,
                                            [(a.sql, a.params) for a in batch]))
        except BaseException as error:  # no connection in time, or it was lost
            for asked in batch:
                if not asked.future.done():
                    asked.future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for asked, answer in zip(batch, answers, strict=True):
            if asked.future.done():  # its request was cancelled meanwhile
                continue
            if isinstance(answer, BaseException):
                asked.future.set_exception(answer)
            else:
                asked.future.set_result(answer)


async def pipelined(connection: psycopg.AsyncConnection[Any], statements: Statements,
                    asked: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
    """Send ``asked`` in one pipeline with one synchronisation point; each statement's
    rows, or the error it met (``RunAlone`` for those the server skipped)."""
    from psycopg import errors
    from psycopg.adapt import PyFormat, Transformer

    pgconn = connection.pgconn
    transformer = Transformer(connection)
    answers: list[Any] = [RunAlone("not sent")] * len(asked)
    # The results to read back, in order: a statement's (its index) or a command's (-1),
    # and for a PREPARE, the statement it names.
    expected: list[tuple[int, tuple[str, tuple[int, ...]] | None]] = []
    pgconn.enter_pipeline_mode()
    try:
        for index, (sql, params) in enumerate(asked):
            query = numbered(sql)
            if query is None:
                answers[index] = RunAlone("a placeholder other than %s")
                continue
            values = transformer.dump_sequence(params, [PyFormat.AUTO] * len(params))
            types, formats = tuple(transformer.types or ()), list(transformer.formats or ())
            key = (query, types)
            name, prepare = statements.name_for(key)
            if prepare:
                for stale in statements.evictions():
                    pgconn.send_query_params(b"DEALLOCATE " + stale, None)
                    expected.append((-1, None))
                assert name is not None
                pgconn.send_prepare(name, query.encode(), param_types=types)
                expected.append((-1, key))
                statements.used[key] = name
            if name is None:
                pgconn.send_query_params(query.encode(), values, param_types=types,
                                         param_formats=formats)
            else:
                pgconn.send_query_prepared(name, values, param_formats=formats)
            expected.append((index, None))
        if expected:
            pgconn.pipeline_sync()
            results = await connection.wait(_exchange(pgconn, len(expected)))
        else:
            results = []
    finally:
        try:
            pgconn.exit_pipeline_mode()
        except Exception:  # results left unread (cut off): the connection is not kept
            pass
    encoding = connection.info.encoding
    for (index, prepared), group in zip(expected, results, strict=True):
        result = group[0] if group else None
        status = result.status if result is not None else _PIPELINE_ABORTED
        if prepared is not None:
            if status != _COMMAND_OK:  # not prepared after all: counted afresh
                statements.used.pop(prepared, None)
        elif index < 0 or result is None:
            continue  # a DEALLOCATE; or no result: the statement stays RunAlone
        elif status == _TUPLES_OK or status == _COMMAND_OK:
            transformer.set_pgresult(result)
            answers[index] = transformer.load_rows(0, result.ntuples, tuple)
        elif status == _FATAL:
            answers[index] = errors.error_from_result(result, encoding=encoding)
        # else skipped (PIPELINE_ABORTED): an earlier statement of the batch failed
    return answers


def _exchange(pgconn: Any, groups: int) -> Any:
    """A psycopg generator: finish sending the pipeline, then read ``groups`` results and
    the synchronisation point's."""
    from psycopg.generators import fetch_many, send

    yield from send(pgconn)
    results = []
    for _ in range(groups):
        results.append((yield from fetch_many(pgconn)))
    synced = yield from fetch_many(pgconn)
    assert synced and synced[0].status == _PIPELINE_SYNC, synced
    return results
