"""Native REST v1, in process: the breadth of the routes and the one error envelope.

The app runs over a real service on a temporary SQLite home; no server process.
``test_every_route_answers_errors_in_the_one_envelope`` walks the app's route
table, so a new route is covered (and must document the envelope) the day it lands.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from charter.domain.errors import OUTCOMES

API = "/api/v1"


@pytest.fixture
def client(served_copy):
    return served_copy


def ok(response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def refused(response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"] and error["hint"], error
    return error


def register(client, name: str = "fraud_detector", source: str = "s3://models/fraud/1",
             **extra: Any) -> dict[str, Any]:
    return ok(client.post(f"{API}/models/{name}/versions", json={"source": source, **extra}),
              201)


def move(client, version: int, stage: str, name: str = "fraud_detector", **extra: Any):
    return client.post(f"{API}/models/{name}/versions/{version}/transition",
                       json={"stage": stage, **extra})


def to_production(client, version: int, name: str = "fraud_detector", **extra: Any) -> None:
    ok(move(client, version, "Staging", name))
    ok(move(client, version, "Production", name, reason="ship", **extra))


# ---- models ---------------------------------------------------------------------------

def test_create_get_and_describe_a_model(client):
    created = ok(client.post(f"{API}/models", json={
        "name": "fraud_detector", "description": "card fraud", "tags": {"team": "payments"}}),
        201)
    assert created["name"] == "fraud_detector" and created["tags"] == {"team": "payments"}
    assert created["version_count"] == 0 and created["stages"] == {}
    datetime.fromisoformat(created["created_at"])

    updated = ok(client.patch(f"{API}/models/fraud_detector",
                              json={"description": "card-not-present fraud", "reason": "scope"}))
    assert updated["description"] == "card-not-present fraud"
    assert ok(client.get(f"{API}/models/Fraud_Detector"))["name"] == "fraud_detector"


def test_creating_a_taken_name_is_409_exists(client):
    ok(client.post(f"{API}/models", json={"name": "fraud_detector"}), 201)
    error = refused(client.post(f"{API}/models", json={"name": "fraud_detector"}), 409,
                    "model.exists")
    assert error["kind"] == "exists"


def test_a_bad_name_is_refused_with_the_suggested_fix(client):
    error = refused(client.post(f"{API}/models", json={"name": "fraud_detector_v2"}), 400,
                    "name.invalid")
    assert error["kind"] == "invalid"
    assert "fraud_detector" in error["hint"]
    assert error["details"]["suggested_name"] == "fraud_detector"
    assert ok(client.get(f"{API}/models"))["models"] == []


def test_listing_models_pages_with_a_token_and_filters_by_substring(client):
    for name in ("churn_forecast", "fraud_detector", "payments_risk_model",
                 "recommendation_ranking", "lending_credit_score"):
        ok(client.post(f"{API}/models", json={"name": name}), 201)
    first = ok(client.get(f"{API}/models", params={"max_results": 2}))
    assert [m["name"] for m in first["models"]] == ["churn_forecast", "fraud_detector"]
    second = ok(client.get(f"{API}/models", params={"max_results": 2,
                                                     "page_token": first["next_page_token"]}))
    assert [m["name"] for m in second["models"]] == ["lending_credit_score",
                                                      "payments_risk_model"]
    third = ok(client.get(f"{API}/models", params={"max_results": 2,
                                                    "page_token": second["next_page_token"]}))
    assert [m["name"] for m in third["models"]] == ["recommendation_ranking"]
    assert third["next_page_token"] == ""
    found = ok(client.get(f"{API}/models", params={"name_like": "RISK"}))["models"]
    assert [m["name"] for m in found] == ["payments_risk_model"]
    refused(client.get(f"{API}/models", params={"page_token": "nope"}), 400, "page_token.invalid")
    refused(client.get(f"{API}/models", params={"max_results": 0}), 400, "max_results.invalid")


def test_renaming_keeps_the_old_name_resolving(client):
    register(client)
    renamed = ok(client.post(f"{API}/models/fraud_detector/rename",
                             json={"new_name": "fraud_detection_binary", "reason": "clarity"}))
    assert renamed["name"] == "fraud_detection_binary"
    assert renamed["redirects"] == ["fraud_detector"]
    assert ok(client.get(f"{API}/models/fraud_detector"))["name"] == "fraud_detection_binary"
    resolved = ok(client.get(f"{API}/resolve", params={"uri": "models:/fraud_detector/1"}))
    assert resolved["version"]["name"] == "fraud_detection_binary" and resolved["warnings"]
    refused(client.post(f"{API}/models", json={"name": "fraud_detector"}), 409,
            "name.redirected")


def test_model_tags_are_set_replaced_and_deleted_even_with_slashes_in_the_key(client):
    ok(client.post(f"{API}/models", json={"name": "fraud_detector"}), 201)
    ok(client.put(f"{API}/models/fraud_detector/tags/team", json={"value": "payments"}), 204)
    ok(client.put(f"{API}/models/fraud_detector/tags/team", json={"value": "risk"}), 204)
    ok(client.put(f"{API}/models/fraud_detector/tags/mlflow.note%2Fsource",
                  json={"value": "x"}), 204)
    assert ok(client.get(f"{API}/models/fraud_detector"))["tags"] == {
        "team": "risk", "mlflow.note/source": "x"}
    ok(client.delete(f"{API}/models/fraud_detector/tags/mlflow.note%2Fsource"), 204)
    refused(client.delete(f"{API}/models/fraud_detector/tags/mlflow.note%2Fsource"), 404,
            "tag.not_found")
    refused(client.put(f"{API}/models/fraud_detector/tags/team", json={"value": "a\x00b"}),
            400, "request.invalid_text")  # refused at the input boundary


def test_deleting_a_model_needs_a_reason_from_the_body_or_the_query(client):
    ok(client.post(f"{API}/models", json={"name": "fraud_detector"}), 201)
    ok(client.post(f"{API}/models", json={"name": "churn_forecast"}), 201)
    refused(client.delete(f"{API}/models/fraud_detector"), 400, "reason.required")
    ok(client.request("DELETE", f"{API}/models/fraud_detector",
                      json={"reason": "replaced by payments_risk_model"}), 204)
    ok(client.delete(f"{API}/models/churn_forecast", params={"reason": "unused"}), 204)
    refused(client.get(f"{API}/models/fraud_detector"), 404, "model.not_found")


def test_a_model_with_a_live_version_cannot_be_deleted(client):
    register(client)
    ok(move(client, 1, "Staging"))
    error = refused(client.request("DELETE", f"{API}/models/fraud_detector",
                                   json={"reason": "cleanup"}), 409, "model.not_deletable")
    assert error["kind"] == "conflict" and error["details"]["live"] == [1]


def test_a_deleted_name_keeps_counting_versions(client):
    register(client)
    register(client)
    ok(move(client, 1, "Staging"))
    ok(move(client, 1, "Archived"))
    ok(client.delete(f"{API}/models/fraud_detector", params={"reason": "restart"}), 204)
    assert register(client)["version"] == 3


# ---- versions -------------------------------------------------------------------------

def test_register_assigns_numbers_and_lists_by_stage(client):
    first = register(client, description="baseline", tags={"algorithm": "xgboost"})
    assert (first["version"], first["stage"], first["uri"]) == (1, "None",
                                                                 "models:/fraud_detector/1")
    assert first["tags"] == {"algorithm": "xgboost"} and first["status"] == "READY"
    assert register(client, run_id="abc", source="runs:/abc/model")["version"] == 2
    ok(move(client, 2, "staging"))
    listed = ok(client.get(f"{API}/models/fraud_detector/versions"))["versions"]
    assert [v["version"] for v in listed] == [2, 1]
    staged = ok(client.get(f"{API}/models/fraud_detector/versions",
                           params={"stage": "STAGING"}))["versions"]
    assert [(v["version"], v["stage"]) for v in staged] == [(2, "Staging")]
    assert ok(client.get(f"{API}/models/fraud_detector/versions/v2"))["run_id"] == "abc"


def test_register_refuses_a_source_outside_the_allow_list_and_changes_nothing(client):
    for source in ("s3://bucket/../etc/passwd", "file:///etc/passwd", "http://evil/x"):
        error = refused(client.post(f"{API}/models/fraud_detector/versions",
                                    json={"source": source}), 400, "source.refused")
        assert error["kind"] == "invalid"
    refused(client.get(f"{API}/models/fraud_detector"), 404, "model.not_found")


def test_register_without_create_model_needs_the_model(client):
    refused(client.post(f"{API}/models/fraud_detector/versions",
                        json={"source": "s3://models/fraud/1", "create_model": False}), 404,
            "model.not_found")


def test_version_description_and_tags(client):
    register(client)
    updated = ok(client.patch(f"{API}/models/fraud_detector/versions/1",
                              json={"description": "AUC 0.91"}))
    assert updated["description"] == "AUC 0.91"
    ok(client.put(f"{API}/models/fraud_detector/versions/1/tags/owner", json={"value": "maria"}),
       204)
    assert ok(client.get(f"{API}/models/fraud_detector/versions/1"))["tags"] == {
        "owner": "maria"}
    ok(client.delete(f"{API}/models/fraud_detector/versions/1/tags/owner"), 204)
    refused(client.delete(f"{API}/models/fraud_detector/versions/1/tags/owner"), 404,
            "tag.not_found")
    refused(client.get(f"{API}/models/fraud_detector/versions/7"), 404, "version.not_found")
    refused(client.get(f"{API}/models/fraud_detector/versions/seven"), 400, "version.invalid")


def test_aliases_point_at_versions_and_refuse_stage_words(client):
    register(client)
    register(client)
    ok(client.put(f"{API}/models/fraud_detector/aliases/champion", json={"version": 1}), 204)
    ok(client.put(f"{API}/models/fraud_detector/aliases/champion", json={"version": "v2"}), 204)
    assert ok(client.get(f"{API}/models/fraud_detector/aliases/Champion"))["version"] == 2
    assert ok(client.get(f"{API}/models/fraud_detector"))["aliases"] == {"champion": 2}
    assert ok(client.get(f"{API}/models/fraud_detector/versions/2"))["aliases"] == ["champion"]
    resolved = ok(client.get(f"{API}/resolve", params={"uri": "models:/fraud_detector@champion"}))
    assert resolved["version"]["version"] == 2
    refused(client.put(f"{API}/models/fraud_detector/aliases/production", json={"version": 1}),
            400, "alias.invalid")
    ok(client.delete(f"{API}/models/fraud_detector/aliases/champion"), 204)
    refused(client.get(f"{API}/models/fraud_detector/aliases/champion"), 404, "alias.not_found")


def test_a_version_is_deleted_only_from_archived_and_with_a_reason(client):
    register(client)
    refused(client.delete(f"{API}/models/fraud_detector/versions/1", params={"reason": "x"}),
            409, "version.not_deletable")
    ok(move(client, 1, "Staging"))
    ok(move(client, 1, "Archived", reason="rejected"))
    refused(client.delete(f"{API}/models/fraud_detector/versions/1"), 400, "reason.required")
    ok(client.request("DELETE", f"{API}/models/fraud_detector/versions/1",
                      json={"reason": "leaked training data"}), 204)
    assert register(client)["version"] == 2


# ---- stages ---------------------------------------------------------------------------

def test_promoting_into_a_taken_production_needs_archive_existing(client):
    register(client)
    register(client)
    to_production(client, 1)
    ok(move(client, 2, "Staging"))
    error = refused(move(client, 2, "Production"), 409, "stage.production_taken")
    assert error["kind"] == "conflict" and "archive_existing" in error["hint"]
    assert ok(client.get(f"{API}/models/fraud_detector"))["stages"] == {
        "Production": [1], "Staging": [2]}
    promoted = ok(move(client, 2, "Production", archive_existing=True, reason="better AUC"))
    assert promoted["stage"] == "Production"
    assert ok(client.get(f"{API}/models/fraud_detector/versions/1"))["stage"] == "Archived"


def test_an_illegal_transition_names_the_allowed_moves(client):
    register(client)
    error = refused(move(client, 1, "Production"), 409, "stage.illegal_transition")
    assert error["details"]["allowed"] == ["Staging"]
    refused(move(client, 1, "Shipping"), 400, "stage.unknown")


def test_the_production_precondition_refuses_a_stale_release_job(client):
    for _ in range(3):
        register(client)
    to_production(client, 1)
    ok(move(client, 2, "Staging"))
    ok(move(client, 3, "Staging"))
    error = refused(move(client, 2, "Production", archive_existing=True,
                         expect_production=None), 409, "stage.precondition_failed")
    assert error["details"] == {"expected": None, "actual": 1}
    ok(move(client, 2, "Production", archive_existing=True, expect_production=1))
    refused(move(client, 3, "Production", archive_existing=True, expect_production=1), 409,
            "stage.precondition_failed")


def test_rollback_restores_the_previous_production_version(client):
    register(client)
    register(client)
    to_production(client, 1)
    to_production(client, 2, archive_existing=True)
    refused(client.post(f"{API}/models/fraud_detector/rollback", json={"reason": ""}), 400,
            "reason.required")
    restored = ok(client.post(f"{API}/models/fraud_detector/rollback",
                              json={"reason": "latency regression in v2"}))
    assert (restored["version"], restored["stage"]) == (1, "Production")
    assert ok(client.get(f"{API}/models/fraud_detector/versions/2"))["stage"] == "Staging"
    events = ok(client.get(f"{API}/models/fraud_detector/history"))["events"][-2:]
    assert [(e["action"], e["version"], e["to_stage"]) for e in events] == [
        ("rolled_back", 2, "Staging"), ("rolled_back", 1, "Production")]
    assert events[0]["correlation_id"] == events[1]["correlation_id"]


def test_latest_versions_per_stage(client):
    for _ in range(3):
        register(client)
    ok(move(client, 2, "Staging"))
    ok(move(client, 3, "Staging"))
    latest = ok(client.get(f"{API}/models/fraud_detector/latest",
                           params=[("stage", "Staging"), ("stage", "Production")]))["versions"]
    assert [(v["version"], v["stage"]) for v in latest] == [(3, "Staging")]
    every = ok(client.get(f"{API}/models/fraud_detector/latest"))["versions"]
    assert {(v["version"], v["stage"]) for v in every} == {(1, "None"), (3, "Staging")}


# ---- resolve, history, events, audit, lint --------------------------------------------

def test_resolve_now_and_as_of_a_past_time(client):
    register(client)
    register(client)
    to_production(client, 1)
    time.sleep(0.01)
    between = datetime.now(UTC)
    time.sleep(0.01)
    to_production(client, 2, archive_existing=True)
    now = ok(client.get(f"{API}/resolve", params={"uri": "models:/fraud_detector/Production"}))
    assert now["version"]["version"] == 2 and now["artifact_location"] == "s3://models/fraud/1"
    past = ok(client.get(f"{API}/resolve", params={"uri": "models:/fraud_detector/Production",
                                                   "as_of": between.isoformat()}))
    assert past["version"]["version"] == 1
    refused(client.get(f"{API}/resolve", params={"uri": "models:/fraud_detector/Staging"}),
            404, "stage.empty")
    refused(client.get(f"{API}/resolve", params={"uri": "fraud_detector"}), 400, "uri.invalid")
    refused(client.get(f"{API}/resolve", params={"uri": "models:/fraud_detector/1",
                                                 "as_of": "yesterday"}), 400, "request.invalid")


def test_history_and_the_event_feed_record_who_did_what_and_why(client):
    register(client, reason="first model")
    ok(client.post(f"{API}/models/fraud_detector/versions/1/transition",
                   json={"stage": "Staging", "reason": "validate"},
                   headers={"X-Charter-Actor": "maria"}))
    history = ok(client.get(f"{API}/models/fraud_detector/history"))["events"]
    assert [e["action"] for e in history] == ["model_created", "version_registered",
                                              "stage_changed"]
    last = history[-1]
    assert (last["actor"], last["reason"], last["from_stage"], last["to_stage"]) == (
        "maria (unverified)", "validate", "None", "Staging")
    assert ok(client.get(f"{API}/models/fraud_detector/history",
                         params={"version": 1}))["events"]
    feed = ok(client.get(f"{API}/events", params={"after": 0, "limit": 2}))["events"]
    assert [e["seq"] for e in feed] == [1, 2]
    rest = ok(client.get(f"{API}/events", params={"after": 2}))["events"]
    assert [e["seq"] for e in rest] == list(range(3, 3 + len(rest)))
    refused(client.get(f"{API}/events", params={"limit": 0}), 400, "request.invalid")


def test_audit_verify_walks_the_whole_chain(client):
    register(client)
    ok(move(client, 1, "Staging"))
    report = ok(client.get(f"{API}/audit/verify"))
    assert report["ok"] is True and report["events_checked"] >= 3
    assert report["first_bad_seq"] is None


def test_audit_verify_walks_on_from_the_remembered_point_and_full_walks_all(client):
    register(client)
    first = ok(client.get(f"{API}/audit/verify"))
    assert first["ok"] and first["verified_from"] == 0
    ok(move(client, 1, "Staging"))
    again = ok(client.get(f"{API}/audit/verify"))
    assert again["ok"] and again["verified_from"] == first["events_checked"]
    assert again["events_checked"] == first["events_checked"] + 1 and again["verified_at"]
    full = ok(client.get(f"{API}/audit/verify", params={"full": "true"}))
    assert full["ok"] and full["verified_from"] == 0
    point = ok(client.get(f"{API}/audit/verified"))
    assert point["seq"] == point["full_seq"] == full["events_checked"] and point["full_time"]


def test_lint_reports_findings_for_several_names(client):
    results = ok(client.get(f"{API}/lint", params=[("name", "fraud_detection_binary"),
                                                   ("name", "fraud_detector_v2")]))["results"]
    assert [(r["name"], r["ok"]) for r in results] == [("fraud_detection_binary", True),
                                                       ("fraud_detector_v2", False)]
    assert results[1]["findings"][0]["code"] == "name.version_marker"
    refused(client.get(f"{API}/lint"), 400, "request.invalid")


# ---- request shape --------------------------------------------------------------------

def test_unknown_fields_and_malformed_json_are_400_and_change_nothing(client):
    register(client)
    ok(move(client, 1, "Staging"))
    error = refused(move(client, 1, "Production", archiveExisting=True), 400, "request.invalid")
    assert any("archiveExisting" in p for p in error["details"]["problems"])
    refused(client.post(f"{API}/models/fraud_detector/versions/1/transition",
                        content=b"{not json", headers={"Content-Type": "application/json"}),
            400, "request.invalid_json")
    assert ok(client.get(f"{API}/models/fraud_detector/versions/1"))["stage"] == "Staging"


def test_unknown_routes_and_wrong_methods_answer_the_envelope(client):
    refused(client.get(f"{API}/modelz"), 404, "route.not_found")
    response = client.post(f"{API}/audit/verify")
    refused(response, 405, "method.not_allowed")
    assert response.headers["allow"] == "GET"


def test_openapi_documents_every_v1_route(client):
    spec = ok(client.get(f"{API}/openapi.json"))
    documented = {(path, method.upper()) for path, ops in spec["paths"].items()
                  for method in ops}
    for path, methods in v1_routes(client.app):
        for method in methods:
            assert (openapi_path(path), method) in documented


def test_docs_rest_md_describes_every_route_and_nothing_else(client):
    text = (Path(__file__).parents[2] / "docs" / "rest.md").read_text()
    documented = set(re.findall(r"^### `([A-Z]+) (/api/v1/\S+)`$", text, re.MULTILINE))
    served = {(method, openapi_path(path)) for path, methods in v1_routes(client.app)
              for method in methods}
    assert documented - {("GET", f"{API}/openapi.json")} == served


# ---- the error-shape contract ---------------------------------------------------------

ENVELOPE_KEYS = {"kind", "code", "message", "hint"}
PATH_VALUES = {"name": "no_such_model", "version": "1", "key": "team", "alias": "champion",
               "path": "data/model.pkl", "upload_id": "0" * 32,
               "token_id": "999999", "user": "nobody", "webhook": "999999",
               "delivery": "999999", "sha256": "0" * 64}
BODY_VALUES: dict[str, Any] = {
    "name": "Model V2!", "new_name": "fraud_detection_binary", "source": "s3://models/fraud/1",
    "description": "d", "reason": "because", "value": "v", "version": 1, "stage": "Staging",
    "url": "http://127.0.0.1:9/hook", "comment": "because",
    "files": [{"path": "model.pkl", "size": 1, "sha256": "0" * 64}],
    "role": "reader", "signature": "{}", "document": "{}",
    "interface": {"inputs": [{"name": "amount", "type": "double"}]},
    "consumer": "Not A Consumer!", "uri": "models:/fraud_detector/Production",
}


def v1_routes(app) -> list[tuple[str, set[str]]]:
    """(path template, methods) of every v1 route, however FastAPI nests routers."""
    try:
        from fastapi.routing import iter_route_contexts
        routes: Any = iter_route_contexts(app.routes)
    except ImportError:  # FastAPI before lazy router inclusion: the table is flat
        routes = app.routes
    found = []
    for route in routes:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if not path or not methods or not path.startswith(API + "/"):
            continue
        if path.endswith("{rest:path}") or path.startswith(API + "/openapi") or \
                path.startswith(API + "/docs"):
            continue
        found.append((path, set(methods) - {"HEAD"}))
    return found


def openapi_path(path: str) -> str:
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PATH_VALUES[m.group(1)], path)


def provocations(spec: dict[str, Any], path: str, method: str) -> list[dict[str, Any]]:
    """Requests that must fail: unknown model, bad parameters, a wrong method."""
    operation = spec["paths"][openapi_path(path)][method.lower()]
    url = concrete(path)
    body = example_body(spec, operation)
    tries: list[dict[str, Any]] = [{"method": method, "url": url, "json": body}]
    numeric = [p["name"] for p in operation.get("parameters", [])
               if p["in"] == "query" and "integer" in str(p["schema"])]
    if numeric:
        tries.append({"method": method, "url": url, "json": body,
                      "params": {n: "not-a-number" for n in numeric}})
    if body is not None:
        tries.append({"method": method, "url": url, "content": b"[1,",
                      "headers": {"Content-Type": "application/json"}})
    wrong = next(m for m in ("PATCH", "PUT", "POST", "DELETE", "GET")
                 if m not in methods_of(spec, path))
    tries.append({"method": wrong, "url": url})
    return tries


def methods_of(spec: dict[str, Any], path: str) -> set[str]:
    return {m.upper() for m in spec["paths"][openapi_path(path)]}


def example_body(spec: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    if "requestBody" not in operation:
        return None
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" not in schema:  # an optional body: anyOf [the model, null]
        schema = next(s for s in schema["anyOf"] if "$ref" in s)
    ref = schema["$ref"]
    schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return {field: BODY_VALUES[field] for field in schema.get("required", [])}


def test_every_route_answers_errors_in_the_one_envelope(client):
    spec = client.get(f"{API}/openapi.json").json()
    routes = v1_routes(client.app)
    assert len(routes) >= 20
    for path, methods in routes:
        for method in methods:
            operation = spec["paths"][openapi_path(path)][method.lower()]
            assert "422" not in operation["responses"], (method, path)
            for status in ("400", "404", "409", "4XX"):
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                assert schema["$ref"].endswith("/ErrorEnvelope"), (method, path, status)
            statuses = []
            for request in provocations(spec, path, method):
                response = client.request(**request)
                if response.status_code < 400:
                    continue
                statuses.append(response.status_code)
                assert_envelope(response, f"{request['method']} {request['url']}")
            assert statuses, f"no provocation made {method} {path} fail"


def assert_envelope(response, label: str) -> None:
    body = response.json()
    assert set(body) == {"error"}, (label, body)
    error = body["error"]
    assert ENVELOPE_KEYS <= set(error) <= ENVELOPE_KEYS | {"details", "request_id"}, (label, error)
    assert error["request_id"] == response.headers["x-request-id"], (label, error)
    assert all(isinstance(error[k], str) for k in ENVELOPE_KEYS), (label, error)
    assert error["code"] and error["message"] and error["kind"], (label, error)
    assert re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", error["code"]), (label, error["code"])
    expected = 405 if error["code"] == "method.not_allowed" else OUTCOMES[error["kind"]].http_status
    assert response.status_code == expected, (label, response.status_code, error)
    assert response.status_code < 500, (label, error)
