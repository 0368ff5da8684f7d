"""Engines, migrations and the unit of work.

A write transaction first takes the single write turn — ``BEGIN IMMEDIATE`` on
SQLite, a row lock on ``chain_head`` on PostgreSQL — so the checks a use case
makes (who is in Production? what is the next version number?) cannot be raced
by another writer, and audit events join the hash chain one at a time.
Reads never take the turn.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TypeAlias

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from charter.domain.events import (
    NewEvent,
    canonical_json,
    chain_hash,
    format_time,
    hashed_fields,
    parse_time,
)
from charter.store import events, webhooks
from charter.store.driver import Reader, Snapshots, prepare_sqlite, session_reader
from charter.store.events import ChainPosition, StoredEvent

# A read transaction of the store modules written with SQLAlchemy's ORM (webhooks, bulk):
# what ``Database.read()`` opens, named here so their callers need not import SQLAlchemy.
OrmRead: TypeAlias = Session

SQLITE_BUSY_TIMEOUT_S = 60
# The newest migration's revision; tests/store/test_migrations.py keeps it equal to
# Alembic's head, so start-up can skip importing Alembic when nothing is to be done.
SCHEMA_REVISION = "0007"


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` as users write it and use psycopg 3 for it."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        # As many connections as the server's thread pool has threads: opening one
        # per request (and its PRAGMAs) costs more than the query.
        pool_size=40, max_overflow=40,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        prepare_sqlite(dbapi_connection, SQLITE_BUSY_TIMEOUT_S)

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # type: ignore[no-untyped-def]
        write = connection.get_execution_options().get("charter_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(url, pool_size=8, max_overflow=32, pool_recycle=3600)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> None:
    """Apply every Alembic migration (idempotent; run on start and by `charter db upgrade`)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("charter.store") / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


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


class TurnBusy(Exception):
    """The write turn was not free within the wait allowed (``turn_wait``); nothing was done."""


# How long a write may wait for the turn before giving up with TurnBusy; None: as long as
# it takes. Set by a caller that must not block for long (an event loop), and used by
# the first write turn of the call only, so a use case never half-runs.
turn_wait: ContextVar[float | None] = ContextVar("charter_turn_wait", default=None)

_POLL_S = 0.0002


class FileTurn:
    """An exclusive lock on a file next to the SQLite database, held for a write.

    Writers in other processes (server workers, CLI runs) then queue in the kernel
    instead of polling SQLite's busy handler, whose growing sleeps starve some of them.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def _descriptor(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def __enter__(self) -> None:
        fcntl.flock(self._descriptor(), fcntl.LOCK_EX)

    def acquire_until(self, deadline: float) -> bool:
        while True:
            try:
                fcntl.flock(self._descriptor(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(_POLL_S)

    def __exit__(self, *_exc: object) -> None:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)


def _file_turn_for(url: str) -> AbstractContextManager[object]:
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix or ":memory:" in url:
        return nullcontext()
    return FileTurn(Path(url[len(prefix):] + "-writelock"))


class Database:
    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)
        self.dialect = self.engine.dialect.name
        # A read spanning several statements must see one snapshot (SQLite's read
        # transaction already does; PostgreSQL's READ COMMITTED would not).
        reads = (self.engine.execution_options(isolation_level="REPEATABLE READ")
                 if self.dialect == "postgresql" else self.engine)
        self._reader = sessionmaker(reads, expire_on_commit=False)
        self._writer = sessionmaker(
            self.engine.execution_options(charter_write=True), expire_on_commit=False)
        self._local_turn: AbstractContextManager[object] = (
            threading.Lock() if self.dialect == "sqlite" else nullcontext())
        self._file_turn = _file_turn_for(self.url)
        self._snapshots = Snapshots(self.engine, SQLITE_BUSY_TIMEOUT_S)
        # Called at the end of every write that recorded events, with the head as it now
        # is, before the head moves: the service signs checkpoints here (no crypto in store).
        self.seal: Callable[[WriteTx, ChainPosition], object] | None = None
        if migrate and current_revision(self.engine) != SCHEMA_REVISION:
            upgrade(self.engine)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader.begin() as session:
            yield session

    def snapshot(self) -> AbstractContextManager[Reader]:
        """A read transaction on a driver connection, for the hot reads (store/driver.py)."""
        return self._snapshots.read()

    def generation(self) -> int:
        """The chain head's seq: it moves with every change to the registry, in any process."""
        with self._snapshots.read() as reader:
            return events.head_seq(reader)

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
        # SQLite's busy handler sleeps and retries; threads of one process queue on a
        # lock instead (other processes still meet the busy timeout).
        with self._turn(), self._writer.begin() as session:
            reader = session_reader(session)
            head = events.chain_head(reader, lock=True)
            # The clock is read only once the turn is ours, and never behind the last
            # event: times along the chain do not go backwards, even across replicas.
            now = clock()
            if head.time and format_time(now) < head.time:
                now = parse_time(head.time)
            tx = WriteTx(session=session, actor=actor, now=now, _head=head, _reader=reader)
            yield tx
            if tx.events and self.seal is not None:
                self.seal(tx, head)
            if tx.events:  # webhook deliveries commit with their events, or not at all
                webhooks.enqueue(session, tx.events, now)
                events.move_head(tx, head)
            session.flush()

    @contextmanager
    def housekeeping(self) -> Iterator[Session]:
        """A write transaction outside the audit chain, for bookkeeping rows such as the
        webhook outbox: SQLite's write turn, but not the chain head's lock (PostgreSQL
        callers lock the rows they touch, e.g. ``FOR UPDATE SKIP LOCKED``)."""
        with self._local_turn, self._file_turn, self._writer.begin() as session:
            yield session

    def dispose(self) -> None:
        self._snapshots.close()
        self.engine.dispose()
