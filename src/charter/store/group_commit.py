"""PostgreSQL's group commit: the writes of one server process, run together in one
transaction, one turn on the chain head and one COMMIT (bench/README.md, PostgreSQL).

A write on PostgreSQL holds the chain head's row lock until its COMMIT has reached the
disk, so writers one at a time cannot outpace one WAL flush each (~1.5 ms here) plus
their round trips. Here one thread per process takes the calls queued by the event loop,
takes the turn once, runs the calls together in one SAVEPOINT with their events inserted
in one statement at the end (``_run_together``; if a call fails, once more with each call
in a SAVEPOINT of its own, so it is rolled back alone and gets its error), and commits
them together; each call is answered
only after that COMMIT, so nothing is acknowledged before it is durable. If the database
is lost meanwhile, every call of the batch answers 503. Reads a call makes
(``Database.snapshot``/``read``) see the batch's transaction: its own writes, and its
batch-mates', which commit with it or not at all (``current()``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import takewhile
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import Session

from charter.domain import error_codes as codes
from charter.domain.errors import Unavailable
from charter.domain.events import ROLLED_BACK, STAGE_CHANGED
from charter.metrics import stage_transitions, write_turn_wait
from charter.store import events, moves, numbers, webhooks
from charter.store.driver import connection_lost, driver_connection, session_reader
from charter.store.events import ChainPosition, StoredEvent
from charter.store.held_writes import (
    commit_with_deferred,
    deferring,
    drop_deferred,
    hold_savepoint,
    never_sent,
    send_deferred,
    send_deferred_before,
)

T = TypeVar("T")


def count_moves(committed: Iterable[StoredEvent]) -> None:
    """charter_stage_transitions_total, once the events are committed."""
    stage_transitions(e.to_stage for e in committed
                      if e.action in (STAGE_CHANGED, ROLLED_BACK) and e.to_stage)


def keep_savepoints(dialect: Dialect) -> None:
    """Within a batch, a call's savepoint is not released on PostgreSQL: RELEASE was one
    more round trip per write with the chain head locked. PostgreSQL keeps the savepoints
    (``MAX_BATCH`` at most) until the batch's COMMIT, which commits their changes as it
    would released ones; ROLLBACK TO a call's own savepoint (SQLAlchemy names each
    anew) still undoes exactly that call. Savepoints outside a batch are released.
    Within a batch, SAVEPOINT itself is held like a write and goes with the next
    statement (held_writes.hold_savepoint); rolling back to one never sent sends nothing."""
    release = dialect.do_release_savepoint
    savepoint = dialect.do_savepoint
    rollback_to = dialect.do_rollback_to_savepoint

    def release_outside_batches(connection: Any, name: str) -> None:
        if current() is None:
            release(connection, name)

    def savepoint_held_in_batches(connection: Any, name: str) -> None:
        if current() is None or not hold_savepoint(connection.connection.driver_connection,
                                                   name):
            savepoint(connection, name)

    def rollback_to_sent(connection: Any, name: str) -> None:
        if current() is None or not never_sent(name):
            rollback_to(connection, name)

    dialect.do_release_savepoint = release_outside_batches  # type: ignore[method-assign]
    dialect.do_savepoint = savepoint_held_in_batches  # type: ignore[method-assign]
    dialect.do_rollback_to_savepoint = rollback_to_sent  # type: ignore[method-assign]


def keep_order(engine: Engine) -> None:
    """A statement SQLAlchemy runs (a savepoint, an ORM flush) on a batch's connection
    sends the batch's held writes first (held_writes.deferring)."""
    event.listen(engine, "before_cursor_execute", send_deferred_before)


def is_lost(exc: BaseException) -> bool:
    """A lost database connection already told as the registry's ``database.unavailable``."""
    return isinstance(exc, Unavailable) and exc.code == codes.DATABASE_UNAVAILABLE


@dataclass
class Batch:
    """The batch transaction the group-commit thread runs: its session, the chain head as
    its calls have moved it, and the events they recorded (enqueued and the head moved
    once, at its end)."""

    session: Session
    head: ChainPosition
    events: list[StoredEvent] = field(default_factory=list)
    now: datetime | None = None


_local = threading.local()  # the batch of this thread, if it runs one


def current() -> Batch | None:
    """The batch this thread is running a call of, if any."""
    batch: Batch | None = getattr(_local, "batch", None)
    return batch


@dataclass
class _Job:
    call: Callable[..., Any]
    args: tuple[object, ...]
    future: Future[Any]
    move: tuple[str, int] | None = None  # a stage move's model key and version (moves.py)
    count: str | None = None  # a new version's model key (numbers.py)


def _announced(job: _Job) -> bool:
    """Whether the job named what it will read (a move's version, a new version's model)."""
    return job.move is not None or job.count is not None


class _Ahead:
    """The batch's stage moves and new versions' models read together once it holds the
    chain head (one round trip for each kind: ``moves.read_ahead``,
    ``numbers.read_ahead``), each offered to its call while no earlier call of the run can
    have changed its model: every earlier call was one read ahead, of another model (by
    id: a model has several names). Any other call may change any model — one not read
    ahead, or one by a name not read ahead (a former name, a model it creates) —; after
    it, the calls read for themselves."""

    def __init__(self, moved: dict[tuple[str, int], Any], counted: dict[str, Any]) -> None:
        self._moved = moved
        self._counted = counted
        self._offer_counts = True
        self._models: set[int] = set()
        self._blind = False

    def restart(self) -> None:
        """The calls run again from the batch's start (what was read is true again), but
        new versions take their numbers by the statement: if a number's guard failed
        (numbers.COUNT_UP), the rerun takes the right one. What was read still tells which
        model each of them changes, so later moves still use what was read for them."""
        self._models.clear()
        self._blind = False
        self._offer_counts = False

    def _read(self, job: _Job) -> tuple[Any, int] | None:
        """What was read ahead for ``job`` and the id of its model."""
        if job.move is not None and (hit := self._moved.get(job.move)) is not None:
            return hit, moves.model_id_of(hit)
        if job.count is not None and (hit := self._counted.get(job.count)) is not None:
            return hit, numbers.model_id_of(hit)
        return None

    def before(self, job: _Job) -> None:
        read = None if self._blind else self._read(job)
        hit = read[0] if read is not None and read[1] not in self._models else None
        if job.move is not None:
            moves.offer(job.move, hit)
        elif job.count is not None:
            numbers.offer(job.count, hit if self._offer_counts else None)

    def after(self, job: _Job) -> None:
        moves.offer(None, None)
        numbers.offer(None, None)
        read = self._read(job)
        if read is None:
            self._blind = True
        else:
            self._models.add(read[1])


class GroupCommit:
    """The calls queued by one process, run ``MAX_BATCH`` at most per transaction by one
    thread. ``begin`` opens a write transaction (a lost connection raised as 503)."""

    MAX_BATCH = 32

    def __init__(self, begin: Callable[[], AbstractContextManager[Session]]) -> None:
        self._begin = begin
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def submit(self, call: Callable[..., T], *args: object,
               move: tuple[str, int] | None = None, count: str | None = None) -> Future[T]:
        """``move``: the call is a stage move of that model key and version (read ahead
        with the batch's other moves); ``count``: the call makes a new version of the
        model of that key (its model read ahead with the batch's other new versions')."""
        future: Future[T] = Future()
        self._queue.put(_Job(call, args, future, move, count))
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._serve, daemon=True,
                                                    name="charter-group-commit")
                    self._thread.start()
        return future

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            self._run(first)

    def _more(self, room: int) -> list[_Job]:
        """The calls queued meanwhile, at most ``room`` (a None, a close, is put back)."""
        jobs: list[_Job] = []
        while len(jobs) < room:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._queue.put(None)
                break
            jobs.append(job)
        return jobs

    def _run(self, first: _Job) -> None:
        jobs = [first]
        outcomes: list[tuple[_Job, Any, BaseException | None]] = []
        committed: list[StoredEvent] = []
        try:
            asked = time.perf_counter()
            with self._begin() as session:
                # The turn first: the calls queued while it is awaited join this batch.
                # On PostgreSQL the webhook subscriptions are read right after it, in the
                # same round trip (webhooks.enqueue reads them again if a call changes them).
                postgres = session.get_bind().dialect.name == "postgresql"
                reader = session_reader(session)
                if postgres:
                    head, active = events.lock_head_then(reader, webhooks.ACTIVE)
                else:
                    head, active = events.chain_head(reader, lock=True), None
                batch = Batch(session, head)
                write_turn_wait(time.perf_counter() - asked)
                jobs += self._more(self.MAX_BATCH - 1)
                _local.batch = batch
                try:
                    with deferring(driver_connection(session) if postgres else None), \
                            webhooks.watching_subscriptions():
                        running = [job for job in jobs
                                   if job.future.set_running_or_notify_cancel()]
                        # Only the calls before the first one not read ahead can use
                        # what is read: after it, every call reads for itself.
                        lead = list(takewhile(_announced, running))
                        ahead = _Ahead(
                            moves.read_ahead(reader, [job.move for job in lead
                                                      if job.move is not None]),
                            numbers.read_ahead(reader, [job.count for job in lead
                                                        if job.count is not None]))
                        together = _run_together(batch, running, ahead)
                        if together is None:  # each call again, alone, from the start
                            ahead.restart()
                            together = [_run_one(batch, job, ahead) for job in running]
                        outcomes = together
                        # The batch's events: their webhook deliveries, the head moved once.
                        if batch.events:
                            assert batch.now is not None
                            webhooks.enqueue(session, batch.events, batch.now, active)
                            events.move_head(session, batch.head)
                            committed = list(batch.events)
                        session.flush()  # the ORM's rows (webhook deliveries) first
                        commit_with_deferred()
                finally:
                    _local.batch = None
        except BaseException as exc:  # nothing of the batch committed: each call is told
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        count_moves(committed)
        for job, result, error in outcomes:
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(result)


def _run_together(batch: Batch, jobs: list[_Job], ahead: _Ahead
                  ) -> list[tuple[_Job, Any, BaseException | None]] | None:
    """The batch's calls in one savepoint, none of their own: a SAVEPOINT per call was one
    more round trip per write with the chain head locked, and calls seldom fail. If one
    fails, all are undone (the head's row lock, taken before, is kept) and None says to
    run them again each in its savepoint (``_run_one``): the answers are then those of
    the transaction that commits, never of one rolled back. The events the calls record
    are held and inserted together at the end. A lost connection ends the batch."""
    before = replace(batch.head)
    results: list[tuple[_Job, Any, BaseException | None]] = []
    events.hold([])  # the batch's events in one statement at its end (events.write_held)
    try:
        with batch.session.begin_nested():
            for job in jobs:  # a call's held writes go with the next one's first read
                results.append((job, _call(job, ahead, send=False), None))
            events.write_held(session_reader(batch.session))
            send_deferred()  # the last call's writes fail inside the savepoint, if they do
    except Exception as exc:
        if connection_lost(exc) or is_lost(exc):
            raise
        batch.head, batch.now = before, None
        batch.events.clear()
        return None
    finally:
        events.hold(None)
    return results


def _run_one(batch: Batch, job: _Job, ahead: _Ahead
             ) -> tuple[_Job, Any, BaseException | None]:
    """One call in its savepoint; one that fails leaves the head and events as they were.
    A lost connection ends the whole batch."""
    before, recorded = replace(batch.head), len(batch.events)
    try:
        with batch.session.begin_nested():
            return job, _call(job, ahead), None
    except Exception as exc:
        if connection_lost(exc) or is_lost(exc):
            raise
        batch.head = before
        del batch.events[recorded:]
        return job, None, exc


def _call(job: _Job, ahead: _Ahead, *, send: bool = True) -> Any:
    """The call, its held writes sent (held_writes.deferring) so that a failure of theirs is
    its own — or, ``send=False``, left to go with the next statement (``_run_together``:
    any failure there reruns each call alone). When it fails, they are dropped before its
    savepoint is rolled back."""
    ahead.before(job)
    try:
        result = job.call(*job.args)
        if send:
            send_deferred()
    except BaseException:
        drop_deferred()
        raise
    finally:
        ahead.after(job)
    return result
