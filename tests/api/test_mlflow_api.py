"""The MLflow Model Registry REST 2.0 surface, in process: shapes, semantics, error codes.

The app runs over a real service on a temporary SQLite home (the search semantics
also on PostgreSQL); no server process. Requests are sent the way MLflow's client
sends them: GET parameters in the query string (lists as repeated keys), every
other method a JSON body.
"""

from __future__ import annotations

import base64
import warnings
from typing import Any

import pytest

from charter.api.mlflow.routes import ENDPOINTS, MLFLOW_REASON, PREFIXES
from charter.bootstrap import build_service
from charter.config import Settings
from charter.domain import events
from charter.server.app import create_app

with warnings.catch_warnings():  # starlette nudges towards httpx2; the client still works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

API = "/api/2.0/mlflow"
RUN = "0123456789abcdef0123456789abcdef"
SOURCE = f"runs:/{RUN}/model"

MODEL_KEYS = {"name", "creation_timestamp", "last_updated_timestamp", "description",
              "latest_versions", "tags", "aliases"}
VERSION_KEYS = {"name", "version", "creation_timestamp", "last_updated_timestamp",
                "current_stage", "description", "source", "run_id", "status", "tags",
                "run_link", "aliases"}


class Mlflow:
    """A thin caller that speaks the wire format of MLflow's REST client."""

    def __init__(self, client: TestClient, prefix: str = API) -> None:
        self.client = client
        self.prefix = prefix
        self.service = client.app.state.service  # type: ignore[attr-defined]

    def call(self, method: str, path: str, **params: Any):  # type: ignore[no-untyped-def]
        url = self.prefix + path
        if method == "GET":
            return self.client.get(url, params={k: v for k, v in params.items()
                                                if v is not None})
        return self.client.request(method, url, json=params)

    def get(self, path: str, **params: Any):  # type: ignore[no-untyped-def]
        return self.call("GET", path, **params)

    def post(self, path: str, **params: Any):  # type: ignore[no-untyped-def]
        return self.call("POST", path, **params)

    def patch(self, path: str, **params: Any):  # type: ignore[no-untyped-def]
        return self.call("PATCH", path, **params)

    def delete(self, path: str, **params: Any):  # type: ignore[no-untyped-def]
        return self.call("DELETE", path, **params)

    # conveniences
    def create_model(self, name: str = "fraud_detector", **extra: Any) -> dict[str, Any]:
        return ok(self.post("/registered-models/create", name=name, **extra))["registered_model"]

    def create_version(self, name: str = "fraud_detector", source: str = SOURCE,
                       **extra: Any) -> dict[str, Any]:
        extra.setdefault("run_id", RUN if source == SOURCE else None)
        body = {k: v for k, v in extra.items() if v is not None}
        return ok(self.post("/model-versions/create", name=name, source=source,
                            **body))["model_version"]

    def transition(self, version: str, stage: str, name: str = "fraud_detector",
                   **extra: Any):  # type: ignore[no-untyped-def]
        return self.post("/model-versions/transition-stage", name=name, version=version,
                         stage=stage, **extra)

    def stage_of(self, version: str, name: str = "fraud_detector") -> str:
        return ok(self.get("/model-versions/get", name=name,
                           version=version))["model_version"]["current_stage"]


def ok(response, status: int = 200) -> Any:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def refused(response, status: int, error_code: str, charter_code: str | None = None
            ) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == error_code, body
    assert body["message"], body
    if charter_code is not None:
        assert body["charter_code"] == charter_code, body
    return body["message"]


def build_client(settings: Settings):  # type: ignore[no-untyped-def]
    service = build_service(settings, actor="test")
    return service, TestClient(create_app(service, settings))


@pytest.fixture
def mlflow(sqlite_database_url, make_settings):  # type: ignore[no-untyped-def]
    service, client = build_client(make_settings(sqlite_database_url))
    with client:
        yield Mlflow(client)
    service.db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db(request, make_settings):  # type: ignore[no-untyped-def]
    """The search semantics on both databases, with names outside the policy allowed."""
    url = request.getfixturevalue(f"{request.param}_database_url")
    service, client = build_client(make_settings(url, naming_mode="off"))
    with client:
        yield Mlflow(client)
    service.db.dispose()


# --- registered models ---------------------------------------------------------------------


def test_create_and_get_answer_mlflows_registered_model_shape(mlflow):
    created = mlflow.create_model(description="Scores card payments",
                                  tags=[{"key": "team", "value": "fraud"},
                                        {"key": "owner", "value": "@meera"}])
    assert set(created) == MODEL_KEYS
    assert created["name"] == "fraud_detector"
    assert created["description"] == "Scores card payments"
    assert created["latest_versions"] == [] and created["aliases"] == []
    assert sorted(created["tags"], key=lambda t: t["key"]) == [
        {"key": "owner", "value": "@meera"}, {"key": "team", "value": "fraud"}]
    assert isinstance(created["creation_timestamp"], int)
    assert created["creation_timestamp"] > 1_600_000_000_000  # milliseconds

    got = ok(mlflow.get("/registered-models/get", name="fraud_detector"))["registered_model"]
    assert got == created


def test_get_of_a_missing_model_is_resource_does_not_exist(mlflow):
    mlflow.create_model()
    message = refused(mlflow.get("/registered-models/get", name="fraud_detecter"), 404,
                      "RESOURCE_DOES_NOT_EXIST", "model.not_found")
    assert "fraud_detecter" in message and "did you mean 'fraud_detector'" in message


def test_names_are_unique_regardless_of_case(mlflow):
    mlflow.create_model()
    refused(mlflow.post("/registered-models/create", name="fraud_detector"), 400,
            "RESOURCE_ALREADY_EXISTS", "model.exists")


@pytest.mark.parametrize("name, says", [
    ("fraud_detector_v2", "version marker"),
    ("fraud_xgboost", "xgboost"),
    ("model", ""),
    ("Fraud-Detector", ""),
])
def test_a_bad_name_is_invalid_parameter_value_with_our_explanation(mlflow, name, says):
    message = refused(mlflow.post("/registered-models/create", name=name), 400,
                      "INVALID_PARAMETER_VALUE", "name.invalid")
    assert says in message
    if name == "fraud_detector_v2":
        assert "fraud_detector'" in message  # the suggestion rides in the message


def test_rename_keeps_the_old_name_resolving_and_checks_the_new_one(mlflow):
    mlflow.create_model("fraud_detector")
    mlflow.create_version()
    renamed = ok(mlflow.post("/registered-models/rename", name="fraud_detector",
                             new_name="payments_fraud_detector"))["registered_model"]
    assert renamed["name"] == "payments_fraud_detector"
    assert [v["version"] for v in renamed["latest_versions"]] == ["1"]
    old = ok(mlflow.get("/registered-models/get", name="fraud_detector"))["registered_model"]
    assert old["name"] == "payments_fraud_detector"
    refused(mlflow.post("/registered-models/rename", name="payments_fraud_detector",
                        new_name="fraud_final"), 400, "INVALID_PARAMETER_VALUE", "name.invalid")


def test_update_sets_the_description(mlflow):
    mlflow.create_model()
    updated = ok(mlflow.patch("/registered-models/update", name="fraud_detector",
                              description="v2 of the card model"))["registered_model"]
    assert updated["description"] == "v2 of the card model"
    assert updated["last_updated_timestamp"] >= updated["creation_timestamp"]


def test_model_tags_set_and_delete(mlflow):
    mlflow.create_model()
    assert ok(mlflow.post("/registered-models/set-tag", name="fraud_detector", key="team",
                          value="fraud")) == {}
    ok(mlflow.post("/registered-models/set-tag", name="fraud_detector", key="team",
                   value="risk"))
    got = ok(mlflow.get("/registered-models/get", name="fraud_detector"))["registered_model"]
    assert got["tags"] == [{"key": "team", "value": "risk"}]
    assert ok(mlflow.delete("/registered-models/delete-tag", name="fraud_detector",
                            key="team")) == {}
    refused(mlflow.delete("/registered-models/delete-tag", name="fraud_detector", key="team"),
            404, "RESOURCE_DOES_NOT_EXIST", "tag.not_found")
    refused(mlflow.post("/registered-models/set-tag", name="fraud_detector", key="bad\nkey",
                        value="x"), 400, "INVALID_PARAMETER_VALUE", "tag.invalid")


def test_delete_model_refuses_live_versions_and_records_the_surface_as_reason(mlflow):
    mlflow.create_model()
    mlflow.create_version()
    ok(mlflow.transition("1", "Staging"))
    message = refused(mlflow.delete("/registered-models/delete", name="fraud_detector"), 400,
                      "INVALID_PARAMETER_VALUE", "model.not_deletable")
    assert "v1 (Staging)" in message
    ok(mlflow.transition("1", "Archived"))
    assert ok(mlflow.delete("/registered-models/delete", name="fraud_detector")) == {}
    refused(mlflow.get("/registered-models/get", name="fraud_detector"), 404,
            "RESOURCE_DOES_NOT_EXIST")
    deleted = [e for e in mlflow.service.events(limit=1000) if e.action == events.MODEL_DELETED]
    assert [e.reason for e in deleted] == [MLFLOW_REASON]


# --- model versions ------------------------------------------------------------------------


def test_create_version_accepts_a_runs_source_without_looking_it_up(mlflow):
    mlflow.create_model()
    version = mlflow.create_version(description="Improved recall",
                                    tags=[{"key": "algorithm", "value": "xgboost"}])
    assert set(version) == VERSION_KEYS
    assert version["version"] == "1" and isinstance(version["version"], str)
    assert version["status"] == "READY"
    assert version["current_stage"] == "None"
    assert version["source"] == SOURCE and version["run_id"] == RUN
    assert version["tags"] == [{"key": "algorithm", "value": "xgboost"}]
    assert version["run_link"] == "" and version["aliases"] == []
    assert mlflow.create_version()["version"] == "2"


def test_create_version_does_not_create_the_model(mlflow):
    refused(mlflow.post("/model-versions/create", name="fraud_detector", source=SOURCE,
                        run_id=RUN), 404, "RESOURCE_DOES_NOT_EXIST")
    refused(mlflow.get("/registered-models/get", name="fraud_detector"), 404,
            "RESOURCE_DOES_NOT_EXIST")


def test_create_version_under_a_missing_badly_named_model_says_it_does_not_exist(mlflow):
    # As MLflow answers: the model is missing; its name is judged when it is created.
    refused(mlflow.post("/model-versions/create", name="fraud_detector_v2", source=SOURCE,
                        run_id=RUN), 404, "RESOURCE_DOES_NOT_EXIST", "model.not_found")


@pytest.mark.parametrize("source", [
    "file:///etc/passwd", "/etc/passwd", "runs:/abc/../../secret", "http://example.com/m",
    "runs:/otherrun/model",
])
def test_sources_outside_the_allow_list_are_refused(mlflow, source):
    mlflow.create_model()
    refused(mlflow.post("/model-versions/create", name="fraud_detector", source=source,
                        run_id=RUN), 400, "INVALID_PARAMETER_VALUE")


def test_get_update_and_download_uri(mlflow):
    mlflow.create_model()
    mlflow.create_version()
    got = ok(mlflow.get("/model-versions/get", name="fraud_detector", version="1"))
    assert got["model_version"]["source"] == SOURCE
    updated = ok(mlflow.patch("/model-versions/update", name="fraud_detector", version="1",
                              description="calibrated"))["model_version"]
    assert updated["description"] == "calibrated"
    uri = ok(mlflow.get("/model-versions/get-download-uri", name="fraud_detector", version="1"))
    assert uri == {"artifact_uri": SOURCE}
    refused(mlflow.get("/model-versions/get", name="fraud_detector", version="7"), 404,
            "RESOURCE_DOES_NOT_EXIST", "version.not_found")
    refused(mlflow.get("/model-versions/get", name="fraud_detector", version="seven"), 400,
            "INVALID_PARAMETER_VALUE", "version.invalid")


def test_version_tags_set_and_delete(mlflow):
    mlflow.create_model()
    mlflow.create_version()
    assert ok(mlflow.post("/model-versions/set-tag", name="fraud_detector", version="1",
                          key="team", value="fraud")) == {}
    got = ok(mlflow.get("/model-versions/get", name="fraud_detector", version="1"))
    assert got["model_version"]["tags"] == [{"key": "team", "value": "fraud"}]
    assert ok(mlflow.delete("/model-versions/delete-tag", name="fraud_detector", version="1",
                            key="team")) == {}
    refused(mlflow.delete("/model-versions/delete-tag", name="fraud_detector", version="1",
                          key="team"), 404, "RESOURCE_DOES_NOT_EXIST", "tag.not_found")


def test_delete_version_only_from_archived_with_the_surface_as_reason(mlflow):
    mlflow.create_model()
    mlflow.create_version()
    message = refused(mlflow.delete("/model-versions/delete", name="fraud_detector",
                                    version="1"), 400, "INVALID_PARAMETER_VALUE",
                      "version.not_deletable")
    assert "only Archived versions can be deleted" in message
    ok(mlflow.transition("1", "Staging"))
    ok(mlflow.transition("1", "Archived"))
    assert ok(mlflow.delete("/model-versions/delete", name="fraud_detector", version="1")) == {}
    refused(mlflow.get("/model-versions/get", name="fraud_detector", version="1"), 404,
            "RESOURCE_DOES_NOT_EXIST")
    assert mlflow.create_version()["version"] == "2"  # numbers are never reused
    deleted = [e for e in mlflow.service.events(limit=1000) if e.action == events.VERSION_DELETED]
    assert [e.reason for e in deleted] == [MLFLOW_REASON]


# --- stages --------------------------------------------------------------------------------


def test_transition_takes_the_stage_in_any_case(mlflow):
    mlflow.create_model()
    mlflow.create_version()
    moved = ok(mlflow.transition("1", "staging"))["model_version"]
    assert moved["current_stage"] == "Staging"
    moved = ok(mlflow.transition("1", "PRODUCTION"))["model_version"]
    assert moved["current_stage"] == "Production"


def test_a_forbidden_transition_names_the_allowed_moves(mlflow):
    mlflow.create_model()
    mlflow.create_version()
    message = refused(mlflow.transition("1", "Production"), 400, "INVALID_PARAMETER_VALUE",
                      "stage.illegal_transition")
    assert "cannot move from None to Production" in message
    assert "allowed moves are: Staging" in message
    assert mlflow.stage_of("1") == "None"
    refused(mlflow.transition("1", "Deployed"), 400, "INVALID_PARAMETER_VALUE", "stage.unknown")


@pytest.mark.parametrize("flag", [True, "true", "True"])
def test_a_second_production_needs_archive_existing_versions(mlflow, flag):
    mlflow.create_model()
    for _ in range(2):
        mlflow.create_version()
    for version in ("1", "2"):
        ok(mlflow.transition(version, "Staging"))
    ok(mlflow.transition("1", "Production"))
    message = refused(mlflow.transition("2", "Production", archive_existing_versions=False),
                      400, "INVALID_PARAMETER_VALUE", "stage.production_taken")
    assert "archive_existing=true" in message
    assert (mlflow.stage_of("1"), mlflow.stage_of("2")) == ("Production", "Staging")
    ok(mlflow.transition("2", "Production", archive_existing_versions=flag))
    assert (mlflow.stage_of("1"), mlflow.stage_of("2")) == ("Archived", "Production")


def test_archive_existing_versions_must_be_a_boolean(mlflow):
    mlflow.create_model()
    mlflow.create_version()
    refused(mlflow.transition("1", "Staging", archive_existing_versions="maybe"), 400,
            "INVALID_PARAMETER_VALUE", "request.invalid_parameter")


def test_get_latest_versions_by_post_and_get(mlflow):
    mlflow.create_model()
    for _ in range(4):
        mlflow.create_version()
    ok(mlflow.transition("1", "Staging"))
    ok(mlflow.transition("2", "Staging"))
    ok(mlflow.transition("2", "Production"))
    ok(mlflow.transition("3", "Staging"))

    def latest(method: str, **params: Any) -> list[tuple[str, str]]:
        body = ok(mlflow.call(method, "/registered-models/get-latest-versions",
                              name="fraud_detector", **params))
        return sorted((v["current_stage"], v["version"]) for v in body["model_versions"])

    assert latest("POST", stages=["Production"]) == [("Production", "2")]
    assert latest("GET", stages=["staging", "production"]) == [("Production", "2"),
                                                               ("Staging", "3")]
    assert latest("GET", stages="Staging") == [("Staging", "3")]
    assert latest("POST") == [("None", "4"), ("Production", "2"), ("Staging", "3")]
    assert latest("POST", stages=["Archived"]) == []  # an empty stage is an empty list
    refused(mlflow.post("/registered-models/get-latest-versions", name="fraud_detector",
                        stages=["Live"]), 400, "INVALID_PARAMETER_VALUE", "stage.unknown")
    refused(mlflow.post("/registered-models/get-latest-versions", name="nope"), 404,
            "RESOURCE_DOES_NOT_EXIST")

    model = ok(mlflow.get("/registered-models/get", name="fraud_detector"))["registered_model"]
    assert [(v["current_stage"], v["version"]) for v in model["latest_versions"]] == [
        ("None", "4"), ("Staging", "3"), ("Production", "2")]


# --- aliases -------------------------------------------------------------------------------


def test_aliases_set_get_and_delete(mlflow):
    mlflow.create_model()
    mlflow.create_version()
    mlflow.create_version()
    assert ok(mlflow.post("/registered-models/alias", name="fraud_detector", alias="champion",
                          version="1")) == {}
    got = ok(mlflow.get("/registered-models/alias", name="fraud_detector", alias="champion"))
    assert got["model_version"]["version"] == "1"
    assert got["model_version"]["aliases"] == ["champion"]
    model = ok(mlflow.get("/registered-models/get", name="fraud_detector"))["registered_model"]
    assert model["aliases"] == [{"alias": "champion", "version": "1"}]

    ok(mlflow.post("/registered-models/alias", name="fraud_detector", alias="champion",
                   version="2"))
    got = ok(mlflow.get("/registered-models/alias", name="fraud_detector", alias="champion"))
    assert got["model_version"]["version"] == "2"

    assert ok(mlflow.delete("/registered-models/alias", name="fraud_detector",
                            alias="champion")) == {}
    refused(mlflow.get("/registered-models/alias", name="fraud_detector", alias="champion"),
            404, "RESOURCE_DOES_NOT_EXIST", "alias.not_found")
    refused(mlflow.delete("/registered-models/alias", name="fraud_detector", alias="champion"),
            404, "RESOURCE_DOES_NOT_EXIST", "alias.not_found")


@pytest.mark.parametrize("alias", ["Production", "latest", "v3", "7", "has space"])
def test_aliases_that_read_as_stages_or_versions_are_refused(mlflow, alias):
    mlflow.create_model()
    mlflow.create_version()
    refused(mlflow.post("/registered-models/alias", name="fraud_detector", alias=alias,
                        version="1"), 400, "INVALID_PARAMETER_VALUE", "alias.invalid")


# --- search --------------------------------------------------------------------------------


def names(body: dict[str, Any], key: str = "registered_models") -> list[str]:
    return [m["name"] for m in body.get(key, [])]


def test_search_models_pages_through_everything(mlflow):
    wanted = ["fraud_detector", "fraud_rules", "fraud_scorer", "fraud_screening",
              "fraud_triage"]
    for name in [*reversed(wanted), "churn_predictor"]:
        mlflow.create_model(name)
    seen, token, pages = [], None, 0
    while True:
        body = ok(mlflow.get("/registered-models/search", filter="name LIKE 'fraud%'",
                             max_results=2, page_token=token))
        pages += 1
        seen += names(body)
        token = body.get("next_page_token")
        if not token:
            break
    assert seen == wanted and pages == 3
    body = ok(mlflow.get("/registered-models/search", max_results=10))
    assert "next_page_token" not in body and len(body["registered_models"]) == 6


def test_unfiltered_searches_are_capped_as_mlflows_own_server_caps_them(mlflow):
    from mlflow.store import model_registry as theirs

    from charter.api.mlflow import routes
    from charter.service.models import MAX_PAGE
    from charter.service.search import MAX_VERSION_PAGE

    assert (routes.MODELS_PAGE_DEFAULT, MAX_PAGE) == (
        theirs.SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
        theirs.SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD)
    assert (routes.VERSIONS_PAGE_DEFAULT, MAX_VERSION_PAGE) == (
        theirs.SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
        theirs.SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD)
    for index in range(101):
        mlflow.create_model(f"p{index:03d}_fraud_scorer")
    first = ok(mlflow.get("/registered-models/search"))
    assert len(first["registered_models"]) == 100 and first["next_page_token"]
    rest = ok(mlflow.get("/registered-models/search", page_token=first["next_page_token"]))
    assert names(rest) == ["p100_fraud_scorer"] and "next_page_token" not in rest


def test_search_models_carries_latest_versions_for_the_whole_page(mlflow):
    for name in ("fraud_detector", "churn_predictor"):
        mlflow.create_model(name)
        mlflow.create_version(name)
        mlflow.create_version(name)
        ok(mlflow.transition("1", "Staging", name=name))
    body = ok(mlflow.get("/registered-models/search"))
    for model in body["registered_models"]:
        assert [(v["current_stage"], v["version"]) for v in model["latest_versions"]] == [
            ("None", "2"), ("Staging", "1")]


def test_search_models_by_tag_and_order(mlflow):
    mlflow.create_model("fraud_detector", tags=[{"key": "team", "value": "fraud"}])
    mlflow.create_model("churn_predictor", tags=[{"key": "team", "value": "growth"}])
    mlflow.create_model("search_ranker")
    body = ok(mlflow.get("/registered-models/search", filter="tags.team = 'fraud'"))
    assert names(body) == ["fraud_detector"]
    body = ok(mlflow.get("/registered-models/search", filter="tags.team != 'fraud'"))
    assert names(body) == ["churn_predictor"]  # a tag condition needs the tag
    body = ok(mlflow.get("/registered-models/search", order_by=["name DESC"]))
    assert names(body) == ["search_ranker", "fraud_detector", "churn_predictor"]
    ok(mlflow.post("/registered-models/set-tag", name="churn_predictor", key="k", value="v"))
    body = ok(mlflow.get("/registered-models/search",
                         order_by=["last_updated_timestamp DESC"]))
    assert names(body)[0] == "churn_predictor"


def test_search_models_understands_the_mlflow_clients_prompt_filter(mlflow):
    mlflow.create_model("fraud_detector")
    mlflow.create_model("churn_predictor")
    ok(mlflow.post("/registered-models/set-tag", name="churn_predictor",
                   key="mlflow.prompt.is_prompt", value="true"))
    body = ok(mlflow.get("/registered-models/search",
                         filter="tag.`mlflow.prompt.is_prompt` != 'true'"))
    assert names(body) == ["fraud_detector"]


@pytest.mark.parametrize("params, code", [
    ({"filter": "name = 'a' OR name = 'b'"}, "search.invalid_filter"),
    ({"filter": "run_id = 'x'"}, "search.invalid_filter"),
    ({"order_by": ["stage"]}, "search.invalid_order_by"),
    ({"max_results": 1001}, "max_results.invalid"),
    ({"max_results": 0}, "max_results.invalid"),
    ({"max_results": "ten"}, "request.invalid_parameter"),
    ({"page_token": "not-a-token"}, "page_token.invalid"),
    # an offset past the databases' 64-bit OFFSET was an OverflowError, a 500
    ({"page_token": base64.urlsafe_b64encode(b"o:9223372036854775808").decode()},
     "page_token.invalid"),
])
def test_bad_model_searches_are_invalid_parameter_value(mlflow, params, code):
    message = refused(mlflow.get("/registered-models/search", **params), 400,
                      "INVALID_PARAMETER_VALUE", code)
    if code == "search.invalid_filter":
        assert "e.g. name LIKE 'fraud%'" in message


def test_a_version_search_refuses_a_token_past_any_page(mlflow):
    mlflow.create_model("fraud_detector")
    token = base64.urlsafe_b64encode(b"o:99999999999999999999").decode()
    refused(mlflow.get("/model-versions/search", filter="name='fraud_detector'",
                       page_token=token), 400, "INVALID_PARAMETER_VALUE", "page_token.invalid")


def test_search_versions_by_name_run_and_number_with_paging(mlflow):
    mlflow.create_model("fraud_detector")
    mlflow.create_model("churn_predictor")
    runs = ["a" * 32, "b" * 32, "c" * 32]
    for run in runs:
        mlflow.create_version("fraud_detector", source=f"runs:/{run}/model", run_id=run)
    mlflow.create_version("churn_predictor", source=f"runs:/{runs[0]}/model", run_id=runs[0])

    def search(**params: Any) -> list[tuple[str, str]]:
        body = ok(mlflow.get("/model-versions/search", **params))
        return [(v["name"], v["version"]) for v in body["model_versions"]]

    assert search(filter="name='fraud_detector'", order_by=["version_number ASC"]) == [
        ("fraud_detector", "1"), ("fraud_detector", "2"), ("fraud_detector", "3")]
    assert search(filter=f"run_id = '{runs[0]}'", order_by=["name"]) == [
        ("churn_predictor", "1"), ("fraud_detector", "1")]
    assert search(filter=f"run_id IN ('{runs[1]}', '{runs[2]}')",
                  order_by=["version_number DESC"]) == [("fraud_detector", "3"),
                                                        ("fraud_detector", "2")]
    assert search(filter="name = 'fraud_detector' AND version_number > 1",
                  order_by=["version_number"]) == [("fraud_detector", "2"),
                                                   ("fraud_detector", "3")]
    assert search(filter="source_path LIKE 'runs:/b%'") == [("fraud_detector", "2")]
    # default order: the most recently updated first
    ok(mlflow.transition("1", "Staging", name="fraud_detector"))
    assert search(filter="name = 'fraud_detector'")[0] == ("fraud_detector", "1")

    seen, token = [], None
    while True:
        body = ok(mlflow.get("/model-versions/search", filter="name = 'fraud_detector'",
                             max_results=1, order_by=["version_number"], page_token=token))
        seen += [v["version"] for v in body["model_versions"]]
        token = body.get("next_page_token")
        if not token:
            break
    assert seen == ["1", "2", "3"]
    refused(mlflow.get("/model-versions/search", filter="version_number = 'x'"), 400,
            "INVALID_PARAMETER_VALUE", "search.invalid_filter")
    refused(mlflow.get("/model-versions/search", max_results=200_001), 400,
            "INVALID_PARAMETER_VALUE", "max_results.invalid")


def test_search_versions_by_tag(mlflow):
    mlflow.create_model()
    mlflow.create_version(tags=[{"key": "algorithm", "value": "xgboost"}])
    mlflow.create_version(tags=[{"key": "algorithm", "value": "lightgbm"}])
    body = ok(mlflow.get("/model-versions/search", filter="tags.algorithm = 'lightgbm'"))
    assert [v["version"] for v in body["model_versions"]] == ["2"]


def test_search_semantics_on_every_database(any_db):
    for name in ("fraud_detector", "fraudxdetector", "Fraud_Upper"):
        any_db.create_model(name)
    ok(any_db.post("/registered-models/set-tag", name="fraudxdetector", key="promo",
                   value="50%_off"))
    ok(any_db.post("/registered-models/set-tag", name="Fraud_Upper", key="promo",
                   value="50x_off"))
    any_db.create_version("fraud_detector", tags=[{"key": "note", "value": "Card*Fraud?[x]"}])

    def search(text: str) -> list[str]:
        return sorted(names(ok(any_db.get("/registered-models/search", filter=text))))

    assert search("name LIKE 'fraud%'") == ["fraud_detector", "fraudxdetector"]
    assert search("name LIKE 'Fraud%'") == ["Fraud_Upper"]  # LIKE minds case
    assert search("name ILIKE 'FRAUD_%'") == ["Fraud_Upper", "fraud_detector",
                                              "fraudxdetector"]
    assert search("name LIKE 'fraud\\_%'") == ["fraud_detector"]  # escaped underscore
    assert search("name = 'FRAUD_DETECTOR'") == ["fraud_detector"]  # identity ignores case
    assert search("name IN ('fraud_upper', 'nope')") == ["Fraud_Upper"]
    assert search("name != 'fraud_detector' AND name LIKE 'fraud%'") == ["fraudxdetector"]
    assert search("tags.promo LIKE '50\\%%'") == ["fraudxdetector"]  # escaped percent
    assert search("tags.promo LIKE '50%'") == ["Fraud_Upper", "fraudxdetector"]
    assert search("tags.promo != '50x_off'") == ["fraudxdetector"]

    def versions(text: str) -> list[str]:
        body = ok(any_db.get("/model-versions/search", filter=text))
        return [v["name"] for v in body["model_versions"]]

    assert versions("tags.note LIKE 'Card*Fraud?[x]'") == ["fraud_detector"]  # glob chars
    assert versions("tags.note LIKE 'card%'") == []
    assert versions("tags.note ILIKE 'card%'") == ["fraud_detector"]
    assert versions("tags.note LIKE 'Card_Fraud%'") == ["fraud_detector"]
    assert versions("tags.note LIKE 'Card_Fraud'") == []


# --- the wire: both forms of parameters, bad input, unknown routes ---------------------------


def test_get_accepts_a_json_body_and_writes_accept_a_query_string(mlflow):
    mlflow.create_model()
    response = mlflow.client.request("GET", f"{API}/registered-models/get",
                                     json={"name": "fraud_detector"})
    assert ok(response)["registered_model"]["name"] == "fraud_detector"
    response = mlflow.client.post(f"{API}/registered-models/set-tag",
                                  params={"name": "fraud_detector", "key": "k", "value": "v"})
    assert ok(response) == {}


def test_the_ajax_prefix_answers_the_same_routes(sqlite_database_url, make_settings):
    service, client = build_client(make_settings(sqlite_database_url))
    with client:
        ajax = Mlflow(client, prefix="/ajax-api/2.0/mlflow")
        ajax.create_model()
        got = ok(ajax.get("/registered-models/get", name="fraud_detector"))
        assert got["registered_model"]["name"] == "fraud_detector"
        refused(ajax.get("/registered-models/get", name="nope"), 404,
                "RESOURCE_DOES_NOT_EXIST")
    service.db.dispose()


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_malformed_bodies_are_invalid_parameter_value(mlflow, content):
    response = mlflow.client.post(f"{API}/registered-models/create", content=content,
                                  headers={"content-type": "application/json"})
    refused(response, 400, "INVALID_PARAMETER_VALUE", "request.invalid_json")


@pytest.mark.parametrize("path, body, code", [
    ("/registered-models/create", {}, "request.missing_parameter"),
    ("/registered-models/create", {"name": ""}, "request.missing_parameter"),
    ("/registered-models/create", {"name": 5}, "request.invalid_parameter"),
    ("/registered-models/create", {"name": "fraud_detector", "tags": "team=fraud"},
     "request.invalid_parameter"),
    ("/registered-models/create", {"name": "fraud_detector", "tags": [{"value": "x"}]},
     "request.invalid_parameter"),
    ("/registered-models/create", {"name": "fraud_detector", "description": ["x"]},
     "request.invalid_parameter"),
    ("/model-versions/create", {"name": "fraud_detector"}, "request.missing_parameter"),
    ("/model-versions/transition-stage", {"name": "fraud_detector", "version": "1"},
     "request.missing_parameter"),
    ("/model-versions/transition-stage", {"name": "fraud_detector", "version": True,
                                          "stage": "Staging"}, "request.invalid_parameter"),
    ("/registered-models/get-latest-versions", {"name": "fraud_detector", "stages": [1]},
     "request.invalid_parameter"),
])
def test_missing_and_mistyped_fields_are_invalid_parameter_value(mlflow, path, body, code):
    refused(mlflow.client.post(API + path, json=body), 400, "INVALID_PARAMETER_VALUE", code)


GARBAGE: list[Any] = [None, "", "x" * 300, 0, -1, 10**30, True, [], {}, ["a"], {"a": 1},
                      "' OR 1=1 --", "\x00", "../..", "%00"]


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_no_endpoint_answers_garbage_with_a_server_error(mlflow, path):
    mlflow.create_model()
    mlflow.create_version()
    fields = ["name", "version", "new_name", "description", "key", "value", "alias", "stage",
              "source", "run_id", "filter", "max_results", "order_by", "page_token", "tags",
              "stages", "archive_existing_versions"]
    for method in ENDPOINTS[path]:
        for value in GARBAGE:
            body = {field: value for field in fields}
            response = mlflow.call(method, path, **body)
            assert response.status_code < 500, (method, path, value, response.text)
            if response.status_code >= 400:
                assert response.json()["error_code"], response.text


def test_unknown_endpoints_and_wrong_methods_answer_in_mlflows_shape(mlflow):
    refused(mlflow.client.post(f"{API}/runs/create", json={}), 404, "ENDPOINT_NOT_FOUND")
    message = refused(mlflow.client.post(f"{API}/registered-models/get", json={}), 405,
                      "ENDPOINT_NOT_FOUND")
    assert "use GET" in message
    for prefix in PREFIXES:
        refused(mlflow.client.get(f"{prefix}/experiments/list"), 404, "ENDPOINT_NOT_FOUND")


def test_the_actor_header_reaches_the_audit_trail(mlflow):
    mlflow.client.post(f"{API}/registered-models/create", json={"name": "fraud_detector"},
                       headers={"x-charter-actor": "meera"})
    [created] = [e for e in mlflow.service.events(limit=100) if e.action == events.MODEL_CREATED]
    assert created.actor == "meera (unverified)"
