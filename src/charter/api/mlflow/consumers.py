"""Consumer reports riding on the MLflow surface's lookups (docs/mlflow.md).

An MLflow client that sends ``X-Charter-Consumer: checkout-api/eu`` (with Charter
installed, ``CHARTER_CONSUMER=checkout-api/eu`` makes it: client/mlflow_headers.py)
reports what it was answered: ``get-latest-versions`` with stages as
``models:/NAME/STAGE`` (without stages as ``models:/NAME/latest``),
``registered-models/alias`` as ``models:/NAME@ALIAS``, ``model-versions/get`` and
``get-download-uri`` as ``models:/NAME/N`` — unless the same consumer just resolved
that version through a stage or an alias, of which the number lookup is the next step.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from charter.domain.consumers import HEADER, check_consumer_name
from charter.registry import ServerRegistry

LATEST_VERSIONS = "/registered-models/get-latest-versions"
ALIAS = "/registered-models/alias"
GET_VERSION = "/model-versions/get"
DOWNLOAD_URI = "/model-versions/get-download-uri"
LOOKUPS = frozenset({LATEST_VERSIONS, ALIAS, GET_VERSION, DOWNLOAD_URI})


def consumer_of(request: Request, endpoint: str) -> str | None:
    """The consumer a lookup reports for (checked: ``consumer.invalid``), else None."""
    if endpoint not in LOOKUPS or request.method not in ("GET", "POST", "HEAD"):
        return None
    # The raw headers scanned (the first one counts, as Headers.get reads it): most lookups
    # carry none, and a Headers object per lookup to find that out is most of this call.
    for name, value in request.scope["headers"]:
        if name == _HEADER_BYTES:
            return check_consumer_name(value.decode("latin-1"))
    return None


_HEADER_BYTES = HEADER.lower().encode("ascii")


def answered(endpoint: str, body: dict[str, Any], stages: list[str], alias: str
             ) -> list[tuple[str, str, int]]:
    """(uri, model name, version) of each thing a lookup's answer says the caller serves."""
    if endpoint == LATEST_VERSIONS:
        found = [(v["name"], int(v["version"]), v["current_stage"])
                 for v in body.get("model_versions", [])]
        if not found:
            return []
        if not stages:
            name, number, _ = max(found, key=lambda v: v[1])
            return [(f"models:/{name}/latest", name, number)]
        return [(f"models:/{name}/{stage}", name, number) for name, number, stage in found]
    version = body.get("model_version")
    if not isinstance(version, dict):
        return []
    name, number = version["name"], int(version["version"])
    if endpoint == ALIAS:
        return [(f"models:/{name}@{alias}", name, number)]
    return [(f"models:/{name}/{number}", name, number)]


async def report(service: ServerRegistry, consumer: str, answer: Answer) -> None:
    """Note each answer for ``consumer``; write the due ones off the event loop."""
    notes = [service.note_consumer_lookup(consumer, uri, name, number)
             for uri, name, number in answer]
    due = [note for note in notes if note is not None]
    if due:
        await run_in_threadpool(_write_all, service, due)


def _write_all(service: ServerRegistry, notes: list[Any]) -> None:
    for note in notes:
        service.write_consumer_note(note)


Answer = list[tuple[str, str, int]]
_ANSWERS: dict[tuple[str, bytes, tuple[str, ...], str], Answer] = {}
_MAX_ANSWERS = 1024


def answered_by(endpoint: str, response: Response, stages: list[str], alias: str) -> Answer:
    """``answered`` for a response; a body seen before (the read cache hands out the same
    bytes until the registry changes) is not parsed again."""
    if response.status_code != 200:
        return []
    body = bytes(response.body)
    key = (endpoint, body, tuple(stages), alias)
    found = _ANSWERS.get(key)
    if found is None:
        parsed = json.loads(body)
        found = answered(endpoint, parsed if isinstance(parsed, dict) else {}, stages, alias)
        if len(_ANSWERS) >= _MAX_ANSWERS:
            _ANSWERS.clear()
        _ANSWERS[key] = found
    return found
