"""The group commit (store/group_commit.py ``GroupCommit``), on SQLite and PostgreSQL, and
PostgreSQL's lost connections.

Writes queued together share one transaction and one COMMIT; each runs in a savepoint of
its own, so one that fails is rolled back alone; a call reads what its batch wrote; the
chain stays whole. A connection lost mid-read answers ``database.unavailable`` and the
next read works on a fresh connection.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from charter.domain import error_codes as codes
from charter.domain.errors import NotFound, Unavailable
from charter.service import RegistryService
from charter.store import models, versions
from charter.store.driver import reader_for

SOURCE = "s3://models-bucket/fraud/model.pkl"


def queued_together(registry: RegistryService, calls: list[Callable[[], object]]
                    ) -> list[Future[object]]:
    """Submit ``calls`` while the batch thread is held, so they run as one batch."""
    assert registry.db.group_commit is not None
    gate = threading.Event()
    first = registry.db.batched(gate.wait, 10)
    futures = [registry.db.batched(call) for call in calls]
    gate.set()
    first.result(timeout=30)
    return futures


def test_a_batch_commits_its_writes_together_and_a_failing_call_alone_rolls_back(
        registry: RegistryService) -> None:
    registry.create_model("fraud_detector")
    hook = registry.add_webhook("https://hooks.example.com/charter",
                                events_filter="version_registered")

    def register() -> object:
        return registry.register("fraud_detector", SOURCE, create_model=False).version

    def rename_and_read() -> object:  # a read in the batch sees the batch's own write
        registry.create_model("churn_scorer")
        registry.rename_model("churn_scorer", "churn_ranker")
        return registry.model_summary("churn_ranker").model.name

    def missing() -> object:
        return registry.register("no_such_model", SOURCE, create_model=False)

    futures = queued_together(registry, [register, missing, register, rename_and_read,
                                         register])
    assert [f.result(timeout=30) for f in futures if f is not futures[1]] == [
        1, 2, "churn_ranker", 3]
    with pytest.raises(NotFound):
        futures[1].result(timeout=30)
    assert sorted(v.version for v in registry.search_versions("name='fraud_detector'").items
                  ) == [1, 2, 3]
    assert registry.verify_audit().ok
    # The batch's events queued their webhook deliveries (the refused call's did not).
    assert len(registry.webhook_deliveries(hook.id)) == 3
    assert registry.db.generation() == len(registry.events(limit=100))


def test_calls_in_a_batch_read_the_events_recorded_before_them_in_it(
        registry: RegistryService) -> None:
    """A batch's events are inserted together at its end; a call that reads the events
    (a rollback reads which versions entered Production, history reads the log) sees
    those its batch-mates and itself recorded before."""
    registry.create_model("fraud_detector")
    for version in (1, 2):
        registry.register("fraud_detector", SOURCE, create_model=False)
        registry.transition("fraud_detector", version, "Staging")

    def move(version: int) -> Callable[[], object]:
        return lambda: registry.transition("fraud_detector", version, "Production",
                                           archive_existing=True).version

    def rollback() -> object:
        return registry.rollback("fraud_detector", reason="v2 misbehaves").version

    def newest() -> object:
        return [(e.action, e.version) for e in registry.history("fraud_detector")][-2:]

    # (no call fails here: a failure would run the batch again, each call alone)
    futures = queued_together(registry, [move(1), move(2), newest])
    assert [f.result(timeout=30) for f in futures] == [
        1, 2, [("stage_changed", 1), ("stage_changed", 2)]]
    futures = queued_together(registry, [rollback, newest])
    assert [f.result(timeout=30) for f in futures] == [
        1, [("rolled_back", 2), ("rolled_back", 1)]]
    assert registry.verify_audit().ok
    assert registry.db.generation() == len(registry.events(limit=100))


def cut(database_url: str) -> None:
    url = make_url(database_url)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = %s AND pid <> pg_backend_pid()", (url.database,))


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])
def test_a_lost_connection_is_database_unavailable_and_the_next_call_reconnects(
        registry: RegistryService, postgres_database_url: str) -> None:
    registry.create_model("fraud_detector")
    asyncio.run(registry.db.loop_generation())
    cut(postgres_database_url)
    # The pooled connections and the kept head reader were cut: each is checked before
    # use and replaced, so the calls after the cut succeed.
    assert registry.model_summary("fraud_detector").model.name == "fraud_detector"
    assert asyncio.run(registry.db.loop_generation()) == registry.db.generation()
    assert registry.register("fraud_detector", SOURCE, create_model=False).version == 1

    def cut_mid_read() -> None:
        with registry.db.snapshot() as reader:
            reader.value("SELECT 1")
            cut(postgres_database_url)
            reader.value("SELECT 1")

    with pytest.raises(Unavailable) as raised:
        cut_mid_read()
    assert raised.value.code == codes.DATABASE_UNAVAILABLE
    assert registry.model_summary("fraud_detector").latest


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])
def test_head_checks_asked_together_share_a_read_and_none_misses_an_earlier_change(
        registry: RegistryService) -> None:
    """The answer cache's check on the event loop (HeadReader.seq_async): concurrent checks
    all see the head as it is; a check asked after a change committed sees the change, even
    while an earlier check, sent before the change, is still on its way."""
    registry.create_model("fraud_detector")

    async def scenario() -> tuple[list[int], int, int, int]:
        now = registry.db.generation()
        together = await asyncio.gather(*[registry.db.loop_generation() for _ in range(40)])
        assert together == [now] * 40
        earlier = asyncio.ensure_future(registry.db.loop_generation())
        for _ in range(10):  # its statement is sent (and perhaps answered already)
            await asyncio.sleep(0)
        registry.create_model("churn_ranker")  # committed, on the loop: nothing else runs
        after = registry.db.generation()
        later = await registry.db.loop_generation()
        return together, now, await earlier, later if later == after else -later

    together, before, earlier, later = asyncio.run(scenario())
    assert earlier in (before, registry.db.generation())
    assert later == registry.db.generation() > before


def test_a_held_write_that_fails_is_the_failing_calls_error_and_the_rest_commit(
        registry: RegistryService) -> None:
    """On PostgreSQL a batch's writes whose answers nobody reads are held and sent with the
    next statement (store/held_writes.py): a version's INSERT goes with the next
    call's first read. One that fails must fail its own call, not the next one, and leave
    the others committed."""
    registry.create_model("fraud_detector")
    registry.register("fraud_detector", SOURCE, create_model=False)

    def register() -> object:
        return registry.register("fraud_detector", SOURCE, create_model=False).version

    def taken_number() -> object:  # a version row whose number exists already
        with registry._write() as tx:
            model, _ = models.get(tx, "fraud_detector")
            versions.insert(tx, model.id, 1, model_name=model.name, stage="None",
                            source=SOURCE, run_id="", description="", digest="", now=tx.now)
        return "written?"

    futures = queued_together(registry, [register, taken_number, register])
    assert futures[0].result(timeout=30) == 2
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        futures[1].result(timeout=30)
    assert futures[2].result(timeout=30) == 3
    assert [v.version for v in registry.list_versions("fraud_detector")] == [3, 2, 1]
    assert registry.verify_audit().ok


def test_a_held_write_is_seen_by_the_orms_next_statement_in_the_call(
        registry: RegistryService) -> None:
    """SQLAlchemy's statements on a batch's connection send the held writes first."""
    registry.create_model("fraud_detector")

    def write_then_count() -> object:
        with registry._write() as tx:
            model, _ = models.get(tx, "fraud_detector")
            reader_for(tx).later("INSERT INTO model_tags (model_id, key, value) "
                                 "VALUES (?, ?, ?)", (model.id, "team", "risk"))
            return tx.session.execute(text(
                "SELECT count(*) FROM model_tags WHERE model_id = :id"), {"id": model.id}
            ).scalar()

    futures = queued_together(registry, [write_then_count])
    assert futures[0].result(timeout=30) == 1
    assert registry.model_summary("fraud_detector").model.tags == {"team": "risk"}


def test_a_call_that_fails_before_any_statement_rolls_back_a_savepoint_never_sent(
        registry: RegistryService) -> None:
    """On PostgreSQL a batch's SAVEPOINT is held and sent with its first statement; a call
    that fails inside its write before sending any has nothing to roll back, and the
    batch goes on."""
    registry.create_model("fraud_detector")

    def register() -> object:
        return registry.register("fraud_detector", SOURCE, create_model=False).version

    def refused() -> object:  # inside the write transaction, before any statement
        with registry._write():
            raise NotFound("test.refused", "refused before any statement", "")

    for calls in ([refused, register], [register, refused, register], [refused]):
        futures = queued_together(registry, calls)
        for call, future in zip(calls, futures, strict=True):
            if call is refused:
                with pytest.raises(NotFound, match="before any statement"):
                    future.result(timeout=30)
            else:
                assert isinstance(future.result(timeout=30), int)
    assert [v.version for v in registry.list_versions("fraud_detector")] == [3, 2, 1]
    assert registry.verify_audit().ok


def test_a_webhook_added_in_a_batch_gets_the_events_its_batch_mates_record_after_it(
        registry: RegistryService) -> None:
    """A group commit reads the active subscriptions with the chain head, before its
    calls; one that adds a subscription makes the batch read them again."""
    registry.create_model("fraud_detector")
    added: list[int] = []

    def subscribe() -> object:
        added.append(registry.add_webhook("https://hooks.example.com/charter",
                                          events_filter="version_registered").id)
        return added[-1]

    def register() -> object:
        return registry.register("fraud_detector", SOURCE, create_model=False).version

    futures = queued_together(registry, [subscribe, register])
    assert [f.result(timeout=30) for f in futures] == [added[0], 1]
    assert len(registry.webhook_deliveries(added[0])) == 1


def test_a_failing_held_write_of_a_batchs_last_call_is_that_calls_error(
        registry: RegistryService) -> None:
    """The last call of a batch run together sends its held writes inside the batch's
    savepoint: if they fail, the batch runs again call by call and only that call fails."""
    registry.create_model("fraud_detector")

    def register() -> object:
        return registry.register("fraud_detector", SOURCE, create_model=False).version

    def bad_held_write() -> object:  # a held write that breaks a NOT NULL constraint
        with registry._write() as tx:
            model, _ = models.get(tx, "fraud_detector")
            reader_for(tx).later("UPDATE models SET name = NULL WHERE id = ?", (model.id,))
        return "held"

    futures = queued_together(registry, [register, bad_held_write])
    assert futures[0].result(timeout=30) == 1
    with pytest.raises(Exception, match="(?i)null"):
        futures[1].result(timeout=30)
    assert registry.get_model("fraud_detector").name == "fraud_detector"
    assert registry.verify_audit().ok
