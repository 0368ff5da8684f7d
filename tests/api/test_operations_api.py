"""What an operator watches: /metrics (content, labels, who may read it), request ids,
and /readyz naming the failing part (docs/operations.md)."""

from __future__ import annotations

import hashlib
import shutil
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.api.access_world import FRAUD, HIDDEN

API = "/api/v1"
MLFLOW = "/api/2.0/mlflow"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by (name, sorted labels)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(scrape: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client: Any, headers: dict[str, str]) -> dict[tuple[str, Any], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


# ---- who may read /metrics ---------------------------------------------------------------

def test_metrics_need_a_token_and_the_registry_wide_metrics_right(world, fresh):
    _, client = fresh
    stranger = client.get("/metrics")
    assert stranger.status_code == 401 and stranger.json()["error"]["code"] == "auth.required"
    # rita reads two models but holds no registry-wide role; nina holds nothing
    for user in ("rita", "nina"):
        refused = client.get("/metrics", headers=world.auth(user))
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "access.denied"
        assert "metrics" in refused.json()["error"]["message"]
    for user in ("cici", "ada"):  # a registry-wide role ('*' grant), an admin
        assert client.get("/metrics", headers=world.auth(user)).status_code == 200


def test_a_refused_scrape_is_counted_under_the_metrics_route(world, fresh):
    _, client = fresh
    before = scrape(client, world.auth("ada"))
    client.get("/metrics", headers=world.auth("nina"))
    after = scrape(client, world.auth("ada"))
    label = {"route": "/metrics", "method": "GET", "status": "4xx"}
    assert value(after, "charter_http_requests_total", **label) == \
        value(before, "charter_http_requests_total", **label) + 1


# ---- what /metrics says ------------------------------------------------------------------

def test_requests_are_counted_by_route_template_never_by_raw_path(world, fresh):
    _, client = fresh
    admin = world.auth("ada")
    before = scrape(client, admin)
    for _ in range(3):
        assert client.get(f"{API}/models/{FRAUD}", headers=admin).status_code == 200
    assert client.get(f"{API}/models/no_such_model", headers=admin).status_code == 404
    assert client.get(f"{MLFLOW}/registered-models/get", params={"name": FRAUD},
                      headers=admin).status_code == 200
    after = scrape(client, admin)
    route = f"{API}/models/{{name}}"

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("charter_http_requests_total", route=route, method="GET", status="2xx") == 3
    assert grew("charter_http_requests_total", route=route, method="GET", status="4xx") == 1
    assert grew("charter_http_request_duration_seconds_count", route=route, method="GET",
                status="2xx") == 3
    # the MLflow surface is labelled by endpoint, not by its one dispatch route
    assert grew("charter_http_requests_total", route=f"{MLFLOW}/registered-models/get",
                method="GET", status="2xx") == 1
    labels = {dict(key[1]).get("route", "") for key in after}
    assert not any(FRAUD in label or "no_such_model" in label for label in labels)


def test_a_path_no_route_serves_is_one_label(world, fresh):
    _, client = fresh
    admin = world.auth("ada")
    for path in ("/no/such/page/1", "/no/such/page/2"):
        client.get(path, headers=admin)
    after = scrape(client, admin)
    routes = {dict(key[1]).get("route") for key in after
              if key[0] == "charter_http_requests_total"}
    assert "<unmatched>" in routes and not any("no/such" in str(r) for r in routes)


def test_transitions_cache_transfers_and_the_outbox_are_counted(world, fresh):
    _, client = fresh
    admin = world.auth("ada")
    client.post(f"{API}/webhooks", headers=admin,  # a receiver nobody runs: a backlog
                json={"url": "http://127.0.0.1:9/hook", "events": ["stage_changed"]})
    before = scrape(client, admin)
    moved = client.post(f"{API}/models/{FRAUD}/versions/3/transition", headers=admin,
                        json={"stage": "Staging", "reason": "metrics test"})
    assert moved.status_code == 200, moved.text
    for _ in range(3):  # a miss (noted), a miss (kept: asked before), then a hit
        client.get(f"{MLFLOW}/registered-models/get", params={"name": HIDDEN}, headers=admin)
    data = b"weights" * 1000
    started = client.post(f"{API}/models/{HIDDEN}/uploads", headers=admin).json()
    client.put(f"{API}/models/{HIDDEN}/uploads/{started['upload_id']}/files/model.bin",
               content=data, headers=admin)
    committed = client.post(
        f"{API}/models/{HIDDEN}/uploads/{started['upload_id']}/commit", headers=admin,
        json={"files": [{"path": "model.bin", "size": len(data),
                         "sha256": hashlib.sha256(data).hexdigest()}]})
    assert committed.status_code == 201, committed.text
    version = committed.json()["version"]
    got = client.get(f"{API}/models/{HIDDEN}/versions/{version}/files/model.bin", headers=admin)
    assert got.content == data
    after = scrape(client, admin)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("charter_stage_transitions_total", stage="Staging") == 1
    assert grew("charter_answer_cache_misses_total") >= 1
    assert grew("charter_answer_cache_hits_total") >= 1
    assert grew("charter_answer_cache_admissions_total", outcome="first_ask") >= 1
    assert grew("charter_answer_cache_admissions_total", outcome="stored") >= 1
    assert value(after, "charter_answer_cache_bytes") > 0
    assert grew("charter_transfer_bytes_total", direction="upload") == len(data)
    assert grew("charter_transfer_bytes_total", direction="download") == len(data)
    assert grew("charter_write_turn_wait_seconds_count") >= 2
    assert value(after, "charter_outbox_depth") >= 1  # the stage change waits for delivery
    assert ("charter_webhook_dead_letters", ()) in after


# ---- request ids ---------------------------------------------------------------------------

def test_a_well_formed_request_id_is_echoed_and_quoted_in_error_bodies(world, fresh):
    _, client = fresh
    rid = "lb-7f3a:2026.12.06_abc"
    ok = client.get("/healthz", headers={"X-Request-ID": rid})
    assert ok.headers["x-request-id"] == rid
    native = client.get(f"{API}/models/no_such_model", headers={**world.auth("ada"),
                                                                   "X-Request-ID": rid})
    assert native.headers["x-request-id"] == rid
    assert native.json()["error"]["request_id"] == rid
    mlflow = client.get(f"{MLFLOW}/registered-models/get", params={"name": "no_such_model"},
                        headers={**world.auth("ada"), "X-Request-ID": rid})
    assert mlflow.json()["request_id"] == rid and mlflow.json()["error_code"]
    assert int(mlflow.headers["content-length"]) == len(mlflow.content)


@pytest.mark.parametrize("hostile", ["a" * 129, "has space", "semi;colon", "tab\there",
                                     "ünï", ""])
def test_a_malformed_request_id_is_replaced_by_a_fresh_one(world, fresh, hostile):
    _, client = fresh
    response = client.get(f"{API}/models/no_such_model",
                          headers={**world.auth("ada"),
                                   "X-Request-ID": hostile.encode("utf-8")})
    rid = response.headers["x-request-id"]
    assert rid != hostile and len(rid) == 32 and int(rid, 16) >= 0
    assert response.json()["error"]["request_id"] == rid


def test_refusals_before_routing_carry_the_id_too(fresh):
    _, client = fresh
    response = client.get(f"{API}/models/{FRAUD}", headers={"X-Request-ID": "probe-1"})
    assert response.status_code == 401
    assert response.json()["error"]["request_id"] == "probe-1"


# ---- readiness -------------------------------------------------------------------------------

def test_readyz_is_ready_when_the_database_and_blob_store_answer(fresh):
    _, client = fresh
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "failing": [],
                               "checks": {"database": {"ok": True}, "blob_store": {"ok": True}}}


def test_readyz_names_a_blob_store_that_cannot_serve(fresh, tmp_path):
    _, client = fresh
    shutil.rmtree(tmp_path / "blobs" / "sha256")
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready" and body["failing"] == ["blob_store"]
    assert body["checks"]["database"] == {"ok": True}
    # auth is on: the reason stays in the server log, not in a stranger's answer
    assert body["checks"]["blob_store"] == {"ok": False, "error": "see the server log"}
    assert client.get("/healthz").status_code == 200  # alive, just not ready


def test_readyz_names_a_database_that_is_gone(fresh, tmp_path):
    _, client = fresh
    (tmp_path / "charter.db").unlink()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]


# ---- on both databases -----------------------------------------------------------------------

@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def plain_client(request, make_settings):  # type: ignore[no-untyped-def]
    """An app without authentication, on SQLite and on PostgreSQL."""
    from fastapi.testclient import TestClient

    from charter.bootstrap import build_service
    from charter.server.app import create_app

    url = request.getfixturevalue(f"{request.param}_database_url")
    settings = make_settings(url, naming_mode="off")
    service = build_service(settings, actor="test")
    with TestClient(create_app(service, settings)) as client:
        yield request.param, client
    service.db.dispose()


def test_the_database_metrics_move_and_readyz_answers_on_either_database(plain_client):
    dialect, client = plain_client
    assert client.get("/readyz").json()["status"] == "ready"
    before = samples(client.get("/metrics").text)
    assert client.post(f"{MLFLOW}/registered-models/create",
                       json={"name": "churn_forecast"}).status_code == 200
    for _ in range(3):
        client.get(f"{MLFLOW}/registered-models/get", params={"name": "churn_forecast"})
    after = samples(client.get("/metrics").text)

    def grew(name: str) -> float:
        return value(after, name) - value(before, name)

    assert grew("charter_write_turn_wait_seconds_count") >= 1
    assert value(after, "charter_db_pool_in_use") >= 0  # connections came back
    if dialect == "postgres":  # a read that misses the cache takes a pooled connection
        assert grew("charter_db_pool_wait_seconds_count") >= 1
