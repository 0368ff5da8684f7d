"""Every operation, with one hostile value put in each request (``hostile.py``).

A lone surrogate, NUL or another control character in any string or key of the body,
in a query value or in a path segment; an integer beyond 64 bits or a number that is
not finite in place of any JSON number, query value or path segment. Each must be
refused by the input boundary: a 400 in the surface's own error shape, with one of its
codes, and the registry unchanged (no new event). On REST v1 and the MLflow surface,
without authentication and as a user with no role.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis import GenerationMode

from tests.fuzz.conftest import EXAMPLES, EXAMPLES_PER_IDENTITY, NOT_FUZZED, SEED, Server
from tests.fuzz.hostile import HostileRequest, hostile_requests
from tests.fuzz.mlflow_spec import document
from tests.fuzz.test_fuzz_mlflow import OPERATIONS as MLFLOW_OPERATIONS
from tests.fuzz.test_fuzz_rest import OPERATIONS as REST_OPERATIONS

pytestmark = pytest.mark.fuzz

BOUNDARY_CODES = {"request.invalid_text", "request.number_out_of_range", "request.invalid_json"}
OPERATIONS = [("rest", m, p) for m, p in REST_OPERATIONS if (m, p) not in NOT_FUZZED] + \
    [("mlflow", m, p) for m, p in MLFLOW_OPERATIONS]
IDS = [f"{surface} {method} {path.split('/api/', 1)[1]}" for surface, method, path in OPERATIONS]


@pytest.fixture(scope="module")
def schemas(open_server):
    return {"rest": schemathesis.openapi.from_url(f"{open_server.url}/api/v1/openapi.json"),
            "mlflow": schemathesis.openapi.from_dict(document())}


def newest_event(client: httpx.Client) -> int:
    events = client.get("/api/v1/events", params={"after": 0, "limit": 10_000}).json()["events"]
    return events[-1]["seq"] if events else 0


def assert_refused_by_the_boundary(request: HostileRequest, response: httpx.Response) -> None:
    shown = f"{request.method} {request.path} ({request.where}) -> {response.status_code}"
    assert response.status_code == 400, f"{shown}: {response.text[:400]}"
    body: dict[str, Any] = response.json()
    if request.path.startswith("/api/v1"):
        assert set(body) == {"error"}, shown
        code = body["error"]["code"]
        assert body["error"]["message"] and body["error"]["hint"], shown
    else:
        assert body["error_code"] == "INVALID_PARAMETER_VALUE" and body["message"], shown
        code = body["charter_code"]
    assert code in BOUNDARY_CODES, f"{shown}: {code}"


def hurl(server: Server, identity: str, operation: Any, *, check_events: bool,
         examples: int = EXAMPLES) -> None:
    client = httpx.Client(base_url=server.url, headers=server.headers[identity], timeout=30)

    @settings(max_examples=examples, deadline=None, database=None, derandomize=SEED is None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(request=hostile_requests(operation.as_strategy(GenerationMode.POSITIVE)))
    def run(request: HostileRequest) -> None:
        before = newest_event(client) if check_events else 0
        headers = {"Content-Type": "application/json"} if request.body is not None else {}
        response = client.request(request.method, request.url(""), content=request.content(),
                                  headers=headers)
        assert_refused_by_the_boundary(request, response)
        if check_events:
            assert newest_event(client) == before, f"{request.where} changed the registry"

    if SEED is not None:
        run = seed(int(SEED))(run)
    with client:
        run()


@pytest.mark.parametrize(("surface", "method", "path"), OPERATIONS, ids=IDS)
def test_a_hostile_value_anywhere_is_refused_and_changes_nothing(open_server, schemas,
                                                                 surface, method, path):
    hurl(open_server, "local admin", schemas[surface].find_operation_by_path(method, path),
         check_events=True)


@pytest.mark.parametrize(("surface", "method", "path"), OPERATIONS, ids=IDS)
def test_a_hostile_value_is_refused_before_access_control_sees_it(guarded_server, schemas,
                                                                  surface, method, path):
    hurl(guarded_server, "nina", schemas[surface].find_operation_by_path(method, path),
         check_events=False, examples=EXAMPLES_PER_IDENTITY)
