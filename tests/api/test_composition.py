"""The web composition root (``charter.server.app``): one app mounts the MLflow surface,
REST v1 and the web UI, and a UI that cannot be imported stops the server instead of
silently vanishing from it."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from charter.bootstrap import build_service
from charter.config import Settings
from charter.server.access import route_entries
from charter.server.app import create_app

with warnings.catch_warnings():  # starlette nudges towards httpx2; the client still works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def client(tmp_path):
    settings = Settings.load({"home": tmp_path}, env={})
    service = build_service(settings, actor="meera")
    with TestClient(create_app(service, settings)) as client:
        yield client
    service.db.dispose()


def test_the_root_mounts_mlflow_first_then_rest_v1_then_the_ui(client):
    paths = [entry.path for entry in route_entries(client.app.routes)]
    first = {surface: next(i for i, path in enumerate(paths) if path.startswith(prefix))
             for surface, prefix in (("mlflow", "/api/2.0/mlflow"), ("v1", "/api/v1/models"),
                                     ("ui", "/models/{name}"))}
    assert first["mlflow"] < first["v1"] < first["ui"]  # MLflow's clients are the hot path
    assert "/ui/static" in paths and "/healthz" in paths
    assert client.get("/api/2.0/mlflow/registered-models/search").status_code == 200
    assert client.get("/api/v1/models").status_code == 200
    page = client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 200 and "<html" in page.text
    assert client.get("/ui/static/charter.css").status_code == 200


def test_a_path_nobody_serves_is_a_page_for_a_browser_and_an_envelope_for_a_client(client):
    page = client.get("/no/such/page", headers={"accept": "text/html"})
    assert page.status_code == 404 and "There is no page at /no/such/page" in page.text
    wrong = client.put("/naming", headers={"accept": "text/html"})
    assert wrong.status_code == 405 and "method.not_allowed" in wrong.text
    api = client.get("/api/v1/no/such/route", headers={"accept": "text/html"})
    assert api.status_code == 404 and api.json()["error"]["code"] == "route.not_found"


def test_a_ui_that_cannot_be_imported_fails_the_server_loudly():
    """The UI used to be mounted under ``except ImportError``: one broken import inside
    ui/ removed every page, and the server started as if nothing were wrong."""
    broken = ("import sys; sys.modules['charter.ui.audit'] = None; "  # import raises
              "from charter.server.app import create_app")
    run = subprocess.run([sys.executable, "-c", broken], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode != 0
    assert "ModuleNotFoundError" in run.stderr and "charter.ui.audit" in run.stderr


def test_a_serving_app_keeps_its_startup_objects_out_of_the_collector_until_it_stops(tmp_path):
    """A full pass of the cycle collector over a worker's ~130,000 startup objects stopped
    the event loop for 50–130 ms: the p99 of cold reads (server/heap.py). While the app
    serves they are frozen and the youngest generation waits for more allocations; once
    it stops, both are undone."""
    import gc

    from charter.server.heap import YOUNG_THRESHOLD

    gc.unfreeze()
    threshold = gc.get_threshold()
    settings = Settings.load({"home": tmp_path}, env={})
    service = build_service(settings, actor="meera")
    with TestClient(create_app(service, settings)) as client:
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *threshold[1:])
        assert client.get("/api/2.0/mlflow/registered-models/search").status_code == 200
    service.db.dispose()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == threshold


def _resident_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim: Linux")
def test_free_pages_between_live_answers_are_given_back_to_the_system():
    """Answers of tens of kB come from glibc's heap; once every other one is freed, their
    pages stay resident between the live ones until the heap is trimmed (server/heap.py)."""
    from charter.server.heap import release_free_memory

    answers = [bytes(48 * 1024) for _ in range(600)]  # ~29 MB, under the mmap threshold
    del answers[::2]  # ~14 MB of holes between live answers
    before = _resident_kib()
    assert release_free_memory()
    assert before - _resident_kib() > 8 * 1024
    del answers


def test_a_serving_app_trims_its_heap_on_a_timer(tmp_path, monkeypatch):
    import time

    from charter.server import heap

    trims: list[float] = []
    real = heap.release_free_memory
    monkeypatch.setattr(heap, "TRIM_EVERY_S", 0.05)
    monkeypatch.setattr(heap, "release_free_memory", lambda: trims.append(1) or real())
    settings = Settings.load({"home": tmp_path}, env={})
    service = build_service(settings, actor="meera")
    with TestClient(create_app(service, settings)):
        deadline = time.monotonic() + 5
        while len(trims) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    service.db.dispose()
    assert len(trims) >= 3 or heap._TRIM is None
    stopped = len(trims)
    time.sleep(0.2)
    assert len(trims) == stopped  # the timer ends with the app
