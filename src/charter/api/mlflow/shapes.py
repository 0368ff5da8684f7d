"""Charter records in MLflow's JSON shapes (``RegisteredModel``, ``ModelVersion``).

Timestamps are milliseconds since the epoch, version numbers are strings, tags are
``[{"key", "value"}]`` and a registered model's aliases are ``[{"alias", "version"}]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.responses import Response

from charter.api.mlflow import kept
from charter.domain.records import ModelBrief, ModelRecord, Stored, VersionBrief, VersionRecord

_STATUS = {"READY": "READY", "PENDING": "PENDING_REGISTRATION",
           "PENDING_REGISTRATION": "PENDING_REGISTRATION", "FAILED": "FAILED_REGISTRATION",
           "FAILED_REGISTRATION": "FAILED_REGISTRATION"}

# orjson writes the bytes json.JSONEncoder(ensure_ascii=False, separators=(",", ":")) would
# (tests/api/test_mlflow_api.py checks), in a fifteenth of the time: a search of 80 models
# is 75 kB of JSON, 0.8 ms with json.
_encode = orjson.dumps

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def millis(moment: datetime) -> int:
    """Milliseconds since the epoch, as ``int(moment.timestamp() * 1000)`` gives them, in
    integers: ``(moment - epoch) // timedelta(milliseconds=1)``, floored, from the
    difference's parts (a timedelta's floor division makes Python integers of both
    sides' microseconds: 0.54 µs against 0.37 here; a search shapes hundreds). A naive
    moment is local time."""
    try:
        since = moment - _EPOCH  # days may be negative; seconds and microseconds never are
    except TypeError:  # a naive moment (asked only then: an attribute read costs as much)
        if moment.tzinfo is not None:  # a zone without an offset: no time to tell
            raise
        return int(moment.timestamp() * 1000)
    return since.days * 86_400_000 + since.seconds * 1000 + since.microseconds // 1000


def tags(values: dict[str, str]) -> list[dict[str, str]]:
    # A loop, not a comprehension: on Python 3.11 a comprehension is a function made and
    # called each time, most of the cost for the one or two tags a model has.
    shaped = []
    for key, value in values.items():
        shaped.append({"key": key, "value": value})
    return shaped


def model_version(version: VersionRecord | VersionBrief) -> dict[str, Any]:
    # A pure function of the version, as registered_model is of its arguments: a model
    # search keeps what they make by the model's text (api/mlflow/kept.py), so no setting,
    # principal or request may change it.
    # A search shapes hundreds per answer: a brief's fields unpacked at once (a named
    # field read is an attribute lookup each), tags and aliases shaped inline.
    if isinstance(version, VersionBrief):
        (name, number, stage, source, run_id, description, status, created_at, updated_at,
         version_tags, aliases, model_id) = version
    else:
        name, number, stage, source = version.name, version.version, version.stage, version.source
        run_id, description, status = version.run_id, version.description, version.status
        created_at, updated_at, version_tags = version.created_at, version.updated_at, version.tags
        aliases, model_id = version.aliases, version.model_id
    shaped_tags = []
    for key, value in version_tags.items():
        shaped_tags.append({"key": key, "value": value})
    shape = {
        "name": name,
        "version": str(number),
        "creation_timestamp": millis(created_at),
        "last_updated_timestamp": millis(updated_at),
        "current_stage": stage,
        "description": description,
        "source": source,
        "run_id": run_id,
        "status": _STATUS.get(status, "PENDING_REGISTRATION"),
        "tags": shaped_tags,
        "run_link": "",
        "aliases": aliases,  # the record's own list: the answer is encoded at once
    }
    if model_id:  # MLflow 3's logged model, when the client named one
        shape["model_id"] = model_id
    return shape


def registered_model(model: ModelRecord | ModelBrief,
                     latest: Sequence[VersionRecord | VersionBrief]) -> dict[str, Any]:
    if isinstance(model, ModelBrief):  # a search's: unpacked at once, as in model_version
        name, description, created_at, updated_at, model_tags, aliases, _ = model
    else:
        name, description, created_at, updated_at = (model.name, model.description,
                                                     model.created_at, model.updated_at)
        model_tags, aliases = model.tags, model.aliases
    return {
        "name": name,
        "creation_timestamp": millis(created_at),
        "last_updated_timestamp": millis(updated_at),
        "description": description,
        "latest_versions": [model_version(v) for v in latest],
        "tags": tags(model_tags),
        "aliases": [{"alias": alias, "version": str(number)}
                    for alias, number in (sorted(aliases.items()) if len(aliases) > 1
                                          else aliases.items())],
    }


def registered_models_response(items: Sequence[ModelBrief | Stored[ModelBrief]],
                               next_token: str) -> Response:
    """A model search's answer (``{"registered_models": [...], "next_page_token"}``), the
    bytes ``json_response`` would write. A model the store handed over as it read it
    (Stored) is decoded and shaped only when its JSON is not kept (api/mlflow/kept.py)."""
    parts = []
    for item in items:
        if isinstance(item, Stored):
            made = kept.MODELS.get(item.raw)
            if made is None:
                brief = item.item()
                made = _encode(registered_model(brief, brief.latest))
                kept.MODELS.keep(item.raw, made)
        else:
            made = _encode(registered_model(item, item.latest))
        parts.append(made)
    body = b'{"registered_models":[' + b",".join(parts) + b"]"
    if next_token:
        body += b',"next_page_token":' + _encode(next_token)
    return Response(body + b"}", media_type="application/json")


def json_response(body: dict[str, Any]) -> Response:
    return Response(_encode(body), media_type="application/json")


EMPTY = b"{}"


def empty_response() -> Response:
    return Response(EMPTY, media_type="application/json")
