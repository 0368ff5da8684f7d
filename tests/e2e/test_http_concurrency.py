"""The concurrency invariants (DESIGN §2.2, §2.4, §2.5) through HTTP, on SQLite and PostgreSQL.

A real server per test. The promoters race a server with two worker processes,
so racing requests also race across processes, as replicas behind a load balancer
would (and a process-local cache of "who is in Production" would be caught); the
other races use one worker, which starts twice as fast. Every loop is bounded and
every wait has a timeout: a deadlock fails the test instead of hanging CI.

PostgreSQL: each test gets its own database, created on the server named by
``CHARTER_TEST_POSTGRES_URL`` and dropped afterwards. Without that variable the
PostgreSQL half is skipped locally and fails under CI (``CI`` set).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from charter.client import RemoteRegistry
from charter.domain.errors import Conflict
from tests.e2e.server import running_server

pytestmark = pytest.mark.e2e

POSTGRES_ENV = "CHARTER_TEST_POSTGRES_URL"
ROUNDS = 20
PROMOTERS = 16
REGISTRANTS = 32
WAIT_S = 120  # per concurrent burst; a healthy run needs well under a second
_databases = itertools.count()


def postgres_base_url() -> str:
    url = os.environ.get(POSTGRES_ENV, "")
    if not url:
        message = f"{POSTGRES_ENV} is not set; the PostgreSQL half needs a server"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return url


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh database for one test: CREATE DATABASE, then DROP … WITH (FORCE)."""
    import psycopg

    base = postgres_base_url()
    name = f"charter_http_{os.getpid()}_{next(_databases)}"
    admin_url = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def server_workers() -> int:
    """Worker processes of the server; a test overrides it by parametrizing this name."""
    return 1


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def server(request, tmp_path, server_workers) -> Iterator[str]:
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_database")
    with running_server(tmp_path, database_url=database_url, workers=server_workers) as url:
        yield url


def race(server: str, calls: list[Callable[[RemoteRegistry], Any]]) -> list[Any]:
    """Run each call on its own client and thread, released together; results or errors."""
    barrier = threading.Barrier(len(calls), timeout=WAIT_S)
    with ExitStack() as stack:
        clients = [stack.enter_context(RemoteRegistry(server, actor=f"racer-{i}"))
                   for i in range(len(calls))]

        def run(index: int) -> Any:
            barrier.wait()
            try:
                return calls[index](clients[index])
            except Exception as exc:  # noqa: BLE001 - the caller inspects every outcome
                return exc

        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            futures = [pool.submit(run, i) for i in range(len(calls))]
            return [f.result(timeout=WAIT_S) for f in futures]


@pytest.mark.parametrize("server_workers", [2])
def test_concurrent_promoters_with_archive_existing_leave_exactly_one_production(server):
    name = "fraud_detector"
    with RemoteRegistry(server, actor="setup") as setup:
        for round_number in range(ROUNDS):
            candidates = [setup.register(name, "s3://models/fraud/1").version
                          for _ in range(PROMOTERS)]
            for number in candidates:
                setup.transition(name, number, "Staging")
            outcomes = race(server, [
                (lambda client, n=number: client.promote(name, n, "Production",
                                                         archive_existing=True, reason="race"))
                for number in candidates])
            assert [o for o in outcomes if isinstance(o, Exception)] == [], round_number

            production = setup.list_versions(name, stage="Production")
            assert len(production) == 1, (round_number, production)
            model = setup.get_model(name)
            assert model.stages["Production"] == [production[0].version]
            assert len(model.stages["Archived"]) == (round_number + 1) * PROMOTERS - 1
            last = [e for e in setup.history(name, limit=PROMOTERS * 4)
                    if e.to_stage == "Production"][-1]
            assert last.version == production[0].version
        assert setup.verify_audit().ok


def test_racing_release_jobs_with_the_same_precondition_have_one_winner(server):
    name = "payments_risk_model"
    with RemoteRegistry(server, actor="setup") as setup:
        current = setup.register(name, "s3://models/risk/1").version
        setup.transition(name, current, "Staging")
        setup.promote(name, current, "Production")
        candidates = [setup.register(name, "s3://models/risk/1").version
                      for _ in range(PROMOTERS)]
        for number in candidates:
            setup.transition(name, number, "Staging")
        outcomes = race(server, [
            (lambda client, n=number: client.promote(name, n, "Production", archive_existing=True,
                                                     expect_production=current))
            for number in candidates])
        winners = [o for o in outcomes if not isinstance(o, Exception)]
        losers = [o for o in outcomes if isinstance(o, Exception)]
        assert len(winners) == 1
        assert all(isinstance(e, Conflict) and e.code == "stage.precondition_failed"
                   for e in losers), losers
        assert [v.version for v in setup.list_versions(name, stage="Production")] == [
            winners[0].version]


def test_concurrent_registrations_get_every_number_once(server):
    name = "lending_credit_score"  # not created yet: the first registrations also race to create it
    outcomes = race(server, [
        (lambda client: client.register(name, "s3://models/credit/1").version)
        for _ in range(REGISTRANTS)])
    assert [o for o in outcomes if isinstance(o, Exception)] == []
    assert sorted(outcomes) == list(range(1, REGISTRANTS + 1))
    with RemoteRegistry(server) as reader:
        model = reader.get_model(name)
        assert (model.version_count, model.last_version) == (REGISTRANTS, REGISTRANTS)
        assert sorted(v.version for v in reader.list_versions(name)) == list(
            range(1, REGISTRANTS + 1))
        assert reader.verify_audit().ok
