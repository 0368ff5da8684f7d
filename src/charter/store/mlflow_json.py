"""PostgreSQL writes the MLflow model search's items itself: ``RegisteredModel`` objects
(with their ``latest_versions``, ``ModelVersion`` objects), the shapes api/mlflow/shapes.py
makes in Python.

A cold model search on PostgreSQL spent more server CPU turning rows into records and
records into dicts than the statement took: a page of 80 models with their newest version
per stage decoded 240 JSON arrays, built 80 ModelBriefs and 160 VersionBriefs, parsed 320
stored times and made them milliseconds, then built the dicts. Here the statement answers
each model as one JSON object with the keys in the shapes' order — timestamps already in
milliseconds, version numbers as text, MLflow's status names — and the page is decoded
with one ``orjson.loads``; the route encodes it as before, so the bytes are orjson's.
The version search keeps the Python shapes: written by the database, its page of plain
versions cost PostgreSQL as much more as it saved the server (bench/README.md, "MLflow
model searches shaped by PostgreSQL"); SQLite keeps them too.
tests/store/test_store_mlflow_json.py holds the two ways to the same answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from charter.domain.lifecycle import STAGES

# MLflow's names for our statuses; any other answers PENDING_REGISTRATION. The same table
# as api/mlflow/shapes.py ``_STATUS`` (the store cannot import the API; a test compares).
STATUS = {"READY": "READY", "PENDING": "PENDING_REGISTRATION",
          "PENDING_REGISTRATION": "PENDING_REGISTRATION", "FAILED": "FAILED_REGISTRATION",
          "FAILED_REGISTRATION": "FAILED_REGISTRATION"}
OTHER_STATUS = "PENDING_REGISTRATION"


def _millis(column: str) -> str:
    """Milliseconds since the epoch, floored as shapes.millis floors them (a stored time
    is UTC without an offset; ``extract`` answers an exact numeric)."""
    return f"floor(extract(epoch FROM {column}) * 1000)::bigint"


def _status(column: str) -> str:
    cases = " ".join(f"WHEN '{ours}' THEN '{theirs}'" for ours, theirs in STATUS.items())
    return f"CASE {column} {cases} ELSE '{OTHER_STATUS}' END"


def version_object(v: str, name: str) -> str:
    """A ``ModelVersion`` for the versions row ``v`` of the model named by ``name``.
    ``model_id`` comes last and is null when the version has none: ``decoded`` drops it
    then, as the shape leaves it out."""
    return (
        f"json_build_object('name', {name}, 'version', {v}.version::text, "
        f"'creation_timestamp', {_millis(f'{v}.created_at')}, "
        f"'last_updated_timestamp', {_millis(f'{v}.updated_at')}, "
        f"'current_stage', {v}.stage, 'description', {v}.description, "
        f"'source', {v}.source, 'run_id', {v}.run_id, 'status', {_status(f'{v}.status')}, "
        "'tags', (SELECT coalesce(json_agg(json_build_object('key', t.key, 'value', t.value) "
        f"ORDER BY t.key), '[]') FROM version_tags t WHERE t.version_id = {v}.id), "
        "'run_link', '', 'aliases', (SELECT coalesce(json_agg(a.alias ORDER BY a.alias), "
        f"'[]') FROM aliases a WHERE a.version_id = {v}.id), "
        f"'model_id', nullif({v}.logged_model_id, ''))")


# The newest version in each stage, in stage order (the shape's ``latest_versions``): one
# backward descent of the (model_id, stage, version) index per stage.
_STAGE_ROWS = ", ".join(f"({rank}, '{stage.value}')" for rank, stage in enumerate(STAGES))
_LATEST = (
    f"(SELECT coalesce(json_agg({version_object('v', 'm.name')} ORDER BY s.rank), '[]') "
    f"FROM (VALUES {_STAGE_ROWS}) s (rank, stage) CROSS JOIN LATERAL (SELECT * FROM versions y "
    "WHERE y.model_id = m.id AND y.stage = s.stage ORDER BY y.version DESC LIMIT 1) v)")

MODEL_OBJECT = (
    f"json_build_object('name', m.name, 'creation_timestamp', {_millis('m.created_at')}, "
    f"'last_updated_timestamp', {_millis('m.updated_at')}, 'description', m.description, "
    f"'latest_versions', {_LATEST}, "
    "'tags', (SELECT coalesce(json_agg(json_build_object('key', t.key, 'value', t.value) "
    "ORDER BY t.key), '[]') FROM model_tags t WHERE t.model_id = m.id), "
    "'aliases', (SELECT coalesce(json_agg(json_build_object('alias', a.alias, "
    "'version', x.version::text) ORDER BY a.alias), '[]') FROM aliases a "
    "JOIN versions x ON x.id = a.version_id WHERE a.model_id = m.id))")

# A model search selects each model as text (one decode for the page, not one per row).
MODELS_OF_PAGE = f"SELECT ({MODEL_OBJECT})::text FROM"  # + a page of models rows as m


def decoded(rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """The models of ``rows`` (one JSON text each), without the null ``model_id``s."""
    if not rows:
        return []
    items: list[dict[str, Any]] = orjson.loads("[" + ",".join(row[0] for row in rows) + "]")
    for item in items:
        for version in item["latest_versions"]:
            if version["model_id"] is None:
                del version["model_id"]
    return items
