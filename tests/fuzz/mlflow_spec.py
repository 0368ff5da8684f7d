"""An OpenAPI 3.0 document of what Charter's MLflow surface accepts and answers.

MLflow publishes its REST API as protobuf messages and prose, not as an OpenAPI
document, and Charter only mirrors it: serving a second, hand-made description from
the product would be one more contract to keep in step with MLflow's. So the document
lives here, with the tests that hold the server to it. It follows ``api/mlflow/
routes.py`` (the endpoint table) and ``api/mlflow/shapes.py`` (the answers), and
``test_fuzz_mlflow.py`` checks that it names every endpoint of that table.

GET endpoints take query parameters; the others a JSON body (DELETE too, as MLflow's
client sends it). Errors are MLflow's ``{"error_code", "message"}`` with Charter's
``charter_code``.
"""

from __future__ import annotations

from typing import Any

PREFIX = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"

TEXT: dict[str, Any] = {"type": "string"}
TAGS = {"type": "array", "items": {"type": "object", "properties": {
    "key": TEXT, "value": TEXT}, "required": ["key"]}}
VERSION_NUMBER = {"oneOf": [{"type": "string"}, {"type": "integer"}]}

MODEL_VERSION = {
    "type": "object",
    "required": ["name", "version", "creation_timestamp", "last_updated_timestamp",
                 "current_stage", "description", "source", "run_id", "status", "tags",
                 "run_link", "aliases"],
    "properties": {
        "name": TEXT, "version": TEXT, "creation_timestamp": {"type": "integer"},
        "last_updated_timestamp": {"type": "integer"},
        "current_stage": {"enum": ["None", "Staging", "Production", "Archived"]},
        "description": TEXT, "source": TEXT, "run_id": TEXT,
        "status": {"enum": ["READY", "PENDING_REGISTRATION", "FAILED_REGISTRATION"]},
        "tags": {"type": "array", "items": {"type": "object", "required": ["key", "value"],
                                             "properties": {"key": TEXT, "value": TEXT}}},
        "run_link": TEXT, "aliases": {"type": "array", "items": TEXT}},
    "additionalProperties": False,
}
REGISTERED_MODEL = {
    "type": "object",
    "required": ["name", "creation_timestamp", "last_updated_timestamp", "description",
                 "latest_versions", "tags", "aliases"],
    "properties": {
        "name": TEXT, "creation_timestamp": {"type": "integer"},
        "last_updated_timestamp": {"type": "integer"}, "description": TEXT,
        "latest_versions": {"type": "array", "items": MODEL_VERSION},
        "tags": MODEL_VERSION["properties"]["tags"],  # type: ignore[index]
        "aliases": {"type": "array", "items": {"type": "object", "required": ["alias", "version"],
                                               "properties": {"alias": TEXT, "version": TEXT}}}},
    "additionalProperties": False,
}
ERROR = {
    "type": "object", "required": ["error_code", "message"],
    "properties": {"error_code": {"enum": ["INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST",
                                           "RESOURCE_ALREADY_EXISTS", "PERMISSION_DENIED",
                                           "UNAUTHENTICATED", "ENDPOINT_NOT_FOUND"]},
                   "message": TEXT, "charter_code": TEXT, "request_id": TEXT},
    "additionalProperties": False,
}
EMPTY = {"type": "object", "additionalProperties": False}


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False}


# (method, endpoint) -> (parameters, required, answer)
ENDPOINTS: dict[tuple[str, str], tuple[dict[str, Any], list[str], dict[str, Any]]] = {
    ("POST", "/registered-models/create"): (
        {"name": TEXT, "description": TEXT, "tags": TAGS}, ["name"],
        _object(registered_model=REGISTERED_MODEL)),
    ("GET", "/registered-models/get"): ({"name": TEXT}, ["name"],
                                        _object(registered_model=REGISTERED_MODEL)),
    ("POST", "/registered-models/rename"): ({"name": TEXT, "new_name": TEXT},
                                            ["name", "new_name"],
                                            _object(registered_model=REGISTERED_MODEL)),
    ("PATCH", "/registered-models/update"): ({"name": TEXT, "description": TEXT}, ["name"],
                                             _object(registered_model=REGISTERED_MODEL)),
    ("DELETE", "/registered-models/delete"): ({"name": TEXT}, ["name"], EMPTY),
    ("GET", "/registered-models/search"): (
        {"filter": TEXT, "max_results": {"type": "integer"}, "order_by": TEXT,
         "page_token": TEXT}, [],
        _object(registered_models={"type": "array", "items": REGISTERED_MODEL},
                next_page_token=TEXT)),
    ("POST", "/registered-models/get-latest-versions"): (
        {"name": TEXT, "stages": {"type": "array", "items": TEXT}}, ["name"],
        _object(model_versions={"type": "array", "items": MODEL_VERSION})),
    ("POST", "/registered-models/set-tag"): ({"name": TEXT, "key": TEXT, "value": TEXT},
                                             ["name", "key"], EMPTY),
    ("DELETE", "/registered-models/delete-tag"): ({"name": TEXT, "key": TEXT},
                                                  ["name", "key"], EMPTY),
    ("POST", "/registered-models/alias"): (
        {"name": TEXT, "alias": TEXT, "version": VERSION_NUMBER}, ["name", "alias", "version"],
        EMPTY),
    ("GET", "/registered-models/alias"): ({"name": TEXT, "alias": TEXT}, ["name", "alias"],
                                          _object(model_version=MODEL_VERSION)),
    ("DELETE", "/registered-models/alias"): ({"name": TEXT, "alias": TEXT}, ["name", "alias"],
                                             EMPTY),
    ("POST", "/model-versions/create"): (
        {"name": TEXT, "source": TEXT, "run_id": TEXT, "description": TEXT, "tags": TAGS,
         "run_link": TEXT}, ["name", "source"], _object(model_version=MODEL_VERSION)),
    ("GET", "/model-versions/get"): ({"name": TEXT, "version": TEXT}, ["name", "version"],
                                     _object(model_version=MODEL_VERSION)),
    ("PATCH", "/model-versions/update"): (
        {"name": TEXT, "version": VERSION_NUMBER, "description": TEXT}, ["name", "version"],
        _object(model_version=MODEL_VERSION)),
    ("DELETE", "/model-versions/delete"): ({"name": TEXT, "version": VERSION_NUMBER},
                                           ["name", "version"], EMPTY),
    ("POST", "/model-versions/search"): (
        {"filter": TEXT, "max_results": {"type": "integer"},
         "order_by": {"type": "array", "items": TEXT}, "page_token": TEXT}, [],
        _object(model_versions={"type": "array", "items": MODEL_VERSION}, next_page_token=TEXT)),
    ("POST", "/model-versions/transition-stage"): (
        {"name": TEXT, "version": VERSION_NUMBER, "stage": TEXT,
         "archive_existing_versions": {"type": "boolean"}}, ["name", "version", "stage"],
        _object(model_version=MODEL_VERSION)),
    ("POST", "/model-versions/set-tag"): (
        {"name": TEXT, "version": VERSION_NUMBER, "key": TEXT, "value": TEXT},
        ["name", "version", "key"], EMPTY),
    ("DELETE", "/model-versions/delete-tag"): (
        {"name": TEXT, "version": VERSION_NUMBER, "key": TEXT}, ["name", "version", "key"],
        EMPTY),
    ("GET", "/model-versions/get-download-uri"): (
        {"name": TEXT, "version": TEXT}, ["name", "version"], _object(artifact_uri=TEXT)),
}

# The same endpoints by the other method MLflow's server accepts for them.
ENDPOINTS[("POST", "/registered-models/search")] = ENDPOINTS[("GET", "/registered-models/search")]
ENDPOINTS[("GET", "/model-versions/search")] = ENDPOINTS[("POST", "/model-versions/search")]
ENDPOINTS[("GET", "/registered-models/get-latest-versions")] = ENDPOINTS[
    ("POST", "/registered-models/get-latest-versions")]

ERRORS = {str(status): {"description": "refused", "content": {"application/json": {
    "schema": ERROR}}} for status in (400, 401, 403, 404)}


def _operation(method: str, parameters: dict[str, Any], required: list[str],
               answer: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {"responses": {
        "200": {"description": "OK", "content": {"application/json": {"schema": answer}}},
        **ERRORS}}
    if method == "GET":
        operation["parameters"] = [{"name": name, "in": "query", "required": name in required,
                                    "schema": schema} for name, schema in parameters.items()]
    else:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"type": "object", "properties": parameters, "required": required}}}}
    return operation


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for (method, endpoint), (parameters, required, answer) in ENDPOINTS.items():
        paths.setdefault(PREFIX + endpoint, {})[method.lower()] = _operation(
            method, parameters, required, answer)
    paths[ARTIFACTS] = {"get": {
        "parameters": [{"name": "path", "in": "query", "required": True, "schema": TEXT}],
        "responses": {"200": {"description": "a folder's children", "content": {
            "application/json": {"schema": _object(files={"type": "array", "items": {
                "type": "object", "required": ["path", "is_dir"], "properties": {
                    "path": TEXT, "is_dir": {"type": "boolean"},
                    "file_size": {"type": "integer"}}}})}}}, **ERRORS}}}
    paths[ARTIFACTS + "/{path}"] = {"get": {
        "parameters": [{"name": "path", "in": "path", "required": True, "schema": TEXT}],
        "responses": {"200": {"description": "bytes", "content": {"application/octet-stream": {
            "schema": {"type": "string", "format": "binary"}}}},
            "206": {"description": "a range", "content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}},
            "416": {"description": "range past the end"}, **ERRORS}}}
    return {"openapi": "3.0.3", "info": {"title": "Charter's MLflow surface", "version": "1"},
            "paths": paths}
