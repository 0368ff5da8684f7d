"""SQLite's group commit through a real server: writes that found the turn busy.

Two workers, the turn held by a third writer (what a CLI import does), and 60 version
creates sent at once over 12 connections: every one queues for its worker's group
commit, and once the turn is free each is answered only after the COMMIT that holds it.
Every create is acknowledged, the registry numbered the versions 1..N of each model
without a gap or a repeat, and the audit chain verifies.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest

from charter.store.database import Database
from tests.e2e.server import running_server

pytestmark = pytest.mark.e2e

API = "/api/2.0/mlflow"
MODELS = ("fraud_detector", "churn_scorer")
PER_MODEL = 30


def test_concurrent_creates_behind_a_held_turn_are_all_acknowledged_in_order(tmp_path):
    with running_server(tmp_path, workers=2) as url:
        for name in MODELS:
            created = httpx.post(f"{url}{API}/registered-models/create", json={"name": name})
            assert created.status_code == 200, created.text
        database = Database(f"sqlite:///{tmp_path / 'charter.db'}", migrate=False)
        held, release = threading.Event(), threading.Event()

        def hold_the_turn() -> None:
            with database.write("importer", lambda: datetime.now(UTC)):
                held.set()
                release.wait(20)

        holder = threading.Thread(target=hold_the_turn)
        holder.start()
        clients = [httpx.Client(base_url=url, timeout=60) for _ in range(12)]
        try:
            assert held.wait(10)

            def create(index: int) -> httpx.Response:
                run = f"{index:032x}"
                return clients[index % len(clients)].post(
                    f"{API}/model-versions/create",
                    json={"name": MODELS[index % 2], "source": f"runs:/{run}/model",
                          "run_id": run, "tags": [{"key": "commit", "value": str(index)}]})

            with ThreadPoolExecutor(len(clients)) as pool:
                answers = [pool.submit(create, i) for i in range(PER_MODEL * len(MODELS))]
                release.set()
                responses = [a.result(timeout=120) for a in answers]
        finally:
            release.set()
            holder.join(30)
            database.dispose()
            for client in clients:
                client.close()
        assert [r.status_code for r in responses] == [200] * len(responses), \
            [r.text for r in responses if r.status_code != 200][:3]
        for name in MODELS:
            numbers = sorted(int(r.json()["model_version"]["version"]) for r in responses
                             if r.json()["model_version"]["name"] == name)
            assert numbers == list(range(1, PER_MODEL + 1))
            found = httpx.get(f"{url}{API}/model-versions/search",
                              params={"filter": f"name='{name}'", "max_results": 200})
            assert len(found.json()["model_versions"]) == PER_MODEL
        # What each answer said is what was stored: the run of the create it answered.
        for r in responses:
            version = r.json()["model_version"]
            stored = httpx.get(f"{url}{API}/model-versions/get",
                               params={"name": version["name"], "version": version["version"]})
            assert stored.json()["model_version"]["run_id"] == version["run_id"]
    verified = subprocess.run([sys.executable, "-m", "charter.cli.main", "audit", "verify"],
                              env={**os.environ, "CHARTER_HOME": str(tmp_path)},
                              capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr
