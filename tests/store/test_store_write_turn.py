"""``turn_wait``: a write that may wait only so long for SQLite's write turn."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from charter.artifacts.local import LocalBlobStore
from charter.service import RegistryService
from charter.store.database import Database, TurnBusy, turn_wait


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def database(sqlite_database_url):  # type: ignore[no-untyped-def]
    db = Database(sqlite_database_url, migrate=False)
    yield db
    db.dispose()


def hold(database: Database, seconds: float) -> tuple[threading.Thread, threading.Event]:
    held = threading.Event()

    def run() -> None:
        with database.write("holder", now):
            held.set()
            time.sleep(seconds)

    thread = threading.Thread(target=run)
    thread.start()
    assert held.wait(5)
    return thread, held


def test_a_busy_turn_raises_within_the_wait_and_changes_nothing(database) -> None:  # type: ignore[no-untyped-def]
    before = database.generation()
    thread, _ = hold(database, 0.5)
    token = turn_wait.set(0.02)
    try:
        started = time.monotonic()
        with pytest.raises(TurnBusy), database.write("hurried", now):
            raise AssertionError("the turn was not free")
        assert time.monotonic() - started < 0.3
    finally:
        turn_wait.reset(token)
        thread.join()
    assert database.generation() == before


def test_another_process_holding_the_turn_counts_too(database, sqlite_database_url) -> None:  # type: ignore[no-untyped-def]
    other = Database(sqlite_database_url, migrate=False)  # its own locks, like another process
    try:
        thread, _ = hold(other, 0.5)
        token = turn_wait.set(0.02)
        try:
            with pytest.raises(TurnBusy), database.write("hurried", now):
                pass
        finally:
            turn_wait.reset(token)
            thread.join()
    finally:
        other.dispose()


def test_a_free_turn_is_taken_and_later_writes_of_the_call_wait_as_usual(database) -> None:  # type: ignore[no-untyped-def]
    token = turn_wait.set(0.02)
    try:
        with database.write("first", now):
            pass
        assert turn_wait.get() is None  # the deadline was for the call's first write only
        thread, _ = hold(database, 0.2)
        with database.write("second", now):  # waits for the holder instead of raising
            pass
        thread.join()
    finally:
        turn_wait.reset(token)


@pytest.mark.postgres
def test_a_read_snapshot_on_postgresql_leaves_its_pooled_connection_read_write(
        postgres_database_url):  # type: ignore[no-untyped-def]
    """A snapshot opens REPEATABLE READ, READ ONLY through the connection's own settings;
    the write that takes the same pooled connection next must not inherit them."""
    db = Database(postgres_database_url, migrate=False)
    try:
        for _ in range(3):  # the pool hands the connection back and forth
            with db.snapshot() as reader:
                assert reader.one("SHOW transaction_isolation") == ("repeatable read",)
                assert reader.one("SHOW transaction_read_only") == ("on",)
            with db.write("writer", now) as tx:
                assert tx.sql().one("SHOW transaction_read_only") == ("off",)
                assert tx.sql().one("SHOW transaction_isolation") == ("read committed",)
                tx.sql().run("UPDATE chain_head SET time = time WHERE id = 1")
    finally:
        db.dispose()


def test_commits_leave_the_wal_unchecked_until_it_holds_many_pages(sqlite_database_url,
                                                                   make_settings) -> None:  # type: ignore[no-untyped-def]
    """A checkpoint runs on the commit that passes the WAL's bound, holding the write turn
    while it copies and syncs: at SQLite's 1,000 pages that was every ~25 registrations.
    Past 1,000 pages the WAL keeps growing instead (store/driver.py WAL_CHECKPOINT_PAGES)."""
    from pathlib import Path

    from charter.bootstrap import build_service
    from charter.store.driver import WAL_CHECKPOINT_PAGES

    service = build_service(make_settings(sqlite_database_url, naming_mode="off"),
                            actor="meera")
    wal = Path(sqlite_database_url.removeprefix("sqlite:///") + "-wal")
    with service.db.read() as session:
        page = session.connection().exec_driver_sql("PRAGMA page_size").scalar_one()
    frames = lambda: wal.stat().st_size // (page + 24) if wal.exists() else 0  # noqa: E731
    service.create_model("fraud_detector")
    for number in range(1, 400):
        service.register("fraud_detector", f"runs:/{number:032x}/model",
                         tags={"commit": f"c{number}"}, create_model=False)
        if frames() > 1_500:
            break
    assert 1_500 < frames() < WAL_CHECKPOINT_PAGES
    service.db.dispose()


def test_a_tokens_last_use_note_is_skipped_not_waited_for_while_the_turn_is_busy(
        database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The server authenticates on its event loop with turn_wait 0 (server/access.py): the
    # note is a hint, so a busy turn must neither stall the loop nor refuse the request.
    service = RegistryService(database, LocalBlobStore(tmp_path / "blobs"), actor="admin")
    service.create_user("alice")
    secret = service.create_token("alice").secret
    thread, _ = hold(database, 0.5)
    token = turn_wait.set(0.0)
    try:
        started = time.monotonic()
        assert service.authenticate(secret).name == "alice"
        assert time.monotonic() - started < 0.3
    finally:
        turn_wait.reset(token)
        thread.join()
    assert service.list_tokens("alice")[0].last_used_at is None  # skipped, not half-written
    service.authenticate(secret)  # the turn is free: noted now
    assert service.list_tokens("alice")[0].last_used_at is not None
