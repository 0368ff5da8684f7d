"""Access control through the MLflow surface: MLflow's credentials, MLflow's error shapes.

MLflow's client sends ``MLFLOW_TRACKING_TOKEN`` as a Bearer token, and
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` as Basic credentials; both
are accepted (the password is a token of that user). Refusals are
``UNAUTHENTICATED`` (401), ``PERMISSION_DENIED`` (403) and, for a model the caller
may not read, ``RESOURCE_DOES_NOT_EXIST`` (404) — the same answer as for no model.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pytest
from tests.api.access_world import CHURN, FRAUD, HIDDEN, ROLES, RUN

from charter.domain.access import Role

API = "/api/2.0/mlflow"




def bearer(world, user: str) -> dict[str, str]:
    return world.auth(user)


def basic(world, user: str) -> dict[str, str]:
    pair = f"{user}:{world.tokens[user]}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def call(client, method: str, path: str, params: dict[str, Any], headers: dict[str, str]):  # type: ignore[no-untyped-def]
    if method == "GET":
        return client.get(API + path, params=params, headers=headers)
    return client.request(method, API + path, json=params, headers=headers)


@dataclass(frozen=True)
class Op:
    name: str
    needs: Role
    method: str
    path: str
    params: dict[str, Any]


V = {"name": FRAUD}
OPERATIONS = [
    Op("get model", Role.READER, "GET", "/registered-models/get", V),
    Op("latest versions", Role.READER, "POST", "/registered-models/get-latest-versions",
       {**V, "stages": ["Production"]}),
    Op("get version", Role.READER, "GET", "/model-versions/get", {**V, "version": "1"}),
    Op("download uri", Role.READER, "GET", "/model-versions/get-download-uri",
       {**V, "version": "1"}),
    Op("version by alias", Role.READER, "GET", "/registered-models/alias",
       {**V, "alias": "champion"}),
    Op("create version", Role.CONTRIBUTOR, "POST", "/model-versions/create",
       {**V, "source": f"runs:/{RUN}/model", "run_id": RUN}),
    Op("update model", Role.CONTRIBUTOR, "PATCH", "/registered-models/update",
       {**V, "description": "card fraud"}),
    Op("set model tag", Role.CONTRIBUTOR, "POST", "/registered-models/set-tag",
       {**V, "key": "team", "value": "risk"}),
    Op("set version tag", Role.CONTRIBUTOR, "POST", "/model-versions/set-tag",
       {**V, "version": "1", "key": "auc", "value": "0.9"}),
    Op("delete version tag", Role.CONTRIBUTOR, "DELETE", "/model-versions/delete-tag",
       {**V, "version": "1", "key": "algorithm"}),
    Op("None -> Staging", Role.CONTRIBUTOR, "POST", "/model-versions/transition-stage",
       {**V, "version": "3", "stage": "Staging"}),
    Op("Staging -> Production", Role.MAINTAINER, "POST", "/model-versions/transition-stage",
       {**V, "version": "2", "stage": "Production", "archive_existing_versions": True}),
    Op("Production -> Archived", Role.MAINTAINER, "POST", "/model-versions/transition-stage",
       {**V, "version": "1", "stage": "Archived"}),
    Op("set alias", Role.MAINTAINER, "POST", "/registered-models/alias",
       {**V, "alias": "challenger", "version": "2"}),
    Op("delete alias", Role.MAINTAINER, "DELETE", "/registered-models/alias",
       {**V, "alias": "champion"}),
    Op("rename", Role.OWNER, "POST", "/registered-models/rename",
       {**V, "new_name": "card_fraud_detector"}),
    Op("delete version", Role.OWNER, "DELETE", "/model-versions/delete",
       {**V, "version": "4"}),
    Op("delete model", Role.OWNER, "DELETE", "/registered-models/delete", {"name": CHURN}),
]
USERS = [*ROLES, "nina", "ada"]
EXPECTED_CODES = {404: "RESOURCE_DOES_NOT_EXIST", 403: "PERMISSION_DENIED"}


def held(user: str) -> Role | None:
    if user == "ada":
        return Role.OWNER
    return Role[ROLES[user].upper()] if user in ROLES else None


@pytest.mark.parametrize("scheme", [bearer, basic], ids=["bearer", "basic"])
@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_each_role_may_do_exactly_what_the_table_says(world, fresh, op, user, scheme):
    service, client = fresh
    before = service.events(limit=10_000)[-1].seq
    response = call(client, op.method, op.path, op.params, scheme(world, user))
    role = held(user)
    if role is not None and role >= op.needs:
        assert response.status_code == 200, response.text
        if op.method != "GET" and "latest" not in op.path:
            assert service.events(limit=10_000)[-1].actor == user
        return
    status = 404 if role is None else 403
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == EXPECTED_CODES[status], body
    assert body["message"]
    assert service.events(limit=10_000)[-1].seq == before


@pytest.mark.parametrize(("headers", "charter_code"), [
    ({}, "auth.required"),
    ({"Authorization": "Bearer nope"}, "token.malformed"),
    ({"Authorization": "Bearer charter_" + "Q" * 43}, "token.invalid"),
    ({"Authorization": "Basic " + base64.b64encode(b"admin:password1234").decode()},
     "token.malformed"),
])
def test_bad_credentials_are_unauthenticated_in_mlflows_shape(fresh, headers, charter_code):
    _, client = fresh
    response = client.get(API + "/registered-models/get", params=V, headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["error_code"] == "UNAUTHENTICATED" and body["charter_code"] == charter_code
    assert set(body) == {"error_code", "message", "charter_code", "request_id"}
    assert body["request_id"] == response.headers["x-request-id"]


def test_basic_with_another_users_token_is_refused(world, fresh):
    _, client = fresh
    pair = f"otto:{world.tokens['rita']}".encode()
    response = client.get(API + "/registered-models/get", params=V,
                          headers={"Authorization": "Basic " + base64.b64encode(pair).decode()})
    assert (response.status_code, response.json()["error_code"]) == (401, "UNAUTHENTICATED")


def test_a_forbidden_promotion_explains_itself_in_the_message(world, fresh):
    _, client = fresh
    response = call(client, "POST", "/model-versions/transition-stage",
                    {**V, "version": "2", "stage": "Production"}, bearer(world, "cory"))
    assert response.status_code == 403
    message = response.json()["message"]
    assert "cory is contributor on fraud_detector" in message
    assert "needs maintainer" in message and "charter grant" in message


def test_search_shows_only_readable_models_and_versions(world, fresh):
    _, client = fresh
    models = call(client, "GET", "/registered-models/search", {}, bearer(world, "rita")).json()
    assert sorted(m["name"] for m in models["registered_models"]) == [CHURN, FRAUD]
    versions = call(client, "GET", "/model-versions/search", {"filter": ""},
                    bearer(world, "rita")).json()["model_versions"]
    assert {v["name"] for v in versions} == {CHURN, FRAUD}
    hidden = call(client, "GET", "/model-versions/search", {"filter": f"name='{HIDDEN}'"},
                  bearer(world, "rita")).json()
    assert hidden.get("model_versions", []) == []
    assert call(client, "GET", "/registered-models/search", {}, bearer(world, "nina")
                ).json().get("registered_models", []) == []


def test_a_hidden_model_is_resource_does_not_exist_like_a_missing_one(world, fresh):
    _, client = fresh
    hidden = call(client, "GET", "/registered-models/get", {"name": HIDDEN},
                  bearer(world, "rita")).json()
    missing = call(client, "GET", "/registered-models/get", {"name": "no_such_model"},
                   bearer(world, "rita")).json()
    assert hidden["error_code"] == missing["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert hidden["message"].replace(HIDDEN, "X") == missing["message"].replace(
        "no_such_model", "X")


def test_creating_a_registered_model_needs_a_registry_wide_role(world, fresh):
    service, client = fresh
    refused = call(client, "POST", "/registered-models/create", {"name": "lending_score"},
                   bearer(world, "otto"))
    assert (refused.status_code, refused.json()["error_code"]) == (403, "PERMISSION_DENIED")
    created = call(client, "POST", "/registered-models/create", {"name": "lending_score"},
                   basic(world, "cici"))
    assert created.status_code == 200, created.text
    assert [(e.action, e.actor) for e in service.history("lending_score")] == [
        ("model_created", "cici"), ("access_granted", "cici")]
