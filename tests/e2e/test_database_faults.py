"""PostgreSQL faults on the scale-out path, against real `charter serve` processes.

* The server's database connections are cut under load (``pg_terminate_backend``): every
  answer is a 2xx or a 503 in the documented envelope with ``Retry-After`` — never a 500,
  never a dropped connection — nothing acknowledged is lost, and the server answers
  again within a second.
* Two replicas on one database: one is killed (SIGKILL) mid-load, the other keeps
  serving, and the audit chain verifies.

Each test is bounded (a few seconds of load); docs/operations-faults.md describes what
an operator sees.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from charter.bootstrap import build_service
from charter.server.run import free_port
from tests.e2e.server import SERVER_COMMAND, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

API = "/api/2.0/mlflow"
MODEL = "fraud_detector"
SOURCE = "runs:/0123456789abcdef0123456789abcdef/model"
LOAD_S = 4.0
CUT_AT_S = (1.2, 2.6)
RECOVERY_S = 1.0


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def terminate_backends(database_url: str) -> int:
    """Cut every connection to the test's database but this one; how many were cut."""
    url = make_url(database_url)
    admin = libpq(str(url.set(database="postgres")))
    with psycopg.connect(admin, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()", (url.database,)).fetchall()
    return len(rows)


@dataclass
class Tally:
    """What a load thread saw: statuses, 503 envelopes, transport failures, acknowledged
    versions, and the time of every answer."""

    statuses: list[tuple[float, int]] = field(default_factory=list)
    bad_envelopes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, at: float, response: httpx.Response) -> None:
        with self.lock:
            self.statuses.append((at, response.status_code))
            if response.status_code == 503:
                body = response.json()
                if (body.get("error_code") != "TEMPORARILY_UNAVAILABLE"
                        or not body.get("message") or "Retry-After" not in response.headers):
                    self.bad_envelopes.append(f"{response.headers} {response.text}")


def load(urls: list[str], tally: Tally, stop: threading.Event, began: float,
         threads: int = 4) -> list[threading.Thread]:
    """Writers (model-versions/create) and readers (get, search) on every URL in turn."""

    def run(index: int) -> None:
        with httpx.Client(timeout=10) as client:
            turn = 0
            while not stop.is_set():
                base = urls[(index + turn) % len(urls)]
                turn += 1
                try:
                    if turn % 2:
                        response = client.post(f"{base}{API}/model-versions/create",
                                               json={"name": MODEL, "source": SOURCE})
                        if response.status_code == 200:
                            with tally.lock:
                                tally.acknowledged.append(
                                    response.json()["model_version"]["version"])
                    else:
                        response = client.get(f"{base}{API}/registered-models/get-latest-versions",
                                              params={"name": MODEL})
                except httpx.TransportError as exc:
                    if base in urls[:1] or len(urls) == 1:
                        with tally.lock:
                            tally.failures.append(f"{base}: {exc!r}")
                    continue
                tally.answer(time.monotonic() - began, response)

    workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    return workers


def stored_versions(url: str) -> set[str]:
    answer = httpx.get(f"{url}{API}/model-versions/search",
                       params={"filter": f"name='{MODEL}'"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return {v["version"] for v in answer.json()["model_versions"]}


def create_model(url: str) -> None:
    answer = httpx.post(f"{url}{API}/registered-models/create", json={"name": MODEL},
                        timeout=10)
    assert answer.status_code == 200, answer.text


def test_cut_connections_answer_503_lose_nothing_and_recover_within_a_second(
        tmp_path: Path, postgres_database_url: str) -> None:
    with running_server(tmp_path, database_url=postgres_database_url, workers=2) as url:
        create_model(url)
        tally, stop = Tally(), threading.Event()
        began = time.monotonic()
        workers = load([url], tally, stop, began)
        cuts: list[float] = []
        try:
            for at in CUT_AT_S:
                time.sleep(max(0.0, at - (time.monotonic() - began)))
                cuts.append(time.monotonic() - began)
                assert terminate_backends(postgres_database_url) > 0
            time.sleep(max(0.0, LOAD_S - (time.monotonic() - began)))
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=15)

        assert tally.failures == []  # never a dropped connection
        assert tally.bad_envelopes == []
        statuses = [status for _, status in tally.statuses]
        assert {s for s in statuses if not (200 <= s < 300 or s == 503)} == set(), statuses
        assert statuses.count(200) > 50
        # Recovered within a second of each cut: every answer after that is a success.
        for cut, following in zip(cuts, [*cuts[1:], float("inf")], strict=True):
            late = [(at, s) for at, s in tally.statuses if cut + RECOVERY_S <= at < following]
            assert late and all(s == 200 for _, s in late), (cut, late[:10])
        # Nothing acknowledged is lost.
        assert set(tally.acknowledged) <= stored_versions(url)


@dataclass
class Replica:
    url: str
    process: subprocess.Popen  # type: ignore[type-arg]


def start_replica(home: Path, database_url: str, stack: ExitStack) -> Replica:
    """A `charter serve` (one process) on the shared database, killed on the way out."""
    home.mkdir()
    port = free_port()
    env = {**os.environ, "CHARTER_HOME": str(home), "CHARTER_DATABASE_URL": database_url}
    log = stack.enter_context(open(home / "server.log", "w"))
    process = subprocess.Popen([*SERVER_COMMAND, "--port", str(port), "--workers", "1"],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    stack.callback(_kill, process)
    return Replica(f"http://127.0.0.1:{port}", process)


def _kill(process: subprocess.Popen) -> None:  # type: ignore[type-arg]
    if process.poll() is None:
        process.kill()
    process.wait(timeout=15)


def _healthy(url: str, process: subprocess.Popen, home: Path) -> bool:  # type: ignore[type-arg]
    if process.poll() is not None:
        raise RuntimeError("replica exited:\n" + (home / "server.log").read_text())
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def replicas(tmp_path: Path, postgres_database_url: str) -> Iterator[list[Replica]]:
    with ExitStack() as stack:
        started = [start_replica(tmp_path / name, postgres_database_url, stack)
                   for name in ("a", "b")]  # both start at once
        for name, replica in zip(("a", "b"), started, strict=True):
            _until(lambda r=replica, n=name: _healthy(r.url, r.process, tmp_path / n), 60)
        yield started


def test_a_replica_killed_mid_load_leaves_the_other_serving_and_the_chain_whole(
        replicas: list[Replica], postgres_database_url: str, make_settings: Callable[..., Any],
) -> None:
    survivor, victim = replicas
    create_model(survivor.url)
    tally, stop = Tally(), threading.Event()
    began = time.monotonic()
    # The survivor is listed first: only transport failures against it count.
    workers = load([survivor.url, victim.url], tally, stop, began)
    try:
        time.sleep(1.5)
        victim.process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic() - began
        time.sleep(2.0)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=15)
    victim.process.wait(timeout=10)

    assert tally.failures == []
    served_after = [s for at, s in tally.statuses if at > killed_at + 0.2]
    assert len(served_after) > 20 and set(served_after) == {200}
    assert set(tally.acknowledged) <= stored_versions(survivor.url)
    service = build_service(make_settings(postgres_database_url), actor="auditor")
    try:
        report = service.verify_audit()
    finally:
        service.db.dispose()
    assert report.ok, report.to_dict()
    assert report.events_checked >= len(tally.acknowledged)
