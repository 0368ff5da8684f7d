"""Hostile bytes against a real ``charter serve``, on SQLite and PostgreSQL.

Each case is a class of input no client may store: a lone UTF-16 surrogate, NUL or a
control character in any JSON string, a body that is not UTF-8, an integer beyond 64
bits (in JSON, in a query string, in an MLflow search filter), an encoded newline or
invalid UTF-8 in a path. Every one must be a 400 in its surface's error shape
(``{"error": {code, message, hint}}`` under /api/v1, ``{"error_code", "message"}`` on
the MLflow surface), with the boundary's code, and change nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.server import running_server

API = "/api/v1"
MLFLOW = "/api/2.0/mlflow"
M = f"{API}/models/fraud_detector"
JSON = {"Content-Type": "application/json"}
HUGE = "99999999999999999999999"

# The three kinds of bad text, as a JSON string literal would carry them.
BAD_TEXT = {"surrogate": "x\\udfff", "nul": "a\\u0000b", "escape char": "\\u001b[2J"}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql",
                                                                marks=pytest.mark.postgres)])
def server(request, tmp_path_factory) -> Iterator[str]:
    home = tmp_path_factory.mktemp(f"hostile-{request.param}")
    database_url = None
    if request.param == "postgresql":
        databases = request.getfixturevalue("postgres_databases")
        name, database_url = databases.create()
        request.addfinalizer(lambda: databases.drop(name))
    with running_server(home, database_url=database_url) as url:
        _seed(url)
        yield url


def _seed(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        client.post(f"{API}/models", json={"name": "fraud_detector"}).raise_for_status()
        client.post(f"{M}/versions", json={"source": "s3://models/fraud/1"}).raise_for_status()


def event_count(url: str) -> int:
    answer = httpx.get(f"{url}{API}/events", params={"limit": 10_000})
    return len(answer.json()["events"])


def body_with(template: str, bad: str) -> bytes:
    """A JSON body whose one string holds ``bad`` as written in JSON (``\\udfff``)."""
    return template.replace("BAD", bad).encode("utf-8")


def assert_refused(response: httpx.Response, code: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    if response.request.url.path.startswith(MLFLOW):
        assert body["error_code"] == "INVALID_PARAMETER_VALUE", body
        assert body["charter_code"] == code, body
        assert body["message"]
    else:
        assert set(body) == {"error"}, body
        assert body["error"]["code"] == code, body
        assert body["error"]["message"] and body["error"]["hint"], body


# Every place a client's text goes in, native and MLflow (the list and more).
TEXT_CASES = [
    ("POST", f"{API}/models", '{"name": "BAD"}'),
    ("POST", f"{API}/models", '{"name": "churn_forecast", "description": "BAD"}'),
    ("POST", f"{API}/models", '{"name": "churn_forecast", "tags": {"team": "BAD"}}'),
    ("POST", f"{API}/models", '{"name": "churn_forecast", "tags": {"BAD": "x"}}'),
    ("PUT", f"{M}/tags/team", '{"value": "BAD"}'),
    ("PATCH", M, '{"description": "BAD"}'),
    ("PUT", f"{M}/versions/1/tags/team", '{"value": "BAD"}'),
    ("POST", f"{M}/versions/1/transition", '{"stage": "Staging", "reason": "BAD"}'),
    ("POST", f"{M}/versions", '{"source": "s3://models/BAD"}'),
    ("POST", f"{M}/uploads/0123456789abcdef0123456789abcdef/commit",
     '{"files": [{"path": "data/BAD/x", "size": 1, "sha256": "00"}]}'),
    ("PATCH", f"{MLFLOW}/registered-models/update",
     '{"name": "fraud_detector", "description": "BAD"}'),
    ("POST", f"{MLFLOW}/registered-models/set-tag",
     '{"name": "fraud_detector", "key": "team", "value": "BAD"}'),
    ("POST", f"{MLFLOW}/model-versions/create",
     '{"name": "fraud_detector", "source": "s3://models/BAD"}'),
    ("POST", f"{MLFLOW}/model-versions/search", '{"filter": "name = \'BAD\'"}'),
]


@pytest.mark.parametrize("bad", BAD_TEXT.values(), ids=BAD_TEXT.keys())
@pytest.mark.parametrize(("method", "path", "template"), TEXT_CASES,
                         ids=[f"{m} {p.split('/', 3)[-1]} {t[:30]}" for m, p, t in TEXT_CASES])
def test_bad_text_in_any_json_string_is_a_400_that_changes_nothing(server, method, path,
                                                                   template, bad):
    before = event_count(server)
    response = httpx.request(method, server + path, content=body_with(template, bad),
                             headers=JSON)
    assert_refused(response, "request.invalid_text")
    assert event_count(server) == before


@pytest.mark.parametrize("query", ["filter=name%20%3D%20%27x%ED%A0%80%27",  # UTF-8 surrogate
                                   "filter=name%20%3D%20%27a%00b%27",
                                   "filter=name%20%3D%20%27%FF%27"])
def test_bad_text_in_a_query_string_is_a_400(server, query):
    response = httpx.get(f"{server}{MLFLOW}/model-versions/search?{query}")
    assert_refused(response, "request.invalid_text")
    response = httpx.get(f"{server}{API}/models?name_like={query.split('%27')[1]}")
    assert_refused(response, "request.invalid_text")


@pytest.mark.parametrize(("method", "url", "body"), [
    ("GET", f"{API}/events?after={HUGE}", None),
    ("GET", f"{API}/events?after=-{HUGE}", None),
    ("GET", f"{M}/history?limit={HUGE}", None),
    ("DELETE", f"{API}/tokens/{HUGE}", None),
    ("POST", f"{M}/versions/1/transition", f'{{"stage": "Staging", "expect_production": {HUGE}}}'),
    ("PUT", f"{M}/aliases/champion", f'{{"version": {HUGE}}}'),
    ("PUT", f"{M}/aliases/champion", '{"version": 1e400}'),
    ("POST", f"{MLFLOW}/registered-models/search", '{"max_results": NaN}'),
    ("POST", f"{MLFLOW}/model-versions/search", f'{{"max_results": {HUGE}}}'),
])
def test_numbers_beyond_64_bits_are_a_400(server, method, url, body):
    response = httpx.request(method, server + url, content=body, headers=JSON)
    assert_refused(response, "request.number_out_of_range")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_search_filter_with_a_number_beyond_64_bits_is_a_400(server, method):
    flt = f"version_number > {HUGE}"
    if method == "GET":
        response = httpx.get(f"{server}{MLFLOW}/model-versions/search", params={"filter": flt})
    else:
        response = httpx.post(f"{server}{MLFLOW}/model-versions/search", json={"filter": flt})
    assert_refused(response, "search.invalid_filter")
    assert HUGE in response.json()["message"]


@pytest.mark.parametrize("body", [b'{"name":"\xc3\x28"}', b'{"name": "caf\xe9"}', b"\xff\xfe{}"])
@pytest.mark.parametrize("path", [f"{API}/models", f"{MLFLOW}/registered-models/create"])
def test_a_body_that_is_not_utf8_is_a_400_in_the_surfaces_shape(server, path, body):
    response = httpx.post(server + path, content=body, headers=JSON)
    assert_refused(response, "request.invalid_json")


def test_a_body_nested_past_the_limit_is_a_400(server):
    deep = b"[" * 5000 + b"]" * 5000
    for path in (f"{API}/models", f"{MLFLOW}/registered-models/create"):
        assert_refused(httpx.post(server + path, content=deep, headers=JSON),
                       "request.invalid_json")


@pytest.mark.parametrize(("method", "path"), [
    ("DELETE", f"{M}/tags/te%0Aam"),
    ("GET", f"{M}/versions/1/files/a%0Ab"),
    ("GET", f"{API}/models/%FF"),
    ("GET", f"{API}/models/a%00b"),
    ("GET", f"{API}/no%0Awhere"),
    ("PUT", f"{M}/uploads/0123456789abcdef0123456789abcdef/files/a%0Db"),
])
def test_a_control_character_or_bad_utf8_in_a_path_is_a_400_envelope(server, method, path):
    response = httpx.request(method, server + path)
    assert_refused(response, "request.invalid_text")


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", f"{API}/nowhere", 404, "route.not_found"),
    ("PATCH", f"{API}/models", 405, "method.not_allowed"),
    ("POST", f"{API}/models", 400, "request.invalid_json"),
    ("GET", f"{API}/events?limit=0", 400, "request.invalid"),
])
def test_every_v1_refusal_has_the_one_envelope(server, method, path, status, code):
    response = httpx.request(method, server + path, content=b"{nope" if method == "POST" else None,
                             headers=JSON)
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert list(body) == ["error"] and body["error"]["code"] == code, body
    assert {"kind", "code", "message", "hint"} <= set(body["error"])


def test_good_text_with_tabs_newlines_and_unicode_still_goes_through(server):
    text = "line one\n\tline two — naïve café 🚀"
    response = httpx.patch(server + M, json={"description": text})
    assert response.status_code == 200, response.text
    assert httpx.get(server + M).json()["description"] == text
    assert json.loads(httpx.get(f"{server}{MLFLOW}/registered-models/get",
                                params={"name": "fraud_detector"}).text
                      )["registered_model"]["description"] == text
