"""The one-statement reads of a loop's turn go out in one pipeline (store/pg_batch.py), on a
real PostgreSQL database: they answer what each answers alone, share one round trip, fail
one by one, and keep a bounded set of prepared statements."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
import pytest

from charter.store import pg_batch
from charter.store.pg_batch import numbered
from charter.store.pg_loop import LoopReads, run_on_loop

pytestmark = pytest.mark.postgres


def loop_reads(url: str) -> LoopReads:
    return LoopReads(url, limit=4, keep_idle=2, timeout_s=5, connect_timeout_s=5)


def one(reads: LoopReads, sql: str, params: Sequence[Any] = ()) -> Any:
    """A one-statement read, as the store runs one on the loop (``?`` placeholders)."""
    with reads.read(one_statement=True) as reader:
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
