"""Driving schemathesis operations against a real server, within the tier's budget.

``exercise`` runs one operation of a loaded schema with Hypothesis: valid and invalid
requests (schemathesis' positive and negative modes), each sent to the server and its
answer checked: no 5xx but 507, a status the document declares for the operation, a
body matching the declared schema and content type, and an error code the docs list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.conftest import EXAMPLES, SEED, error_code, no_server_error

CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_WAIT = 0.2  # seconds a fuzzed long poll (GET /api/v1/events?wait=…) may hold


def tame(case: Case) -> None:
    """Keep a case within the tier's time: a long poll waits a moment, not a minute."""
    if isinstance(case.query, dict) and "wait" in case.query:
        try:
            case.query["wait"] = min(float(case.query["wait"]), MAX_WAIT)
        except (TypeError, ValueError):
            pass


def exercise(operation: Any, base_url: str, headers: dict[str, str], documented: set[str],
             *, examples: int = EXAMPLES, prepare: Callable[[Case], None] = tame) -> None:
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                         operation.as_strategy(GenerationMode.NEGATIVE))
    session = requests.Session()

    @settings(max_examples=examples, deadline=None, database=None, derandomize=SEED is None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: Case) -> None:
        prepare(case)
        try:
            response = case.call(base_url=base_url, session=session, headers=headers,
                                 timeout=30)
        except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL,
                UnicodeEncodeError):
            return  # the client library would not send it; nothing reached the server
        where = f"{case.method} {case.formatted_path}"
        no_server_error(response.status_code, where, response.text)
        case.validate_response(response, checks=CHECKS)
        kind = response.headers.get("content-type") or [""]
        if response.status_code >= 400 and kind[0].startswith("application/json"):
            code = error_code(urlsplit(response.request.url).path, response.json())
            assert code is None or code in documented, (
                f"{where} answered the code {code!r}, which the docs' error table lacks")

    if SEED is not None:
        run = seed(int(SEED))(run)
    run()
