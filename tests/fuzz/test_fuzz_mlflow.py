"""The MLflow surface fuzzed from the document in ``mlflow_spec.py``, on a real server.

Every endpoint of Charter's MLflow surface (and MLflow's two artifact routes) gets
valid and invalid requests, without authentication and with it (as a user every model
is hidden from, and as an admin). The answers must keep MLflow's shapes, never a 5xx,
and every ``charter_code`` must be in the error table of docs/rest.md.
"""

from __future__ import annotations

import pytest
import schemathesis

from charter.api.mlflow.routes import ENDPOINTS
from tests.fuzz.conftest import EXAMPLES_PER_IDENTITY, documented_codes
from tests.fuzz.engine import exercise
from tests.fuzz.mlflow_spec import ARTIFACTS, PREFIX, document

pytestmark = pytest.mark.fuzz

SPEC = document()
OPERATIONS = sorted((method.upper(), path) for path, item in SPEC["paths"].items()
                    for method in item)
IDS = [f"{method} {path.rsplit('/api/2.0/', 1)[-1]}" for method, path in OPERATIONS]
DOCUMENTED = documented_codes("rest.md")


@pytest.fixture(scope="module")
def schema():
    return schemathesis.openapi.from_dict(SPEC)


def test_the_document_names_every_endpoint_and_method_charter_serves():
    served = {(method, PREFIX + path) for path, handlers in ENDPOINTS.items()
              for method in handlers} | {("GET", PREFIX + "/model-versions/get-download-uri"),
                                         ("GET", ARTIFACTS), ("GET", ARTIFACTS + "/{path}")}
    assert served == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=IDS)
def test_every_endpoint_without_authentication(open_server, schema, method, path):
    exercise(schema.find_operation_by_path(method, path), open_server.url,
             open_server.headers["local admin"], DOCUMENTED)


@pytest.mark.parametrize("identity", ["nina", "ada"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=IDS)
def test_every_endpoint_with_authentication(guarded_server, schema, method, path, identity):
    exercise(schema.find_operation_by_path(method, path), guarded_server.url,
             guarded_server.headers[identity], DOCUMENTED, examples=EXAMPLES_PER_IDENTITY)
