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
