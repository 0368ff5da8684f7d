"""The one-statement reads of a loop's turn go out in one pipeline (store/pg_batch.py), on a
real PostgreSQL database: they answer what each answers alone, share one round trip, fail
one by one (on the server, in sending, in loading), keep a bounded set of prepared
statements that stays true through failures and cancellations, and a search page holds
back neither the point reads nor another search."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
import pytest

from charter.store import pg_batch
from charter.store.liveness import connection_lost
from charter.store.pg_batch import numbered
from charter.store.pg_loop import LoopReads, run_on_loop

pytestmark = pytest.mark.postgres


def loop_reads(url: str, *, lone_goes_alone: bool = False) -> LoopReads:
    """The loop's reads; here even a statement alone in its turn goes in a pipeline (of
    one), unless ``lone_goes_alone``, as the server has it."""
    reads = LoopReads(url, limit=4, keep_idle=2, timeout_s=5, connect_timeout_s=5)
    reads._batches.lone_goes_alone = lone_goes_alone
    return reads


def one(reads: LoopReads, sql: str, params: Sequence[Any] = (), heavy: bool = False) -> Any:
    """A one-statement read, as the store runs one on the loop (``?`` placeholders)."""
    with reads.read(one_statement=True, heavy=heavy) as reader:
        return reader.all(sql, params)


def in_one_turn(url: str, asked: Sequence[tuple[str, Sequence[Any]]],
                then: Callable[[LoopReads], Any] | None = None) -> tuple[list[Any], LoopReads]:
    """Ask every statement in one turn of a loop; each answer, or the error it raised."""
    reads = loop_reads(url)

    async def main() -> list[Any]:
        answers = await asyncio.gather(
            *(run_on_loop(one, reads, sql, params) for sql, params in asked),
            return_exceptions=True)
        if then is not None:
            await run_on_loop(then, reads)
        reads.close()
        return list(answers)

    return asyncio.run(main()), reads


def test_placeholders_are_numbered() -> None:
    assert numbered("SELECT %s, %s WHERE x LIKE 'a%%'") == "SELECT $1, $2 WHERE x LIKE 'a%'"
    assert numbered("SELECT 1") == "SELECT 1"
    assert numbered("SELECT %(name)s") is None  # run alone, by psycopg
    assert numbered("SELECT %b") is None


def test_reads_asked_in_one_turn_share_one_round_trip(postgres_database_url: str) -> None:
    asked = [("SELECT ?::int + 1, ?::text", (number, f"n{number}")) for number in range(12)]
    answers, reads = in_one_turn(postgres_database_url, asked)
    assert answers == [[(number + 1, f"n{number}")] for number in range(12)]
    assert (reads._batches.batches, reads._batches.statements) == (1, 12)


def test_answers_equal_the_statement_run_alone(postgres_database_url: str) -> None:
    asked = [
        ("SELECT ?::bigint, ?::int, ?::text", (2**40, -7, None)),
        ("SELECT ?::text[], ?::int[]", (["a", "b'c", "é"], [1, 2**31 - 1])),
        ("SELECT json_build_array(?::text, 1, true, null)", ("x",)),
        ("SELECT name_key FROM models WHERE name_key = ?", ("nothing",)),
        ("SELECT 'a' || ? LIKE 'a%%'", ("b",)),  # psycopg's escape, as the store sends it
        ("SELECT now() - now(), 1.5::numeric, 'ok'::bytea", ()),
    ]
    answers, _ = in_one_turn(postgres_database_url, asked)
    alone = []
    with psycopg.connect(postgres_database_url, autocommit=True) as connection:
        import orjson
        from psycopg.types.json import set_json_loads

        set_json_loads(orjson.loads, connection)
        for sql, params in asked:
            alone.append(connection.execute(sql.replace("?", "%s"), params).fetchall())
    assert answers == alone
    assert answers[2] == [(["x", 1, True, None],)]
    assert answers[4] == [(True,)]


def test_a_failing_statement_fails_alone(postgres_database_url: str) -> None:
    asked = [("SELECT ?::int", (1,)), ("SELECT 1 / ?::int", (0,)), ("SELECT ?::int", (3,)),
             ("SELECT ?::text", ("after",))]
    answers, reads = in_one_turn(postgres_database_url, asked)
    assert answers[0] == [(1,)]
    assert isinstance(answers[1], psycopg.errors.DivisionByZero)
    # skipped by the server after the error, then run alone: the same answers
    assert answers[2:] == [[(3,)], [("after",)]]
    assert reads._batches.batches == 1


def test_prepared_statements_are_made_after_the_threshold_and_bounded(
        postgres_database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_batch, "MAX_PREPARED", 3)
    reads = loop_reads(postgres_database_url)
    shapes = [f"SELECT ?::int + {offset}" for offset in range(5)]

    def prepared(reads: LoopReads) -> list[str]:
        rows = one(reads, "SELECT name, statement FROM pg_prepared_statements ORDER BY name")
        return [statement for name, statement in rows if name.startswith("_charter_batch_")]

    async def main() -> list[list[str]]:
        seen = []
        for sql in shapes:  # one statement at a time: each batch on the one connection
            for number in range(3):
                assert await run_on_loop(one, reads, sql, (number,)) == [
                    (number + shapes.index(sql),)]
            seen.append(await run_on_loop(prepared, reads))
        reads.close()
        return seen

    seen = asyncio.run(main())
    assert seen[0] == ["SELECT $1::int + 0"]  # prepared on its second run
    assert all(len(names) <= 3 for names in seen)
    assert "SELECT $1::int + 4" in seen[-1]
    assert "SELECT $1::int + 0" not in seen[-1]  # the least recently used, deallocated


def test_a_cancelled_read_leaves_its_batch_answering(postgres_database_url: str) -> None:
    reads = loop_reads(postgres_database_url)

    async def main() -> list[Any]:
        slow = asyncio.ensure_future(run_on_loop(one, reads, "SELECT pg_sleep(0.3), 1", ()))
        quick = asyncio.ensure_future(run_on_loop(one, reads, "SELECT ?::int", (2,)))
        await asyncio.sleep(0.05)
        slow.cancel()
        answer = await quick
        after = await run_on_loop(one, reads, "SELECT ?::int", (3,))
        reads.close()
        return [answer, after, slow.cancelled()]

    assert asyncio.run(main()) == [[(2,)], [(3,)], True]


def test_a_batch_connection_that_died_idle_is_replaced(postgres_database_url: str) -> None:
    reads = loop_reads(postgres_database_url)

    def backend(reads: LoopReads) -> int:
        return int(one(reads, "SELECT pg_backend_pid()")[0][0])

    async def main() -> tuple[int, int, Any]:
        first = await run_on_loop(backend, reads)
        with psycopg.connect(postgres_database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        await asyncio.sleep(0.2)
        second = await run_on_loop(backend, reads)
        answer = await run_on_loop(one, reads, "SELECT ?::int", (5,))
        reads.close()
        return first, second, answer

    first, second, answer = asyncio.run(main())
    assert first != second and answer == [(5,)]


def test_a_value_that_cannot_be_sent_fails_only_its_caller(postgres_database_url: str) -> None:
    asked = [("SELECT ?::int", (1,)), ("SELECT ?::text", ("a\x00b",)), ("SELECT ?::int", (3,))]
    answers, _ = in_one_turn(postgres_database_url, asked)
    assert isinstance(answers[1], psycopg.DataError)
    assert (answers[0], answers[2]) == ([(1,)], [(3,)])


def test_a_row_that_cannot_be_loaded_fails_only_its_caller(postgres_database_url: str) -> None:
    shape = "SELECT ?::int + 200"

    def prepare_then(reads: LoopReads) -> Any:
        return one(reads, shape, (3,))

    reads = loop_reads(postgres_database_url)

    async def main() -> tuple[list[Any], Any]:
        await run_on_loop(one, reads, shape, (1,))  # counted once: its next use prepares it
        answers = await asyncio.gather(
            run_on_loop(one, reads, "SELECT 'infinity'::timestamp", ()),  # Python has none
            run_on_loop(one, reads, "SELECT ?::int", (2,)),
            run_on_loop(one, reads, "SELECT 1 / ?::int", (0,)),  # aborts the PREPARE after it
            run_on_loop(one, reads, shape, (1,)), return_exceptions=True)
        after = await run_on_loop(prepare_then, reads)
        reads.close()
        return list(answers), after

    answers, after = asyncio.run(main())
    assert isinstance(answers[0], psycopg.DataError)
    assert answers[1] == [(2,)] and isinstance(answers[2], psycopg.errors.DivisionByZero)
    assert answers[3] == [(201,)]  # skipped by the server, then run alone
    assert after == [(203,)]  # no name recorded that the server does not have


def test_a_backend_lost_mid_batch_fails_its_callers_as_a_lost_connection(
        postgres_database_url: str) -> None:
    reads = loop_reads(postgres_database_url)

    async def main() -> tuple[list[Any], Any]:
        (pid,), = await run_on_loop(one, reads, "SELECT pg_backend_pid()")
        calls = [asyncio.ensure_future(run_on_loop(one, reads, sql, params)) for sql, params in
                 [("SELECT ?::int", (2,)), ("SELECT pg_sleep(0.5), 1", ())]]
        await asyncio.sleep(0.15)
        with psycopg.connect(postgres_database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        answers = await asyncio.gather(*calls, return_exceptions=True)
        after = await run_on_loop(one, reads, "SELECT ?::int", (3,))
        reads.close()
        return list(answers), after

    answers, after = asyncio.run(main())
    assert answers[0] == [(2,)]  # delivered as soon as it was read, before the cut
    assert isinstance(answers[1], Exception) and connection_lost(answers[1])
    assert after == [(3,)]  # on a new connection: the cut one was not kept


def test_a_deallocate_an_error_skipped_is_sent_again(
        postgres_database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_batch, "MAX_PREPARED", 2)
    reads = loop_reads(postgres_database_url)

    def prepared(reads: LoopReads) -> list[str]:
        rows = one(reads, "SELECT name FROM pg_prepared_statements")
        return [name for (name,) in rows if name.startswith("_charter_batch_")]

    async def main() -> list[str]:
        for offset in range(6):
            sql = f"SELECT ?::int + {offset}"
            await run_on_loop(one, reads, sql, (1,))
            # its second use prepares it after a failing statement: the eviction's
            # DEALLOCATE is skipped by the server
            await asyncio.gather(run_on_loop(one, reads, "SELECT 1 / ?::int", (0,)),
                                 run_on_loop(one, reads, sql, (1,)), return_exceptions=True)
            await run_on_loop(one, reads, sql, (1,))
            await run_on_loop(one, reads, sql, (1,))
        names = await run_on_loop(prepared, reads)
        reads.close()
        return names

    assert len(asyncio.run(main())) <= 2


def test_a_cancelled_batch_leaves_no_stale_prepared_name(postgres_database_url: str) -> None:
    reads = loop_reads(postgres_database_url)
    shape = "SELECT ?::int + 100"

    async def main() -> Any:
        await run_on_loop(one, reads, shape, (1,))  # counted once on the batch connection
        slow = asyncio.ensure_future(run_on_loop(one, reads, "SELECT pg_sleep(1)", ()))
        second = asyncio.ensure_future(run_on_loop(one, reads, shape, (1,)))  # prepares it
        await asyncio.sleep(0.1)
        for task in list(reads._batches._sending):
            task.cancel()  # as the loop's end would
        settled = await asyncio.gather(slow, second, return_exceptions=True)
        assert all(isinstance(answer, BaseException) for answer in settled)
        try:
            return await run_on_loop(one, reads, shape, (2,))
        finally:
            reads.close()

    assert asyncio.run(main()) == [(102,)]


def test_a_search_holds_back_neither_a_point_read_nor_another_search(
        postgres_database_url: str) -> None:
    reads = loop_reads(postgres_database_url)

    async def main() -> tuple[float, float]:
        started = time.perf_counter()
        searches = [asyncio.ensure_future(run_on_loop(one, reads, "SELECT pg_sleep(0.5)", (),
                                                      True)) for _ in range(2)]
        await run_on_loop(one, reads, "SELECT ?::int", (1,))
        point = time.perf_counter() - started
        await asyncio.gather(*searches)
        both = time.perf_counter() - started
        reads.close()
        return point, both

    point, both = asyncio.run(main())
    assert point < 0.25  # the point read went first in its pipeline
    assert both < 0.9  # the two searches ran at once, in two pipelines


def test_each_caller_gets_its_own_error(postgres_database_url: str) -> None:
    reads = LoopReads(postgres_database_url, limit=1, keep_idle=2, timeout_s=0.2,
                      connect_timeout_s=5)
    reads._batches.lone_goes_alone = False

    def hold(reads: LoopReads) -> None:
        with reads.read() as reader:  # a read transaction holds the one slot
            reader.all("SELECT pg_sleep(0.5)")

    async def main() -> list[Any]:
        holder = asyncio.ensure_future(run_on_loop(hold, reads))
        await asyncio.sleep(0.05)
        answers = await asyncio.gather(run_on_loop(one, reads, "SELECT 1"),
                                       run_on_loop(one, reads, "SELECT 2"),
                                       return_exceptions=True)
        await holder
        reads.close()
        return list(answers)

    first, second = asyncio.run(main())
    assert type(first) is type(second) and connection_lost(first)  # a pool timeout: 503
    assert first is not second and first.__cause__ is second.__cause__


def test_the_services_point_reads_share_a_pipeline_and_its_searches_do_not(
        postgres_database_url: str, make_settings: Callable[..., Any]) -> None:
    """Through the service: the MLflow point reads of one turn go out in one pipeline; each
    search page is heavy (one per pipeline, after the point reads)."""
    from charter.bootstrap import build_service

    service = build_service(make_settings(postgres_database_url), actor="tester",
                            migrate=False)
    try:
        for name in ("fraud_detector", "churn"):
            service.create_model(name)
            service.register(name, "runs:/0123456789abcdef0123456789abcdef/model")
        service.set_alias("fraud_detector", "champion", 1)
        points = [(service.model_brief, ("fraud_detector",)),
                  (service.latest_versions, ("churn", ["None"])),
                  (service.get_version_by_alias, ("fraud_detector", "champion")),
                  (service.version_location, ("churn", 1)),
                  (service.get_version, ("fraud_detector", 1))]
        searches = [(service.model_briefs, ("name LIKE 'f%'",)),
                    (service.model_briefs, ("name LIKE 'c%'",))]

        async def main() -> tuple[list[Any], Any]:
            answers = await asyncio.gather(*(service.db.read_on_loop(call, *args)
                                             for call, args in points + searches))
            loop_reads = service.db._snapshots._on_this_loop()  # type: ignore[union-attr]
            counted = (loop_reads._batches.batches, loop_reads._batches.statements)
            service.db.close_loop_reads()
            return list(answers), counted

        answers, (batches, statements) = asyncio.run(main())
    finally:
        service.db.dispose()
    assert answers[0].name == "fraud_detector" and answers[2].version == 1
    assert [brief.name for brief in answers[5].items] == ["fraud_detector"]
    assert [brief.name for brief in answers[6].items] == ["churn"]
    # the five point reads and a search in one pipeline; the other search alone in its own
    # batch goes alone, as without batches (not counted)
    assert (batches, statements) == (1, 6)


def test_a_deallocate_of_a_name_the_server_never_prepared_does_not_poison_the_connection(
        postgres_database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """(review) A batch that prepares a statement and evicts it again, after a failing
    statement: the PREPARE and the DEALLOCATE are both skipped, the DEALLOCATE is kept as
    stale, and every later batch on the connection starts with a DEALLOCATE of a name the
    server does not have: it fails, and the whole batch is skipped and run alone."""
    monkeypatch.setattr(pg_batch, "MAX_PREPARED", 4)
    reads = loop_reads(postgres_database_url)
    alone: list[str] = []
    rows_alone = reads.rows_alone

    def counted(sql: str, params: Sequence[Any]) -> list[Any]:
        alone.append(sql)
        return rows_alone(sql, params)

    monkeypatch.setattr(reads, "rows_alone", counted)
    x, k, m = "SELECT ?::int + 1", "SELECT ?::int + 2", "SELECT ?::int + 3"

    async def main() -> list[Any]:
        for sql in (x, k, m):  # counted once each, in this order, on the batch connection
            await run_on_loop(one, reads, sql, (1,))
        # F fails; K is prepared (X evicted, K's count entry updated where it stood: first);
        # N is counted; M is prepared, evicting K: PREPARE K ... DEALLOCATE K, all skipped
        await asyncio.gather(run_on_loop(one, reads, "SELECT 1 / ?::int", (0,)),
                             run_on_loop(one, reads, k, (1,)),
                             run_on_loop(one, reads, "SELECT ?::int + 9", (1,)),
                             run_on_loop(one, reads, m, (1,)), return_exceptions=True)
        alone.clear()
        answers = [await run_on_loop(one, reads, "SELECT ?::int", (n,)) for n in range(3)]
        reads.close()
        return answers

    assert asyncio.run(main()) == [[(0,)], [(1,)], [(2,)]]
    assert alone == []  # each went out in its batch, none skipped and run alone


def test_spare_read_connections_are_closed_while_only_batches_run(
        postgres_database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """(review) docs/configuration.md: beyond ``pool_size`` kept idle, a connection unused
    for 30 s is closed. The spares of a burst of read transactions sit in ``_idle``, which
    only a read transaction's give-back trims; the MLflow reads now all go back to
    ``_batch_idle``, so those spares stay open for good."""
    monkeypatch.setattr(LoopReads, "SPARE_IDLE_S", 0.05)
    reads = LoopReads(postgres_database_url, limit=4, keep_idle=1, timeout_s=5,
                      connect_timeout_s=5)

    def transaction(reads: LoopReads) -> None:
        with reads.read() as reader:
            reader.all("SELECT pg_sleep(0.05)")

    async def main() -> int:
        await asyncio.gather(*(run_on_loop(transaction, reads) for _ in range(4)))
        await asyncio.sleep(0.2)
        for number in range(5):  # then only one-statement reads, well after 30 s (here 0.05)
            await run_on_loop(one, reads, "SELECT ?::int", (number,))
            await asyncio.sleep(0.1)
        open_connections = len(reads._idle) + len(reads._batch_idle)
        reads.close()
        return open_connections

    assert asyncio.run(main()) <= 2  # keep_idle of each kind at most


def test_a_callers_next_statement_finds_the_batch_connection_idle(
        postgres_database_url: str) -> None:
    """Answers are handed over once the connection is back among the idle ones: a
    caller's next statement reuses it (and what is prepared on it) instead of opening
    another, whatever else its batch held. (The CI run that found it: under load the end
    of a pipeline came in a later read than its answers, which were handed over first.)"""
    reads = loop_reads(postgres_database_url)

    async def main() -> tuple[int, int]:
        (before,), = await run_on_loop(one, reads, "SELECT pg_backend_pid()")
        large = asyncio.ensure_future(
            run_on_loop(one, reads, "SELECT repeat('x', ?::int)", (300_000,)))
        slow = asyncio.ensure_future(run_on_loop(one, reads, "SELECT pg_sleep(0.3), 1", ()))
        (text,), = await large
        assert len(text) == 300_000
        (after,), = await run_on_loop(one, reads, "SELECT pg_backend_pid()")
        await slow
        reads.close()
        return before, after

    before, after = asyncio.run(main())
    assert before == after


def test_a_statement_alone_in_its_turn_is_sent_by_its_caller(postgres_database_url: str) -> None:
    """As the server has it: a statement no other joined in its turn goes out through
    psycopg's own path on a connection of the reads' (no pipeline of one)."""
    reads = loop_reads(postgres_database_url, lone_goes_alone=True)

    async def main() -> tuple[list[Any], int, int]:
        answers = [await run_on_loop(one, reads, "SELECT ?::int", (n,)) for n in range(3)]
        counted = reads._batches.batches
        together = await asyncio.gather(*(run_on_loop(one, reads, "SELECT ?::int", (n,))
                                          for n in range(3)))
        reads.close()
        return answers + list(together), counted, reads._batches.batches

    answers, before, after = asyncio.run(main())
    assert answers == [[(0,)], [(1,)], [(2,)]] * 2
    assert (before, after) == (0, 1)


def test_a_cancelled_lone_caller_leaves_the_rest_of_its_turn_answered(
        postgres_database_url: str) -> None:
    """(review) Two searches in one turn, each alone in its pipeline: the first's request is
    cancelled before the turn's statements are sent; the second is still answered."""
    reads = loop_reads(postgres_database_url, lone_goes_alone=True)

    async def main() -> Any:
        first = asyncio.ensure_future(run_on_loop(one, reads, "SELECT ?::int", (1,), True))
        second = asyncio.ensure_future(run_on_loop(one, reads, "SELECT ?::int", (2,), True))
        await asyncio.sleep(0)  # both have asked; the turn's statements are not sent yet
        first.cancel()
        try:
            return await asyncio.wait_for(second, 5)
        finally:
            reads.close()

    assert asyncio.run(main()) == [(2,)]
