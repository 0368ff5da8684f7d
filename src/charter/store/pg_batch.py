"""One round trip for the one-statement reads of a turn of the event loop (PostgreSQL).

A server worker answers its requests on one event loop; under load, several of them
reach their database statement in the same turn (a point read is one statement,
store/at_once.py). Sent each on its own connection, every statement is a ``send``
system call that runs the database's side of loopback TCP and wakes a backend, then a
wait registered with the loop and a ``recv``: measured under wrk, the ``send`` alone was
a quarter of a point read's server CPU. Here the statements asked in one turn wait for
its end, then leave together on one connection in PostgreSQL's pipeline mode: one write,
one wake-up of one backend, their answers read off one socket and handed to their
callers once the connection is back among the idle ones. A statement alone in its turn
is sent by its caller as before, through psycopg's own compiled path on a connection of
its own: a pipeline of one would only cost more.

Each statement answers as it would alone: the batch's connection is in autocommit and
every one-statement read is already its own snapshot; the pipeline has one
synchronisation point at its end, so the statements share an implicit transaction, but
a statement at READ COMMITTED takes its own snapshot all the same. A statement that
fails — on the server, or a value that cannot be sent or a row that cannot be read —
raises its own error to its caller; those the server skipped after a failure run again
alone, on a connection of their own. A lost connection fails the rest of the batch with
it: each caller gets its own copy of the driver's error, which the store tells as
``database.unavailable`` (503).

The server runs a pipeline's statements one after another. So a heavy statement (a
search page, whose cost grows with the registry: ``Database.one_statement(heavy=True)``)
goes after the turn's point reads, behind a flush request that has the server send their
answers first (handed over as soon as they are read), and a second heavy statement of the
same turn goes in a pipeline of its own, on another connection: a point read never waits
for a search, nor a search for another.

The batch's connections come from the loop's (``LoopReads``, a slot each, checked before
use) and are used only for batches, so the statements prepared on them are this
module's: a statement is prepared once it has been sent ``PREPARE_THRESHOLD`` times on a
connection, and at most ``MAX_PREPARED`` are kept per connection (the least recently used
is deallocated in the batch that prepares the next one; a deallocation that a failure
skipped is sent again at the start of the next, in a synchronisation segment of its
own). A statement is taken for prepared as its PREPARE is sent and forgotten again when
the server refuses or skips it; a connection whose exchange was cut off is closed, not
kept.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

    from charter.store.pg_loop import LoopReads

PREPARE_THRESHOLD = 2  # as psycopg's on the loop's other connections (pg_reads.py)
MAX_PREPARED = 128     # statements kept prepared per batch connection
_PLACEHOLDER = re.compile(r"%(.)", re.DOTALL)

_TUPLES_OK, _COMMAND_OK, _FATAL = 2, 1, 7           # psycopg.pq.ExecStatus
_PIPELINE_SYNC, _PIPELINE_ABORTED = 10, 11


# The answer to a statement asked alone in its turn: its caller runs it on a connection
# of its own, through psycopg's own (compiled) path, cheaper than a pipeline of one. A
# list no answer is (answers are made fresh), told apart by identity.
ALONE: list[Any] = []


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
    # Deallocations the server has not done yet (a DEALLOCATE skipped by an aborted
    # pipeline): sent first in the next batch, where no earlier error can skip them.
    stale: list[bytes] = field(default_factory=list)

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
    heavy: bool


Deliver = Callable[[int, Any], None]  # a statement's index in its batch, its rows or error


class StatementBatches:
    """One event loop's batches (see the module); every method is called on that loop."""

    # A statement alone in its turn is sent by its caller, on a connection of its own
    # (the tests of the pipeline itself turn this off).
    lone_goes_alone = True

    def __init__(self, reads: LoopReads) -> None:
        self._reads = reads
        self._asked: list[_Asked] = []
        self._sending: set[asyncio.Task[None]] = set()
        self.batches = self.statements = 0  # counted for the tests and the bench

    def rows(self, sql: str, params: Sequence[Any], *, heavy: bool = False) -> list[Any]:
        """``sql``'s rows, from a greenlet on the loop: sent with the turn's other
        statements, or alone when it could not be. ``heavy``: a statement whose cost grows
        with the registry (a search page), sent after the turn's point reads."""
        from charter.store.pg_loop import awaited

        loop = asyncio.get_running_loop()
        asked = _Asked(sql, params, loop.create_future(), heavy)
        self._asked.append(asked)
        if len(self._asked) == 1:
            loop.call_soon(self._send_asked)
        try:
            rows = awaited(asked.future)
        except RunAlone:
            rows = ALONE
        if rows is ALONE:
            return self._reads.rows_alone(sql, params)
        return rows

    def _send_asked(self) -> None:
        """The turn's statements: its point reads and one heavy statement, after them, in
        one pipeline; every other heavy statement in one of its own, so none waits for
        another (the server runs a pipeline's statements one after the other)."""
        from charter.store.pg_loop import run_on_loop

        asked, self._asked = self._asked, []
        light = [one for one in asked if not one.heavy]
        heavy = [one for one in asked if one.heavy]
        for batch in (light + heavy[:1], *([one] for one in heavy[1:])):
            if len(batch) == 1 and self.lone_goes_alone:  # its caller sends it, as before
                _settle_future(batch[0].future, ALONE)  # (unless its request was cancelled)
                continue
            if not batch:
                continue
            self.batches += 1
            self.statements += len(batch)
            task = asyncio.ensure_future(run_on_loop(self._send, batch))
            self._sending.add(task)
            task.add_done_callback(partial(self._sent, batch))

    def _sent(self, batch: list[_Asked], task: asyncio.Task[None]) -> None:
        """A batch's task ended: a caller it did not answer (the task was cancelled before
        it ran, at the loop's end) is not left waiting."""
        self._sending.discard(task)
        for asked in batch:
            if not asked.future.done():
                asked.future.set_exception(asyncio.CancelledError())

    def _send(self, batch: list[_Asked]) -> None:
        """In a greenlet: the batch on one of the loop's connections; each caller gets its
        rows or its error once the connection is back (before a heavy statement: as soon as
        they are read)."""
        from charter.store.pg_loop import awaited

        # The point reads before a heavy statement are answered as soon as they are read;
        # the others once the connection is back, so that a caller's next statement finds
        # it idle instead of opening another (with none of its prepared statements).
        heavy_at = next((i for i, one in enumerate(batch) if one.heavy), len(batch))
        early = heavy_at < len(batch)
        held: list[tuple[int, Any]] = []

        def deliver(index: int, answer: Any) -> None:
            if early and index < heavy_at:
                _settle_future(batch[index].future, answer)
            else:
                held.append((index, answer))

        try:
            with self._reads.batch_connection() as (connection, statements):
                awaited(pipelined(connection, statements,
                                  [(one.sql, one.params, one.heavy) for one in batch], deliver))
        except BaseException as error:  # no connection in time, or it was lost
            for index, answer in held:
                _settle_future(batch[index].future, answer)
            for asked in batch:
                if not asked.future.done():
                    asked.future.set_exception(_own_copy(error))
            if not isinstance(error, Exception):
                raise
            return
        for index, answer in held:
            _settle_future(batch[index].future, answer)


def _settle_future(future: asyncio.Future[list[Any]], answer: Any) -> None:
    if future.done():  # its request was cancelled meanwhile
        return
    if isinstance(answer, BaseException):
        future.set_exception(answer)
    else:
        future.set_result(answer)


def _own_copy(error: BaseException) -> BaseException:
    """An error of ``error``'s kind for one of the callers it failed, caused by it: each
    caller raises its own object (one object raised in several greenlets would gather
    every one's frames)."""
    try:
        copy = type(error)(*error.args)
    except Exception:
        return error
    copy.__cause__ = error
    return copy


async def pipelined(connection: psycopg.AsyncConnection[Any], statements: Statements,
                    asked: Sequence[tuple[str, Sequence[Any], bool]], deliver: Deliver) -> None:
    """Send ``asked`` (statement, parameters, heavy) in one pipeline with one
    synchronisation point; ``deliver`` each statement's rows, or the error it met
    (``RunAlone`` for those the server skipped), as its result is read. The server holds
    a pipeline's results until it is told to flush them: it is, before a heavy statement,
    so the statements before it are answered without waiting for it. Raises when the
    exchange itself fails (the connection is then closed: what the server prepared is not
    known)."""
    from psycopg import errors
    from psycopg.adapt import PyFormat, Transformer
    from psycopg.generators import fetch_many, send

    pgconn = connection.pgconn
    transformer = Transformer(connection)
    # The results to read back, in order: a statement's (its index), a PREPARE's (-1, the
    # statement it names), a DEALLOCATE's (-2, the name) or a synchronisation point's (-3).
    expected: list[tuple[int, Any]] = []
    pgconn.enter_pipeline_mode()
    try:
        # Deallocations an aborted pipeline skipped go first, where no error can skip them.
        stale, statements.stale = statements.stale, []
        for old in stale:
            pgconn.send_query_params(b"DEALLOCATE " + old, None)
            expected.append((-2, old))
        if stale:  # their own implicit transaction: a failure there skips no statement
            pgconn.pipeline_sync()
            expected.append((-3, None))
        for index, (sql, params, heavy) in enumerate(asked):
            if heavy and expected:
                pgconn.send_flush_request()
            query = numbered(sql)
            if query is None:
                deliver(index, RunAlone("a placeholder other than %s"))
                continue
            try:  # a value that cannot be sent fails its own statement, not the batch
                values = transformer.dump_sequence(params, [PyFormat.AUTO] * len(params))
            except Exception as error:
                deliver(index, error)
                continue
            types, formats = tuple(transformer.types or ()), list(transformer.formats or ())
            key = (query, types)
            name, prepare = statements.name_for(key)
            if prepare:
                for evicted in statements.evictions():
                    pgconn.send_query_params(b"DEALLOCATE " + evicted, None)
                    expected.append((-2, evicted))
                assert name is not None
                pgconn.send_prepare(name, query.encode(), param_types=types)
                expected.append((-1, key))
                statements.used[key] = name
                statements.used.move_to_end(key)
            if name is None:
                pgconn.send_query_params(query.encode(), values, param_types=types,
                                         param_formats=formats)
            else:
                pgconn.send_query_prepared(name, values, param_formats=formats)
            expected.append((index, None))
        if not expected:
            return
        pgconn.pipeline_sync()
        try:
            await connection.wait(send(pgconn))
            encoding = connection.info.encoding
            for index, what in expected:
                group = await connection.wait(fetch_many(pgconn))
                _settle(index, what, group[0] if group else None, statements, transformer,
                        encoding, errors.error_from_result, deliver)
            synced = await connection.wait(fetch_many(pgconn))
            assert synced and synced[0].status == _PIPELINE_SYNC, synced
        except BaseException:
            pgconn.finish()  # results unread, prepared statements unknown: not kept
            raise
    finally:
        try:
            pgconn.exit_pipeline_mode()
        except Exception:  # the connection is finished, or cut off: it is not kept
            pass


def _settle(index: int, what: Any, result: Any, statements: Statements, transformer: Any,
            encoding: str, error_from: Callable[..., Exception], deliver: Deliver) -> None:
    """One result of the pipeline: a statement's answer delivered, or what is prepared
    brought up to date. Raises nothing."""
    status = result.status if result is not None else _PIPELINE_ABORTED
    if index == -3:
        return
    if index == -1:
        if status != _COMMAND_OK:  # not prepared after all: counted afresh
            statements.used.pop(what, None)
    elif index == -2:
        if status == _PIPELINE_ABORTED:  # skipped: still prepared, deallocated next time
            statements.stale.append(what)  # (failed: the server has no such name)
    elif status == _TUPLES_OK or status == _COMMAND_OK:
        try:  # a row that cannot be loaded fails its own statement
            transformer.set_pgresult(result)
            deliver(index, transformer.load_rows(0, result.ntuples, tuple))
        except Exception as error:
            deliver(index, error)
    elif status == _FATAL:
        deliver(index, error_from(result, encoding=encoding))
    else:  # skipped (PIPELINE_ABORTED): an earlier statement of the batch failed
        deliver(index, RunAlone("the pipeline was aborted before it"))
