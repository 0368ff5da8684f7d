"""The unit of work (engines and migrations: store/engines.py).

A write transaction first takes the single write turn — ``BEGIN IMMEDIATE`` on
SQLite, a row lock on ``chain_head`` on PostgreSQL — so the checks a use case
makes (who is in Production? what is the next version number?) cannot be raced
by another writer, and audit events join the hash chain one at a time.
Reads never take the turn.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeAlias, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from charter.domain import error_codes as codes
from charter.domain.errors import NotFound, Unavailable
from charter.domain.events import (
    NewEvent,
    canonical_json,
    chain_hash,
    format_time,
    hashed_fields,
    parse_time,
)
from charter.metrics import write_turn_wait
from charter.store import events, group_commit, models, moves, webhooks
from charter.store.driver import SCHEMA_REVISION as SCHEMA_REVISION  # its callers' import
from charter.store.driver import (
    SQLITE_BUSY_TIMEOUT_S,
    HeadReader,
    Reader,
    Snapshots,
    connection_lost,
    session_reader,
)
from charter.store.engines import (
    PG_CONNECT_TIMEOUT_S,
    PG_POOL_OVERFLOW,
    PG_POOL_SIZE,
    PG_POOL_TIMEOUT_S,
    conninfo,
    current_revision,
    make_engine,
    normalise_url,
    upgrade,
)
from charter.store.events import ChainPosition, StoredEvent
from charter.store.group_commit import GroupCommit, count_moves
from charter.store.pg_loop import NeedsThread as NeedsThread  # the web's import
from charter.store.pg_loop import refuse_on_loop, run_on_loop
from charter.store.pg_reads import PgSnapshots
from charter.store.write_turn import FileTurn, file_turn_for
from charter.store.write_turn import TurnBusy as TurnBusy  # the service's import
from charter.store.write_turn import turn_wait as turn_wait

# A read transaction of the store modules written with SQLAlchemy's ORM (webhooks, bulk):
# what ``Database.read()`` opens, named here so their callers need not import SQLAlchemy.
OrmRead: TypeAlias = Session

# The answer cache's check runs on the event loop (driver.HeadReader): a stalled server may
# hold a worker's loop this long at most before the request answers 503.
HEAD_STATEMENT_TIMEOUT_MS = 1000


class lost_connections:  # noqa: N801 - used as the function it was, ``with lost_connections():``
    """A lost database connection as the registry's ``database.unavailable`` (503, with
    Retry-After on the web): the caller may try again. A write whose COMMIT was cut may
    have landed or not; it was not acknowledged either way, and a retry of it meets the
    registry's own refusals (``model.exists``, ``stage.unchanged``) if it had landed.
    A class, not a generator: every read passes through it, an MLflow point read twice."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: object) -> None:
        if exc is None or isinstance(exc, Unavailable) or not isinstance(exc, Exception) \
                or not connection_lost(exc):
            return
        raise Unavailable(
            codes.DATABASE_UNAVAILABLE,
            "The registry's database could not be reached; the request was not done",
            "try again in a moment (Retry-After); if it persists, check that PostgreSQL is "
            "up and reachable from the server") from exc


@dataclass
class WriteTx:
    """One write transaction: the session, and the events it appends to the chain.

    The store's functions take it as their connection (``driver.Conn``); ``sql()`` is
    the transaction's driver connection, for the store modules written in plain SQL,
    and ``session`` its ORM session, for the others.
    """

    session: Session
    actor: str
    now: datetime
    correlation_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    _head: ChainPosition | None = None
    events: list[StoredEvent] = field(default_factory=list)
    _reader: Reader | None = None

    @property
    def head(self) -> ChainPosition:
        """The chain head as this transaction has moved it so far."""
        assert self._head is not None, "the write turn was not taken"
        return self._head

    def sql(self) -> Reader:
        """The driver connection of this transaction (ORM changes so far flushed first)."""
        if self._reader is None:
            self._reader = session_reader(self.session)
        else:
            self.session.flush()
        return self._reader

    def record(self, new: NewEvent, *, actor: str | None = None) -> StoredEvent:
        """Append an event to the chain, in this transaction (as ``actor``: the registry
        itself records its checkpoints)."""
        actor = self.actor if actor is None else actor
        head = self._head
        assert head is not None, "the write turn was not taken"
        seq, time = head.seq + 1, format_time(self.now)
        fields = hashed_fields(seq=seq, time=time, actor=actor, event=new,
                               correlation_id=self.correlation_id)
        row = StoredEvent(
            seq=seq, time=time, actor=actor, action=new.action, model=new.model,
            version=new.version, from_stage=new.from_stage, to_stage=new.to_stage,
            reason=new.reason, correlation_id=self.correlation_id,
            payload=canonical_json(new.payload), prev_hash=head.hash,
            hash=chain_hash(head.hash, fields))
        events.append(self, row)
        head.seq, head.hash, head.time = seq, row.hash, time
        self.events.append(row)
        return row


T = TypeVar("T")


class Database:
    def __init__(self, url: str, *, migrate: bool = True, pool_size: int = PG_POOL_SIZE,
                 pool_timeout: float = PG_POOL_TIMEOUT_S,
                 pool_overflow: int = PG_POOL_OVERFLOW) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, pool_size=pool_size, pool_timeout=pool_timeout,
                                  pool_overflow=pool_overflow)
        self.dialect = self.engine.dialect.name
        if self.dialect == "postgresql":
            group_commit.keep_savepoints(self.engine.dialect)
            group_commit.keep_order(self.engine)
        # A read spanning several statements must see one snapshot (SQLite's read
        # transaction already does; PostgreSQL's READ COMMITTED would not).
        reads = (self.engine.execution_options(isolation_level="REPEATABLE READ")
                 if self.dialect == "postgresql" else self.engine)
        self._reader = sessionmaker(reads, expire_on_commit=False)
        self._writer = sessionmaker(
            self.engine.execution_options(charter_write=True), expire_on_commit=False)
        self._local_turn: AbstractContextManager[object] = (
            threading.Lock() if self.dialect == "sqlite" else nullcontext())
        self._file_turn = file_turn_for(self.url)
        self._snapshots: Snapshots | PgSnapshots = (
            PgSnapshots(conninfo(self.url), limit=pool_size + pool_overflow,
                        max_idle=pool_size, timeout_s=pool_timeout,
                        connect_timeout_s=PG_CONNECT_TIMEOUT_S)
            if self.dialect == "postgresql" else Snapshots(self.engine, SQLITE_BUSY_TIMEOUT_S))
        self._heads = (HeadReader(conninfo(self.url), PG_CONNECT_TIMEOUT_S,
                                  HEAD_STATEMENT_TIMEOUT_MS)
                       if self.dialect == "postgresql" else None)
        # Called at the end of every write that recorded events, with the head as it now
        # is, before the head moves: the service signs checkpoints here (no crypto in store).
        self.seal: Callable[[WriteTx, ChainPosition], object] | None = None
        # Writes from the event loop, committed in groups (GroupCommit): every PostgreSQL
        # write, and on SQLite those that found the turn busy (web.py ``run_write``).
        self.group_commit: GroupCommit | None = GroupCommit(self._batch_transaction)
        if migrate and current_revision(self.engine) != SCHEMA_REVISION:
            upgrade(self.engine)

    @contextmanager
    def read(self) -> Iterator[Session]:
        refuse_on_loop("an ORM read")
        batch = group_commit.current()
        if batch is not None:  # a call of a group commit reads its batch's transaction
            with lost_connections():
                yield batch.session
            return
        with lost_connections(), self._reader.begin() as session:
            yield session

    @contextmanager
    def snapshot(self) -> Iterator[Reader]:
        """A read transaction on a driver connection, for the hot reads (store/driver.py)."""
        batch = group_commit.current()
        if batch is not None:
            with lost_connections():
                yield session_reader(batch.session)
            return
        with lost_connections(), self._snapshots.read() as reader:
            yield reader

    @contextmanager
    def one_statement(self, *, heavy: bool = False) -> Iterator[Reader | None]:
        """For a read that is a single statement: a connection outside any transaction
        (store/pg_reads.py, store/driver.py ``Snapshots``), the statement its own
        snapshot. None within a group commit: the caller reads through ``snapshot()``
        then. ``heavy``: a statement whose cost grows with the registry (a search page); on
        the event loop it does not hold back the point reads sent with it
        (store/pg_batch.py)."""
        if group_commit.current() is not None:
            yield None
            return
        with lost_connections(), self._snapshots.read(one_statement=True,
                                                      heavy=heavy) as reader:
            yield reader

    def generation(self) -> int:
        """The chain head's seq: it moves with every change to the registry, in any process."""
        with self.one_statement() as single:
            if single is not None:
                return events.head_seq(single)
        with self.snapshot() as reader:
            return events.head_seq(reader)

    def check_ready(self) -> int:
        """A write-free probe for the server's readiness check: the chain head's seq, read
        on a pooled connection. Raises when the database cannot answer, and for a SQLite
        file that was removed (open connections would still read the unlinked file)."""
        if self.dialect == "sqlite":
            path = self.url.split("///", 1)[-1].split("?", 1)[0]
            if path and ":memory:" not in path and "mode=memory" not in self.url \
                    and not os.path.exists(path):
                raise FileNotFoundError(f"the SQLite database {path} is gone")
        return self.generation()

    async def loop_generation(self) -> int:
        """``generation()`` for a caller on the event loop: on PostgreSQL one prepared
        statement on a kept connection, sent without blocking the loop and shared by the
        checks asked for meanwhile (store/liveness.py ``HeadReader``); connecting, when
        needed, in a thread. SQLite answers at once anyway."""
        if self._heads is None:
            return self.generation()
        with lost_connections():
            return await self._heads.seq_async()

    async def read_on_loop(self, call: Callable[..., T], *args: object) -> T:
        """Run ``call(*args)``, a read use case, on the event loop: its reads through
        ``snapshot()`` and ``one_statement()`` await the loop's own connections
        (store/pg_loop.py). Raises ``NeedsThread`` if it reaches other database I/O."""
        return await run_on_loop(call, *args)

    def close_loop_reads(self) -> None:
        """Close the running loop's read connections (on the server's shutdown)."""
        if isinstance(self._snapshots, PgSnapshots):
            import asyncio

            self._snapshots.close_loop(asyncio.get_running_loop())

    @property
    def turn_can_wait(self) -> bool:
        """Whether a write may ask for the turn with a deadline (``turn_wait``): SQLite files."""
        return isinstance(self._file_turn, FileTurn)

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """The write turn on SQLite: this process's lock, then the file lock shared with
        other processes; within ``turn_wait`` if one is set (else TurnBusy)."""
        wait = turn_wait.get()
        if wait is None or not isinstance(self._file_turn, FileTurn):
            with self._local_turn, self._file_turn:
                yield
            return
        deadline = time.monotonic() + wait
        local = self._local_turn
        assert isinstance(local, type(threading.Lock()))
        if not local.acquire(timeout=wait):
            raise TurnBusy()
        try:
            if not self._file_turn.acquire_until(deadline):
                raise TurnBusy()
            turn_wait.set(None)  # the call's later writes, if any, wait like any other
            try:
                yield
            finally:
                self._file_turn.__exit__()
        finally:
            local.release()

    @contextmanager
    def write(self, actor: str, clock: Callable[[], datetime]) -> Iterator[WriteTx]:
        refuse_on_loop("a write")
        batch = group_commit.current()
        if batch is not None:  # a call of a group commit: the batch holds the turn already
            with lost_connections():
                yield from self._write_on(batch.session, actor, clock, batch)
            return
        # SQLite's busy handler sleeps and retries; threads of one process queue on a
        # lock instead (other processes still meet the busy timeout).
        asked = time.perf_counter()
        with lost_connections(), self._turn(), self._writer.begin() as session:
            tx = yield from self._write_on(session, actor, clock, asked=asked)
        count_moves(tx.events)  # committed

    def _write_on(self, session: Session, actor: str, clock: Callable[[], datetime],
                  batch: group_commit.Batch | None = None, *, asked: float | None = None
                  ) -> Generator[WriteTx, None, WriteTx]:
        """The write on ``session``, the turn taken here unless a group commit's ``batch``
        holds it and knows the head (one read of it for the whole batch)."""
        reader = session_reader(session)
        head = batch.head if batch is not None else events.chain_head(reader, lock=True)
        if asked is not None:  # the turn is ours: how long it took (charter.metrics)
            write_turn_wait(time.perf_counter() - asked)
        # The clock is read only once the turn is ours, and never behind the last
        # event: times along the chain do not go backwards, even across replicas.
        now = clock()
        if head.time and format_time(now) < head.time:
            now = parse_time(head.time)
        tx = WriteTx(session=session, actor=actor, now=now, _head=head, _reader=reader)
        yield tx
        if tx.events and self.seal is not None:
            self.seal(tx, head)
        if tx.events and batch is not None:  # the group commit does both at its end
            batch.events.extend(tx.events)
            batch.now = now
        elif tx.events:  # webhook deliveries commit with their events, or not at all
            webhooks.enqueue(session, tx.events, now)
            events.move_head(tx, head)
        session.flush()
        return tx

    def batched(self, call: Callable[..., T], *args: object,
                move: tuple[str, int] | None = None, count: str | None = None
                ) -> Future[T]:
        """Run ``call(*args)`` — a use case that writes — in this process's next group
        commit; its result or error once the batch has committed. ``move``: the call moves
        a stage of this model name and version (on PostgreSQL read with the batch's other
        moves, store/moves.py ``read_ahead``); ``count``: the call makes a new version of
        the model of this name (its number taken with the batch's others',
        store/numbers.py)."""
        assert self.group_commit is not None, "this database was disposed of"
        key = moves.move_key(*move) if move is not None else None
        return self.group_commit.submit(call, *args, move=key,
                                        count=_count_key(count) if count else None)

    @contextmanager
    def _batch_transaction(self) -> Iterator[Session]:
        """A group commit's write transaction (it takes the turn itself; on SQLite this
        process's lock and the file lock first, no-ops on PostgreSQL)."""
        with (lost_connections(), self._local_turn, self._file_turn,
              self._writer.begin() as session):
            yield session

    @contextmanager
    def housekeeping(self) -> Iterator[Session]:
        """A write transaction outside the audit chain, for bookkeeping rows such as the
        webhook outbox: SQLite's write turn, but not the chain head's lock (PostgreSQL
        callers lock the rows they touch, e.g. ``FOR UPDATE SKIP LOCKED``)."""
        batch = group_commit.current()
        if batch is not None:  # a call of a group commit: the batch holds the turn already
            with lost_connections():
                yield batch.session
            return
        with (lost_connections(), self._local_turn, self._file_turn,
              self._writer.begin() as session):
            yield session

    def dispose(self) -> None:
        if self.group_commit is not None:
            self.group_commit.close()
            self.group_commit = None
        if self._heads is not None:
            self._heads.close()
        self._snapshots.close()
        self.engine.dispose()


def _count_key(name: str) -> str | None:
    """The key a new version of ``name`` is read ahead by (None: a name no model could
    have; its call then refuses it, as without this)."""
    try:
        return models.lookup_key(name)
    except NotFound:
        return None
