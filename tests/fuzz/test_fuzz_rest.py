"""REST v1 fuzzed from its own OpenAPI document, served by a real ``charter serve``.

Every operation of ``/api/v1/openapi.json`` gets valid and invalid requests
(schemathesis), as a local admin on a server without authentication, and with
authentication on as a user every model is hidden from, as an admin, and with no
token at all. See ``engine.exercise`` for what each answer must be.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI

from charter.api import v1
from tests.fuzz.conftest import EXAMPLES_PER_IDENTITY, NOT_FUZZED, documented_codes
from tests.fuzz.engine import exercise

pytestmark = pytest.mark.fuzz


def _operations() -> list[tuple[str, str]]:
    """The document's operations, read from the router itself (no server at collection)."""
    app = FastAPI(openapi_url="/api/v1/openapi.json")
    app.include_router(v1.router, prefix="/api/v1")
    return sorted((method.upper(), path) for path, item in app.openapi()["paths"].items()
                  for method in item if (method.upper(), path) not in NOT_FUZZED)


OPERATIONS = _operations()
IDS = [f"{method} {path.removeprefix('/api/v1')}" for method, path in OPERATIONS]
DOCUMENTED = documented_codes("rest.md")


@pytest.fixture(scope="module")
def open_schema(open_server):
    return schemathesis.openapi.from_url(f"{open_server.url}/api/v1/openapi.json")


@pytest.fixture(scope="module")
def guarded_schema(guarded_server):
    return schemathesis.openapi.from_url(f"{guarded_server.url}/api/v1/openapi.json")


def test_the_served_document_has_the_operations_fuzzed_here(open_schema):
    served = {(r.ok().method.upper(), r.ok().path) for r in open_schema.get_all_operations()}
    assert served - NOT_FUZZED == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=IDS)
def test_every_operation_without_authentication(open_server, open_schema, method, path):
    operation = open_schema.find_operation_by_path(method, path)
    exercise(operation, open_server.url, open_server.headers["local admin"], DOCUMENTED)


@pytest.mark.parametrize("identity", ["nina", "ada", "nobody"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=IDS)
def test_every_operation_with_authentication(guarded_server, guarded_schema, method, path,
                                             identity):
    operation = guarded_schema.find_operation_by_path(method, path)
    exercise(operation, guarded_server.url, guarded_server.headers[identity], DOCUMENTED,
             examples=EXAMPLES_PER_IDENTITY)
