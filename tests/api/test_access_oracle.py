"""No existence oracle: a model the caller may not read answers exactly as an unused name.

docs/access.md promises it. Every route of the native API that names a model, and every
endpoint of the MLflow surface, is called twice by a caller without a role on
``search_ranker`` (a registered model): once with that name, once with a name nobody
registered. The two answers must be the same status, code and message (with the name
swapped), and neither may change anything. The routes come from the app's own route
table and the MLflow endpoint table, so a new route joins the check the day it lands
(the test fails until it has a body here).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.api.access_world import HIDDEN

from charter.api.mlflow.routes import ENDPOINTS
from charter.server.access import route_entries

API = "/api/v1"
UNUSED = "pricing_engine"
UPLOAD = "0123456789abcdef0123456789abcdef"
SOURCE = "s3://models/pricing/1"

# One well-formed body per native write route, so the refusal can only be about access.
REST_BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/models/{name}"): {"description": "d"},
    ("DELETE", "/models/{name}"): {"reason": "r"},
    ("POST", "/models/{name}/rename"): {"new_name": "pricing_engine_two"},
    ("PUT", "/models/{name}/tags/{key:path}"): {"value": "v"},
    ("DELETE", "/models/{name}/tags/{key:path}"): None,
    ("POST", "/models/{name}/versions"): {"source": SOURCE},
    ("PATCH", "/models/{name}/versions/{version}"): {"description": "d"},
    ("DELETE", "/models/{name}/versions/{version}"): {"reason": "r"},
    ("PUT", "/models/{name}/versions/{version}/tags/{key:path}"): {"value": "v"},
    ("DELETE", "/models/{name}/versions/{version}/tags/{key:path}"): None,
    ("PUT", "/models/{name}/aliases/{alias}"): {"version": 1},
    ("DELETE", "/models/{name}/aliases/{alias}"): None,
    ("POST", "/models/{name}/versions/{version}/transition"): {"stage": "Staging"},
    ("POST", "/models/{name}/rollback"): {"reason": "r"},
    ("PUT", "/models/{name}/versions/{version}/files/{path:path}"): b"bytes",
    ("POST", "/models/{name}/uploads"): {"create_model": True},
    ("PUT", "/models/{name}/uploads/{upload_id}/files/{path:path}"): b"bytes",
    ("POST", "/models/{name}/uploads/{upload_id}/commit"): {"files": []},
    ("DELETE", "/models/{name}/uploads/{upload_id}"): None,
    ("POST", "/models/{name}/versions/{version}/approvals"): {"stage": "Production"},
    ("POST", "/models/{name}/versions/{version}/approvals/approve"): {"stage": "Production"},
    ("POST", "/models/{name}/versions/{version}/approvals/reject"): {"stage": "Production",
                                                                     "comment": "no"},
    ("PUT", "/models/{name}/grants/{user}"): {"role": "reader"},
    ("DELETE", "/models/{name}/grants/{user}"): {"reason": "r"},
    ("PUT", "/models/{name}/versions/{version}/signature"): {"signature": "{}"},
    ("PATCH", "/models/{name}/signers"): {"add": [], "remove": [], "reason": "r"},
    ("POST", "/models/{name}/versions/{version}/hold/release"): {"reason": "r"},
    ("POST", "/models/{name}/versions/{version}/hold/reject"): {"reason": "r"},
    ("POST", "/models/{name}/versions/{version}/attestations"): {"document": "{}"},
    ("PUT", "/models/{name}/versions/{version}/interface"): {
        "interface": {"inputs": [{"name": "amount", "type": "double"}]}},
}
PARAMS = {"version": "1", "key:path": "team", "alias": "champion", "upload_id": UPLOAD,
          "user": "rita", "path:path": "model.pkl", "sha256": "0" * 64}
QUERIES = {"/models/{name}/versions/{version}/gates": {"stage": "Production"},
           "/models/{name}/diff": {"a": "1", "b": "1"}}

# The MLflow surface: one well-formed request per endpoint and method.
MLFLOW_PARAMS: dict[str, dict[str, Any]] = {
    "/registered-models/create": {},
    "/registered-models/get": {},
    "/registered-models/rename": {"new_name": "pricing_engine_two"},
    "/registered-models/update": {"description": "d"},
    "/registered-models/delete": {},
    "/registered-models/search": {"filter": "name = '{name}'"},
    "/registered-models/get-latest-versions": {"stages": ["Production"]},
    "/registered-models/set-tag": {"key": "team", "value": "v"},
    "/registered-models/delete-tag": {"key": "team"},
    "/registered-models/alias": {"alias": "champion", "version": "1"},
    "/model-versions/create": {"source": SOURCE},
    "/model-versions/get": {"version": "1"},
    "/model-versions/update": {"version": "1", "description": "d"},
    "/model-versions/delete": {"version": "1"},
    "/model-versions/search": {"filter": "name = '{name}'"},
    "/model-versions/transition-stage": {"version": "1", "stage": "Staging"},
    "/model-versions/set-tag": {"version": "1", "key": "k", "value": "v"},
    "/model-versions/delete-tag": {"version": "1", "key": "k"},
    "/model-versions/get-download-uri": {"version": "1"},
}




def native_routes(app: Any) -> list[tuple[str, str]]:
    found = []
    for entry in route_entries(app.routes):
        if not entry.path.startswith(API + "/models/{name}") or entry.methods is None:
            continue
        found += [(method, entry.path[len(API):]) for method in sorted(entry.methods)
                  if method != "HEAD"]
    return found


def native_call(client: Any, method: str, template: str, name: str, headers: dict[str, str]
                ) -> Any:
    path = template.replace("{name}", name)
    for key, value in PARAMS.items():
        path = path.replace("{" + key + "}", value)
    body = REST_BODIES.get((method, template))
    kwargs: dict[str, Any] = {"headers": headers, "params": QUERIES.get(template)}
    if isinstance(body, bytes):
        kwargs["content"] = body
    elif body is not None:
        kwargs["json"] = body
    return client.request(method, API + path, **kwargs)


def mlflow_call(client: Any, method: str, path: str, name: str, headers: dict[str, str]
                ) -> Any:
    params = {key: value.replace("{name}", name) if isinstance(value, str) else value
              for key, value in {"name": name, **MLFLOW_PARAMS[path]}.items()}
    url = "/api/2.0/mlflow" + path
    if method == "GET":
        return client.get(url, params=params, headers=headers)
    return client.request(method, url, json=params, headers=headers)


def answer(response: Any, name: str) -> tuple[int, str]:
    """The answer with the name swapped out, as the caller could compare it."""
    text = re.sub(r'"request_id":"[0-9a-f]{32}"', '"request_id":"<id>"', response.text)
    return response.status_code, re.sub(re.escape(name), "<name>", text)


def test_every_native_write_route_that_names_a_model_has_a_body_here(world):
    writes = {(m, p) for m, p in native_routes(world.client.app) if m != "GET"}
    assert writes - set(REST_BODIES) == set(), "give the new route a body above"


def test_every_mlflow_endpoint_has_parameters_here():
    assert set(ENDPOINTS) | {"/model-versions/get-download-uri"} == set(MLFLOW_PARAMS)


@pytest.mark.parametrize("user", ["nina", "rita"])
def test_every_native_route_answers_a_hidden_model_as_an_unused_name(world, fresh, user):
    service, client = fresh
    before = service.events(limit=10_000)[-1].seq
    different = []
    for method, template in native_routes(client.app):
        hidden = native_call(client, method, template, HIDDEN, world.auth(user))
        unused = native_call(client, method, template, UNUSED, world.auth(user))
        assert hidden.status_code in (401, 403, 404), (method, template, hidden.text)
        if answer(hidden, HIDDEN) != answer(unused, UNUSED):
            different.append((method, template, answer(hidden, HIDDEN), answer(unused, UNUSED)))
    assert different == []
    assert service.events(limit=10_000)[-1].seq == before


@pytest.mark.parametrize("user", ["nina", "rita"])
def test_every_mlflow_endpoint_answers_a_hidden_model_as_an_unused_name(world, fresh, user):
    service, client = fresh
    before = service.events(limit=10_000)[-1].seq
    different = []
    calls = [(method, path) for path, handlers in ENDPOINTS.items() for method in handlers]
    for method, path in [*calls, ("GET", "/model-versions/get-download-uri")]:
        hidden = mlflow_call(client, method, path, HIDDEN, world.auth(user))
        unused = mlflow_call(client, method, path, UNUSED, world.auth(user))
        if answer(hidden, HIDDEN) != answer(unused, UNUSED):
            different.append((method, path, answer(hidden, HIDDEN), answer(unused, UNUSED)))
    assert different == []
    assert service.events(limit=10_000)[-1].seq == before


def test_registering_under_a_hidden_name_is_the_refusal_to_create_a_model(world, fresh):
    _, client = fresh
    for name in (HIDDEN, UNUSED):
        response = client.post(f"{API}/models/{name}/versions", json={"source": SOURCE},
                               headers=world.auth("nina"))
        assert (response.status_code, response.json()["error"]["code"]) == (
            403, "access.denied"), response.text
        assert "create models" in response.json()["error"]["message"]
