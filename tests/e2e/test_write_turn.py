"""A write that must wait for SQLite's write turn does not stall the server.

Writes of the MLflow surface run on the event loop when the turn comes within a few
milliseconds (charter/web.py); when another process holds it longer — a bulk import, a
CLI run — the write moves to a pool thread, and the loop keeps answering others.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest

from charter.store.database import Database
from tests.e2e.server import running_server

pytestmark = pytest.mark.e2e

API = "/api/2.0/mlflow"
SOURCE = "runs:/0123456789abcdef0123456789abcdef/model"


def test_a_held_write_turn_leaves_reads_flowing_and_the_write_completes(tmp_path):
    with running_server(tmp_path) as url:
        created = httpx.post(f"{url}{API}/registered-models/create",
                             json={"name": "fraud_detector"})
        assert created.status_code == 200, created.text
        database = Database(f"sqlite:///{tmp_path / 'charter.db'}", migrate=False)
        held, release = threading.Event(), threading.Event()

        def hold_the_turn() -> None:  # what a long CLI import does to the server
            with database.write("importer", lambda: datetime.now(UTC)):
                held.set()
                release.wait(20)

        holder = threading.Thread(target=hold_the_turn)
        holder.start()
        try:
            assert held.wait(10)
            with ThreadPoolExecutor(1) as pool:
                write = pool.submit(httpx.post, f"{url}{API}/model-versions/create",
                                    json={"name": "fraud_detector", "source": SOURCE},
                                    timeout=60)
                time.sleep(0.5)
                assert not write.done()  # it waits for the turn...
                started = time.monotonic()
                read = httpx.get(f"{url}{API}/registered-models/get",
                                 params={"name": "fraud_detector"}, timeout=10)
                assert read.status_code == 200
                assert time.monotonic() - started < 2.0  # ...but not on the event loop
                release.set()
                answer = write.result(timeout=60)
            assert answer.status_code == 200, answer.text
            assert answer.json()["model_version"]["version"] == "1"
        finally:
            release.set()
            holder.join(30)
            database.dispose()
