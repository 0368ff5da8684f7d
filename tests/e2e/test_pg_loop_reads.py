"""The MLflow reads on PostgreSQL run on the event loop, awaiting the database
(store/pg_loop.py), against a real server on loopback over a real PostgreSQL database.

* Every read — the one-statement paths and the fallbacks that read in a transaction (a
  former name, a missing model or alias) — answers while every thread of the server's
  pool is taken, and answers what the synchronous path answers.
* The loop's connections: backends terminated under load answer 503 with Retry-After and
  recover; a pool with no free connection answers 503; a statement cancelled inside a
  read transaction answers 503; none of it leaves a connection in a transaction.

The server runs in this process (uvicorn on its own thread and uvloop loop, as a worker
of ``charter serve`` does) so that a test can take the pool's threads on that loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import psycopg
import pytest
import uvicorn
import uvloop
from starlette.datastructures import QueryParams

from charter.api.mlflow import routes
from charter.api.mlflow.params import Params
from charter.artifacts.local import LocalBlobStore
from charter.config import Settings
from charter.server.app import create_app
from charter.server.run import free_port
from charter.service import RegistryService
from charter.store.database import Database
from tests.e2e.test_database_faults import libpq, terminate_backends

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

API = "/api/2.0/mlflow"
SOURCE = "runs:/0123456789abcdef0123456789abcdef/model"


def populate(service: RegistryService) -> None:
    """fraud_detector v1-v3 (v1 in Production, alias champion on v2, a tag on v3), and
    churn, whose former name churn_model still resolves."""
    service.create_model("fraud_detector", tags={"team": "fraud"})
    for _ in range(3):
        service.register("fraud_detector", SOURCE)
    service.transition("fraud_detector", 1, "Staging", reason="offline checks passed")
    service.transition("fraud_detector", 1, "Production", reason="beat the baseline")
    service.set_alias("fraud_detector", "champion", 2)
    service.set_version_tag("fraud_detector", 3, "dataset", "march")
    service.create_model("churn_model")
    service.register("churn_model", SOURCE)
    service.rename_model("churn_model", "churn", reason="the product's name")


# (endpoint, query, expected status): each MLflow read, its one-statement path and the
# fallbacks that read in a transaction.
READS: list[tuple[str, dict[str, str], int]] = [
    ("/registered-models/get", {"name": "fraud_detector"}, 200),
    ("/registered-models/get", {"name": "churn_model"}, 200),         # a former name
    ("/registered-models/get", {"name": "no_such_model"}, 404),
    ("/registered-models/search", {"filter": "name LIKE 'fraud%'"}, 200),
    ("/registered-models/search", {"filter": "tags.team = 'fraud'"}, 200),
    ("/registered-models/get-latest-versions", {"name": "fraud_detector"}, 200),
    ("/registered-models/get-latest-versions", {"name": "churn_model"}, 200),
    ("/registered-models/alias", {"name": "fraud_detector", "alias": "champion"}, 200),
    ("/registered-models/alias", {"name": "churn_model", "alias": "champion"}, 404),
    ("/registered-models/alias", {"name": "fraud_detector", "alias": "nobody"}, 404),
    ("/model-versions/get", {"name": "fraud_detector", "version": "2"}, 200),
    ("/model-versions/get", {"name": "churn_model", "version": "1"}, 200),
    ("/model-versions/get", {"name": "fraud_detector", "version": "99"}, 404),
    ("/model-versions/search", {"filter": "name = 'fraud_detector'"}, 200),
    ("/model-versions/search", {"filter": "tags.dataset = 'march'"}, 200),
    ("/model-versions/search", {"filter": f"run_id = '{SOURCE[7:39]}'"}, 200),
    ("/model-versions/get-download-uri", {"name": "fraud_detector", "version": "1"}, 200),
    ("/model-versions/get-download-uri", {"name": "churn_model", "version": "1"}, 200),
]


def service_on(database_url: str, home: Path, **pool: Any) -> RegistryService:
    return RegistryService(Database(database_url, **pool), LocalBlobStore(home / "blobs"),
                           actor="test")


@contextmanager
def serving(service: RegistryService, home: Path, **given: Any
            ) -> Iterator[tuple[str, asyncio.AbstractEventLoop]]:
    """The app over ``service`` on a loopback port, without the answer cache (every read
    is computed), with the ``given`` settings; its URL and its event loop."""
    settings = Settings.load({"home": home, "database_url": service.db.url,
                              "answer_cache_mb": 0, **given}, env={})
    app = create_app(service, settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    loop = uvloop.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),),
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", loop
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        loop.close()


@contextmanager
def thread_pool_taken(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Every token of the loop's thread limiter (what Starlette's ``run_in_threadpool``
    waits for) held: nothing the server sends to its thread pool runs meanwhile."""
    release: asyncio.Event | None = None
    held = threading.Event()

    async def hold() -> None:
        nonlocal release
        release = asyncio.Event()
        limiter = anyio.to_thread.current_default_thread_limiter()
        borrowers = [object() for _ in range(int(limiter.total_tokens))]
        for borrower in borrowers:
            await limiter.acquire_on_behalf_of(borrower)
        held.set()
        try:
            await release.wait()
        finally:
            for borrower in borrowers:
                limiter.release_on_behalf_of(borrower)

    holding = asyncio.run_coroutine_threadsafe(hold(), loop)
    assert held.wait(10), "the thread limiter was not taken"
    try:
        yield
    finally:
        assert release is not None
        loop.call_soon_threadsafe(release.set)
        holding.result(timeout=10)


def in_transaction(database_url: str) -> list[tuple[Any, ...]]:
    """The database's connections left inside a transaction (other than this one's)."""
    with psycopg.connect(libpq(database_url), autocommit=True) as connection:
        return connection.execute(
            "SELECT pid, state, query FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'").fetchall()


def synchronous_answer(service: RegistryService, endpoint: str, query: dict[str, str]
                       ) -> Any:
    """What the handler answers when called in this thread: the thread-side path."""
    handler = routes.ENDPOINTS[endpoint]["GET"]
    return httpx.Response(200, content=bytes(handler(service, Params.from_query(
        QueryParams(query))).body)).json()


def test_mlflow_reads_on_postgresql_run_on_the_loop_and_answer_as_the_thread_path_does(
        tmp_path: Path, postgres_database_url: str) -> None:
    service = service_on(postgres_database_url, tmp_path)
    try:
        populate(service)
        with serving(service, tmp_path) as (url, loop), httpx.Client(timeout=10) as client:
            with thread_pool_taken(loop):
                answers = [client.get(f"{url}{API}{endpoint}", params=query)
                           for endpoint, query, _ in READS]
                # A route that uses the thread pool waits meanwhile: the pool is taken.
                with pytest.raises(httpx.ReadTimeout):
                    client.get(f"{url}/api/2.0/mlflow-artifacts/artifacts",
                               params={"path": "models/fraud_detector/versions/1"}, timeout=1)
            assert client.get(f"{url}/api/v1/models", timeout=10).status_code == 200
        for (endpoint, query, status), answer in zip(READS, answers, strict=True):
            assert answer.status_code == status, (endpoint, query, answer.text)
            if status != 200:
                assert answer.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
            elif endpoint.endswith("get-download-uri"):
                assert answer.json() == {"artifact_uri": SOURCE}
            else:
                assert answer.json() == synchronous_answer(service, endpoint, query), endpoint
        assert in_transaction(postgres_database_url) == []
    finally:
        service.db.dispose()


def test_terminated_backends_under_load_answer_503_then_the_loop_reads_recover(
        tmp_path: Path, postgres_database_url: str) -> None:
    service = service_on(postgres_database_url, tmp_path)
    try:
        populate(service)
        with serving(service, tmp_path) as (url, _loop):
            statuses, failures = read_under_load(url, postgres_database_url, cuts=(0.6, 1.3),
                                                 seconds=2.6)
            assert failures == []  # never a dropped connection
            assert {status for _, status in statuses} <= {200, 503}, statuses
            last_cut = 1.3
            late = [status for at, status in statuses if at >= last_cut + 1.0]
            assert late and set(late) == {200}, late
            # Idle connections cut (and gone: the terminations waited for) are replaced
            # before use, failing no read.
            with httpx.Client(timeout=10) as client:
                assert terminate_and_wait(postgres_database_url) > 0
                for endpoint, query, status in READS:
                    assert client.get(f"{url}{API}{endpoint}",
                                      params=query).status_code == status
        assert in_transaction(postgres_database_url) == []
    finally:
        service.db.dispose()


def terminate_and_wait(database_url: str) -> int:
    """Cut every other connection to the database, each termination waited for (5 s, then
    up to 15 s more for a backend slow to exit on a loaded machine): how many were cut."""
    with psycopg.connect(libpq(database_url), autocommit=True) as connection:
        cut = connection.execute(
            "SELECT pid, pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall()
        slow = [pid for pid, done in cut if not done]
        deadline = time.monotonic() + 15
        while slow and time.monotonic() < deadline:
            time.sleep(0.1)
            slow = [pid for pid, in connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", [slow]).fetchall()]
        left = connection.execute(
            "SELECT pid, backend_type, state, wait_event, query FROM pg_stat_activity "
            "WHERE pid = ANY(%s)", [slow]).fetchall() if slow else []
    assert left == [], left  # what a backend that would not go was doing
    return len(cut)


def read_under_load(url: str, database_url: str, *, cuts: tuple[float, ...], seconds: float,
                    threads: int = 6) -> tuple[list[tuple[float, int]], list[str]]:
    """Reads from ``threads`` clients for ``seconds``, every backend of the database cut at
    each of ``cuts``; (time, status) of each answer, and the transport failures. A 503
    must carry Retry-After and MLflow's envelope (else it is a failure)."""
    began, stop = time.monotonic(), threading.Event()
    statuses: list[tuple[float, int]] = []
    failures: list[str] = []

    def run(index: int) -> None:
        with httpx.Client(timeout=10) as client:
            turn = index
            while not stop.is_set():
                endpoint, query, expected = READS[turn % len(READS)]
                turn += 1
                try:
                    answer = client.get(f"{url}{API}{endpoint}", params=query)
                except httpx.TransportError as exc:
                    failures.append(repr(exc))
                    continue
                if answer.status_code == 503 and (
                        "Retry-After" not in answer.headers
                        or answer.json().get("error_code") != "TEMPORARILY_UNAVAILABLE"):
                    failures.append(f"503 without its envelope: {answer.text}")
                status = 200 if answer.status_code == expected else answer.status_code
                statuses.append((time.monotonic() - began, status))

    with ThreadPoolExecutor(threads) as clients:
        running = [clients.submit(run, index) for index in range(threads)]
        try:
            for at in cuts:
                time.sleep(max(0.0, at - (time.monotonic() - began)))
                terminate_backends(database_url)
            time.sleep(max(0.0, seconds - (time.monotonic() - began)))
        finally:
            stop.set()
        for future in running:
            future.result(timeout=30)
    return statuses, failures


def waiting_on_locks(database_url: str, count: int) -> list[int]:
    """The pids of the ``count`` backends waiting for a lock (within 10 s)."""
    deadline = time.monotonic() + 10
    with psycopg.connect(libpq(database_url), autocommit=True) as connection:
        while True:
            pids = [row[0] for row in connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'").fetchall()]
            if len(pids) >= count:
                return pids
            assert time.monotonic() < deadline, f"{len(pids)} of {count} reads are waiting"
            time.sleep(0.05)


def test_no_free_loop_connection_answers_503_and_a_cancelled_read_leaves_no_transaction(
        tmp_path: Path, postgres_database_url: str) -> None:
    # Two connections at most (pool 1 + overflow 1), a 0.5 s wait for one.
    service = service_on(postgres_database_url, tmp_path, pool_size=1, pool_overflow=1,
                         pool_timeout=0.5)
    former = f"{API}/registered-models/get"
    try:
        populate(service)
        with (serving(service, tmp_path) as (url, _loop),
              psycopg.connect(libpq(postgres_database_url)) as locker,
              ThreadPoolExecutor(2) as clients):
            # A name no current model has is looked up in the redirects (the statement
            # after the one that finds no model by it): both reads wait for the
            # redirects' lock, holding both connections.
            locker.execute("LOCK TABLE redirects IN ACCESS EXCLUSIVE MODE")
            # one after the other: two reads arriving in one turn of the loop could share
            # one connection's pipeline, leaving the other connection free (seen once in CI)
            blocked = []
            for waiting in (1, 2):
                blocked.append(clients.submit(httpx.get, f"{url}{former}",
                                              params={"name": "churn_model"}, timeout=30))
                pids = waiting_on_locks(postgres_database_url, waiting)
            refused = httpx.get(f"{url}{API}/model-versions/get",
                                params={"name": "fraud_detector", "version": "1"}, timeout=10)
            assert refused.status_code == 503, refused.text
            assert refused.headers["Retry-After"] == "1"
            assert refused.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
            with psycopg.connect(libpq(postgres_database_url), autocommit=True) as admin:
                admin.execute("SELECT pg_cancel_backend(%s)", (pids[0],))
            first = next_done(blocked)
            assert first.status_code == 503 and "Retry-After" in first.headers, first.text
            locker.rollback()  # the lock goes: the other read finishes
            assert [f.result(timeout=10).status_code for f in blocked] in ([503, 200],
                                                                          [200, 503])
            assert in_transaction(postgres_database_url) == []
            for endpoint, query, status in READS:  # the connections serve on
                assert httpx.get(f"{url}{API}{endpoint}", params=query,
                                 timeout=10).status_code == status
        assert in_transaction(postgres_database_url) == []
    finally:
        service.db.dispose()


def next_done(futures: list[Any], timeout: float = 10) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for future in futures:
            if future.done():
                result: httpx.Response = future.result()
                return result
        time.sleep(0.02)
    raise AssertionError("no read finished")

