"""Every route of the app declares an access rule, proven from the route table.

The tests walk ``app.routes`` (FastAPI's nested routers included): the native API,
the MLflow surface and its artifact routes, the web UI and its static files. A
route added without ``@allow(…)`` fails ``test_every_route_has_an_access_rule``; one
that slips through anyway is admin-only at run time. The few routes that are not
``SIGNED_IN`` are named here, so none changes its rule unnoticed; then each rule is
exercised: a public route answers without a token, every other route asks for one.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import pytest
from starlette.responses import PlainTextResponse

from charter.server.access import route_entries, unguarded
from charter.web import ADMIN, PUBLIC, RULE_KINDS, SIGNED_IN, Rule, on_model, registry_wide

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


def every_route(app: Any) -> list[tuple[str, str, Rule | None]]:
    """(method, path, declared rule) of every route; ``*`` for a mount's any method."""
    found = []
    for entry in route_entries(app.routes):
        for method in sorted(entry.methods or {"*"}):
            if method != "HEAD":
                found.append((method, entry.path, entry.rule))
    return found


# Every route that is not SIGNED_IN, and its rule (was the central table's non-default rows).
NOT_SIGNED_IN = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): registry_wide("metrics"),
    ("GET", "/api/v1/openapi.json"): PUBLIC,
    ("GET", "/api/v1/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("*", "/ui/static"): PUBLIC,
    ("GET", "/signin"): PUBLIC,
    ("POST", "/signin"): PUBLIC,
    ("POST", "/signout"): PUBLIC,
    ("POST", "/api/v1/webhooks"): ADMIN,
    ("GET", "/api/v1/webhooks"): ADMIN,
    ("GET", "/api/v1/webhooks/deliveries"): ADMIN,
    ("POST", "/api/v1/webhooks/deliveries/{delivery}/redeliver"): ADMIN,
    ("GET", "/api/v1/webhooks/{webhook}"): ADMIN,
    ("DELETE", "/api/v1/webhooks/{webhook}"): ADMIN,
    ("POST", "/api/v1/webhooks/{webhook}/test"): ADMIN,
    ("GET", "/webhooks"): ADMIN,
    ("POST", "/api/v1/models/{name}/uploads"): on_model("register"),
    ("PUT", "/api/v1/models/{name}/uploads/{upload_id}/files/{path:path}"): on_model("register"),
}


def test_every_route_has_an_access_rule(app_client):
    routes = every_route(app_client.app)
    assert len(routes) > 60  # the table really was walked: API, MLflow, UI, static
    assert any(path.startswith("/api/2.0/mlflow") for _, path, _ in routes)
    assert any(path == "/models/{name}" for _, path, _ in routes)  # the UI
    assert any(path.startswith("/api/v1/models/{name}/versions/{version}/files")
               for _, path, _ in routes)
    assert unguarded(app_client.app.routes) == []


def test_only_the_named_routes_are_anything_but_signed_in(app_client):
    declared = {(method, path): rule for method, path, rule in every_route(app_client.app)}
    assert {key: rule for key, rule in declared.items() if rule != SIGNED_IN} == NOT_SIGNED_IN


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
    public = [(m, p) for m, p, rule in every_route(app_client.app) if rule == PUBLIC]
    assert {p for _, p in public} >= {"/healthz", "/signin", "/api/v1/openapi.json"}
    for method, path in public:
        url = concrete(path) if path != "/ui/static" else "/ui/static/charter.css"
        response = app_client.request("GET" if method == "*" else method, url,
                                      follow_redirects=False)
        assert response.status_code != 401, (method, path, response.text)
        assert "set-cookie" not in response.headers or "charter_session" not in \
            response.headers["set-cookie"]


def test_every_other_route_refuses_a_request_without_a_token(app_client):
    guarded = [(m, p) for m, p, rule in every_route(app_client.app) if rule != PUBLIC]
    assert len(guarded) > 50
    for method, path in guarded:
        response = app_client.request(method, concrete(path), follow_redirects=False)
        if path.startswith(("/api/", "/ajax-api/")) or path == "/metrics":
            assert response.status_code == 401, (method, path, response.text)
            body = response.json()
            code = body["error_code"] if "error_code" in body else body["error"]["code"]
            assert code in ("UNAUTHENTICATED", "auth.required"), (method, path, body)
        else:  # the web UI sends the browser to the sign-in page
            assert response.status_code == 303, (method, path, response.text)
            assert response.headers["location"].startswith("/signin?next=")


def test_admin_routes_refuse_everyone_else(world, app_client):
    admin_only = [(m, p) for m, p, rule in every_route(app_client.app) if rule == ADMIN]
    assert len(admin_only) == 8
    for method, path in admin_only:
        response = app_client.request(method, concrete(path), json={},
                                      headers=world.auth("otto"))
        assert response.status_code == 403, (method, path, response.text)


def test_the_rules_are_few_and_named(app_client):
    kinds = {rule.kind for _, _, rule in every_route(app_client.app) if rule is not None}
    assert kinds == set(RULE_KINDS)
    assert SIGNED_IN.kind == "signed_in" and PUBLIC.kind == "public"
