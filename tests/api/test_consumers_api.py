"""Consumers over HTTP, in process: the X-Charter-Consumer header on REST v1's resolve and
on the MLflow surface's lookups, explicit reports, a model's consumers, and the
refusal to archive or delete a served version (with force)."""

from __future__ import annotations

from typing import Any

import pytest

API = "/api/v1"
MLFLOW = "/api/2.0/mlflow"
PROD = "models:/fraud_detector/Production"
HEADER = "X-Charter-Consumer"


@pytest.fixture
def client(served_copy):
    """fraud_detector v1 in Production (alias champion), v2 in Staging, on a fresh copy."""
    app_client = served_copy
    for _ in range(2):
        ok(app_client.post(f"{API}/models/fraud_detector/versions",
                           json={"source": "s3://models/fraud/1"}), 201)
    for version, stage in ((1, "Staging"), (1, "Production"), (2, "Staging")):
        ok(move(app_client, version, stage, reason="setup"))
    ok(app_client.put(f"{API}/models/fraud_detector/aliases/champion", json={"version": 1}), 204)
    return app_client


def ok(response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def move(client, version: int, stage: str, **body: Any):
    return client.post(f"{API}/models/fraud_detector/versions/{version}/transition",
                       json={"stage": stage, **body})


def consumers(client, **params: Any) -> list[dict[str, Any]]:
    return ok(client.get(f"{API}/models/fraud_detector/consumers", params=params))["consumers"]


def served(client) -> set[tuple[str, str, int]]:
    return {(c["consumer"], c["uri"], c["version"]) for c in consumers(client)}


def test_resolve_with_the_header_records_the_consumer(client):
    resolved = ok(client.get(f"{API}/resolve", params={"uri": PROD},
                             headers={HEADER: "checkout-api/eu"}))
    assert resolved["version"]["version"] == 1
    (record,) = consumers(client)
    assert record["consumer"] == "checkout-api/eu" and record["uri"] == PROD
    assert (record["version"], record["expected"], record["status"], record["live"]) == (
        1, 1, "current", True)


def test_a_bad_consumer_header_is_a_400_in_the_envelope_and_records_nothing(client):
    response = client.get(f"{API}/resolve", params={"uri": PROD},
                          headers={HEADER: "Checkout API"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "consumer.invalid" and error["hint"]
    assert consumers(client) == []


def test_an_explicit_report_and_the_stage_convergence(client):
    ok(client.post(f"{API}/consumers/report",
                   json={"consumer": "checkout-api/eu", "uri": PROD}))
    record = ok(client.post(f"{API}/consumers/report",
                            json={"consumer": "checkout-api/us", "uri": PROD, "version": 2}))
    assert (record["version"], record["expected"], record["status"]) == (2, 1, "lagging")
    view = ok(client.get(f"{API}/models/fraud_detector/consumers"))
    assert view["stages"] == [{"stage": "Production", "version": 1, "converged": False,
                               "current": ["checkout-api/eu"],
                               "lagging": ["checkout-api/us"]}]
    assert view["expire_after_seconds"] == 86400


def test_a_report_body_with_unknown_fields_or_a_bad_version_is_refused(client):
    assert client.post(f"{API}/consumers/report",
                       json={"consumer": "a", "uri": PROD, "verison": 2}).status_code == 400
    response = client.post(f"{API}/consumers/report",
                           json={"consumer": "a", "uri": PROD, "version": 9})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "version.not_found"


def test_mlflow_lookups_with_the_header_record_stage_alias_and_number_uris(client):
    eu = {HEADER: "checkout-api/eu"}
    latest = ok(client.post(f"{MLFLOW}/registered-models/get-latest-versions",
                            json={"name": "fraud_detector", "stages": ["Production"]},
                            headers=eu))
    assert latest["model_versions"][0]["version"] == "1"
    # MLflow's next step, the number's download URI, is part of the same lookup
    ok(client.get(f"{MLFLOW}/model-versions/get-download-uri",
                  params={"name": "fraud_detector", "version": "1"}, headers=eu))
    ok(client.get(f"{MLFLOW}/registered-models/alias",
                  params={"name": "fraud_detector", "alias": "champion"},
                  headers={HEADER: "fraud-review"}))
    ok(client.get(f"{MLFLOW}/model-versions/get",
                  params={"name": "fraud_detector", "version": "2"},
                  headers={HEADER: "shadow/eu"}))
    assert served(client) == {("checkout-api/eu", PROD, 1),
                              ("fraud-review", "models:/fraud_detector@champion", 1),
                              ("shadow/eu", "models:/fraud_detector/2", 2)}


def test_an_mlflow_answer_from_the_cache_is_still_recorded(client):
    body = {"name": "fraud_detector", "stages": ["Production"]}
    for consumer in ("checkout-api/eu", "checkout-api/us"):  # the second is a cache hit
        ok(client.post(f"{MLFLOW}/registered-models/get-latest-versions", json=body,
                       headers={HEADER: consumer}))
    assert {c for c, _, _ in served(client)} == {"checkout-api/eu", "checkout-api/us"}


def test_a_bad_consumer_header_on_the_mlflow_surface_is_invalid_parameter_value(client):
    response = client.post(f"{MLFLOW}/registered-models/get-latest-versions",
                           json={"name": "fraud_detector"}, headers={HEADER: "a//b"})
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_archiving_a_served_version_is_409_naming_the_consumer_unless_forced(client):
    ok(client.post(f"{API}/consumers/report",
                   json={"consumer": "shadow/eu", "uri": "models:/fraud_detector/2"}))
    response = move(client, 2, "Archived", reason="rejected")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "version.served"
    assert error["details"]["consumers"] == ["shadow/eu"] and "shadow/eu" in error["message"]
    archived = ok(move(client, 2, "Archived", reason="rejected", force=True))
    assert archived["stage"] == "Archived"
    response = client.request("DELETE", f"{API}/models/fraud_detector/versions/2",
                              json={"reason": "cleanup"})
    assert response.status_code == 409
    ok(client.request("DELETE", f"{API}/models/fraud_detector/versions/2",
                      params={"force": "true"}, json={"reason": "cleanup"}), 204)
    actions = [e["action"] for e in ok(client.get(
        f"{API}/models/fraud_detector/history"))["events"]]
    assert actions.count("served_version_forced") == 2


def test_mlflow_archive_of_a_served_version_is_refused_too(client):
    ok(client.post(f"{API}/consumers/report",
                   json={"consumer": "shadow/eu", "uri": "models:/fraud_detector/2"}))
    response = client.post(f"{MLFLOW}/model-versions/transition-stage", json={
        "name": "fraud_detector", "version": "2", "stage": "Archived",
        "archive_existing_versions": False})
    assert response.status_code == 400  # MLflow has no 409: a refusal is a bad value
    assert "shadow/eu" in response.json()["message"]


def test_the_model_page_shows_who_serves_what_and_who_lags(client):
    for consumer, version in (("checkout-api/eu", 1), ("checkout-api/us", 2)):
        ok(client.post(f"{API}/consumers/report",
                       json={"consumer": consumer, "uri": PROD, "version": version}))
    page = client.get("/models/fraud_detector")
    assert page.status_code == 200
    section = page.text.split('id="h-consumers"', 1)[1].split("</section>", 1)[0]
    assert "1 of 2 switched" in section and "lagging: <strong>checkout-api/us</strong>" in section
    assert section.count("<tr>") == 3  # the header and one row per consumer
