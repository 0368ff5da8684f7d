"""Every route of the app is covered by an access rule, proven from the route table.

The tests walk ``app.routes`` (FastAPI's nested routers included): the native API,
the MLflow surface and its artifact routes, the web UI and its static files. A
route added without a rule fails ``test_every_route_has_an_access_rule``; one that
slips through anyway is admin-only at run time. Each rule is then exercised: a
public route answers without a token, every other route asks for one.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import pytest
from starlette.responses import PlainTextResponse

from charter.server.access import (
    ADMIN,
    ANY_METHOD,
    PUBLIC,
    RULES,
    SIGNED_IN,
    route_entries,
    rule_for,
    unguarded,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")

PATH_VALUES = {"name": "fraud_detector", "version": "1", "key": "team", "alias": "champion",
               "path": "model.pkl", "upload_id": "0" * 32, "token_id": "1", "user": "rita",
               "endpoint": "registered-models/get", "rest": "no/such/route",
               "delivery": "1", "webhook": "1"}



@pytest.fixture
def app_client(world, tmp_path):
    service, client = world.fresh(tmp_path)
    yield client
    service.db.dispose()


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PATH_VALUES.get(m.group(1), "x"), path)


def every_route(app: Any) -> list[tuple[str, str]]:
    found = []
    for entry in route_entries(app.routes):
        for method in sorted(entry.methods or {"GET"}):
            if method != "HEAD":
                found.append((method, entry.path))
    return found


def test_every_route_has_an_access_rule(app_client):
    routes = every_route(app_client.app)
    assert len(routes) > 60  # the table really was walked: API, MLflow, UI, static
    assert any(path.startswith("/api/2.0/mlflow") for _, path in routes)
    assert any(path == "/models/{name}" for _, path in routes)  # the UI
    assert any(path.startswith("/api/v1/models/{name}/versions/{version}/files")
               for _, path in routes)
    assert unguarded(app_client.app.routes) == []


def test_no_rule_names_a_route_that_does_not_exist(app_client):
    served = {(method, path) for method, path in every_route(app_client.app)}
    served |= {(ANY_METHOD, path) for _, path in served}
    stale = [key for key in RULES if key not in served]
    assert stale == [], "rules for routes that no longer exist: remove them"


def test_a_new_route_without_a_rule_is_caught_and_closed(world, tmp_path):
    service, client = world.fresh(tmp_path)
    assert client.get("/healthz").status_code == 200  # the rule table is built already
    routes = client.app.router.routes
    client.app.add_api_route("/experimental/export-everything",
                             lambda: PlainTextResponse("all the data"))
    try:
        assert unguarded(client.app.routes) == [("GET", "/experimental/export-everything")]
        response = client.get("/experimental/export-everything", headers=world.auth("otto"))
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "access.admin_only"
        response = client.get("/experimental/export-everything", headers=world.auth("ada"))
        assert (response.status_code, response.text) == (200, "all the data")
    finally:
        routes.pop()
        service.db.dispose()


def test_public_routes_answer_without_a_token(app_client):
    public = [(m, p) for m, p in every_route(app_client.app) if rule_for(m, p) is PUBLIC]
    assert {p for _, p in public} >= {"/healthz", "/signin", "/api/v1/openapi.json"}
    for method, path in public:
        url = concrete(path) if path != "/ui/static" else "/ui/static/charter.css"
        response = app_client.request(method, url, follow_redirects=False)
        assert response.status_code != 401, (method, path, response.text)
        assert "set-cookie" not in response.headers or "charter_session" not in \
            response.headers["set-cookie"]


def test_every_other_route_refuses_a_request_without_a_token(app_client):
    guarded = [(m, p) for m, p in every_route(app_client.app)
               if rule_for(m, p) is not PUBLIC]
    assert len(guarded) > 50
    for method, path in guarded:
        response = app_client.request(method, concrete(path), follow_redirects=False)
        if path.startswith(("/api/", "/ajax-api/")):
            assert response.status_code == 401, (method, path, response.text)
            body = response.json()
            code = body["error_code"] if "error_code" in body else body["error"]["code"]
            assert code in ("UNAUTHENTICATED", "auth.required"), (method, path, body)
        else:  # the web UI sends the browser to the sign-in page
            assert response.status_code == 303, (method, path, response.text)
            assert response.headers["location"].startswith("/signin?next=")


def test_admin_routes_refuse_everyone_else(world, app_client):
    admin_only = [(m, p) for m, p in every_route(app_client.app) if rule_for(m, p) is ADMIN]
    for method, path in admin_only:
        response = app_client.request(method, concrete(path), json={},
                                      headers=world.auth("otto"))
        assert response.status_code == 403, (method, path, response.text)


def test_the_rules_are_few_and_named(app_client):
    kinds = {rule.kind for rule in RULES.values()}
    assert kinds <= {"public", "signed_in", "admin", "model"}
    assert SIGNED_IN.kind == "signed_in" and PUBLIC.kind == "public"
