"""A 503 (``database.unavailable``) tells the client when to come back, on both surfaces."""

from __future__ import annotations

import json

import pytest
from starlette.requests import Request

from charter.api.errors import error_response
from charter.domain import error_codes as codes
from charter.domain.errors import Unavailable


def request_to(path: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": path, "query_string": b"",
                    "headers": [], "server": ("127.0.0.1", 80), "scheme": "http"})


ERROR = Unavailable(codes.DATABASE_UNAVAILABLE, "The registry's database could not be reached",
                    "try again in a moment")


@pytest.mark.parametrize(("path", "expected"), [
    ("/api/2.0/mlflow/model-versions/create",
     {"error_code": "TEMPORARILY_UNAVAILABLE",
      "message": "The registry's database could not be reached; try again in a moment",
      "charter_code": "database.unavailable"}),
    ("/api/v1/models",
     {"error": {"kind": "unavailable", "code": "database.unavailable",
                "message": "The registry's database could not be reached",
                "hint": "try again in a moment"}}),
])
def test_database_unavailable_answers_503_with_retry_after(path: str, expected: dict) -> None:  # type: ignore[type-arg]
    response = error_response(request_to(path), ERROR)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    body = json.loads(bytes(response.body))
    if "error" in expected:
        assert expected["error"].items() <= body["error"].items()
    else:
        assert body == expected
