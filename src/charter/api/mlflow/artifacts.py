"""MLflow's artifact routes over Charter's blobs, so MLflow clients download Charter versions.

``model-versions/get-download-uri`` answers, for a version whose files Charter
stores, ``http(s)://<host>/api/2.0/mlflow-artifacts/artifacts/models/<name>/versions/<n>``.
MLflow's client opens such a URI with its ``HttpArtifactRepository``, which speaks
the two read routes below (the shapes of ``mlflow.server.handlers``):

* ``GET /api/2.0/mlflow-artifacts/artifacts?path=<dir>`` ->
  ``{"files": [{"path": <name>, "is_dir": …, "file_size": …}]}`` (direct children);
* ``GET /api/2.0/mlflow-artifacts/artifacts/<path>`` -> the file's bytes.

So ``mlflow.pyfunc.load_model("models:/fraud_detector/Production")`` works for a
model uploaded with ``charter register``. The routes are read-only: an artifact
path names a version's recorded file (checked by the one path rule), never a
location in the store. A version registered from a source keeps its source as
the download URI, as before.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from charter.api.files import file_response, public_base_url, raw_tail
from charter.api.mlflow import consumers, shapes
from charter.api.mlflow.cache import answer
from charter.api.mlflow.params import read_params, request_body
from charter.domain import error_codes as codes
from charter.domain.errors import NotFound
from charter.domain.paths import safe_relative_path
from charter.domain.records import VersionLocation
from charter.web import SIGNED_IN, allow, registry

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
DOWNLOAD_URI_PATHS = ("/api/2.0/mlflow/model-versions/get-download-uri",
                      "/ajax-api/2.0/mlflow/model-versions/get-download-uri")


def download_uri(location: VersionLocation, base_url: str) -> str:
    """The version's files as this server serves them, else its source (as
    ``service.queries.artifact_location`` says, absolute)."""
    if not location.has_files:
        return location.source
    return (f"{base_url}{ARTIFACTS}/models/{quote(location.name, safe='')}"
            f"/versions/{location.version}")


def split_artifact_path(path: str) -> tuple[str, str, str]:
    """``models/<name>/versions/<n>[/<file path>]`` -> (name, version, file path)."""
    parts = safe_relative_path(path).split("/")
    if len(parts) < 4 or parts[0] != "models" or parts[2] != "versions":
        raise NotFound(codes.ARTIFACT_NOT_FOUND, f"{path!r:.120} is not a Charter artifact path",
                       "artifact paths are models/<name>/versions/<n>/<file>, as "
                       "model-versions/get-download-uri answers them")
    return parts[1], parts[3], "/".join(parts[4:])


@allow(SIGNED_IN)
async def get_download_uri(request: Request) -> Response:
    if request.method not in ("GET", "HEAD"):
        return _read_only(request)
    consumer = consumers.consumer_of(request, consumers.DOWNLOAD_URI)
    params = await read_params(request)
    service = registry(request)
    base_url = public_base_url(request)

    def compute() -> Response:
        location = service.version_location(params.text("name", required=True),
                                            params.version())
        return shapes.json_response({"artifact_uri": download_uri(location, base_url)})

    # Kept like the other reads' answers (cache.py), by method, query and body (which one
    # is read depends on the method) and the base URL it names.
    key = (get_download_uri, request.method, base_url, request.scope["query_string"],
           await request_body(request))
    response = await answer(request.app.state.answers, service, key, compute)
    if consumer is not None and response.status_code == 200:
        name, number = params.text("name", required=True), params.version().lstrip("vV")
        await consumers.report(service, consumer, [(f"models:/{name}/{number}", name,
                                                    int(number))])
    return response


@allow(SIGNED_IN)
async def list_artifacts(request: Request) -> Response:
    if request.method not in ("GET", "HEAD"):
        return _read_only(request)
    name, version, folder = split_artifact_path(request.query_params.get("path", ""))
    service = registry(request)
    children = await run_in_threadpool(service.list_folder, name, version, folder)
    files = []
    for child in children:
        entry: dict[str, object] = {"path": child.name, "is_dir": child.is_dir}
        if child.size is not None:
            entry["file_size"] = child.size
        files.append(entry)
    return shapes.json_response({"files": files} if files else {})


@allow(SIGNED_IN)
async def download_artifact(request: Request) -> Response:
    if request.method not in ("GET", "HEAD"):
        return _read_only(request)
    name, version, path = split_artifact_path(raw_tail(request, request.path_params["path"]))
    service = registry(request)
    file = await run_in_threadpool(service.get_file, name, version, path)
    return await file_response(service, file, request)


def _read_only(request: Request) -> JSONResponse:
    message = (f"{request.method} is not supported on {request.url.path}: Charter serves "
               "its artifacts read-only; register a version with `charter register` or "
               "POST /api/v1/models/{name}/uploads")
    return JSONResponse({"error_code": "ENDPOINT_NOT_FOUND", "message": message},
                        status_code=405, headers={"Allow": "GET, HEAD"})


ALL = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]

# Read-only routes for the signed in: the model is named in the artifact path, and every
# read goes through the service (get_version, version_location), which checks the
# caller's role on it.

routes = [
    *(Route(path, get_download_uri, methods=ALL, include_in_schema=False)
      for path in DOWNLOAD_URI_PATHS),
    Route(ARTIFACTS, list_artifacts, methods=ALL, include_in_schema=False),
    Route(ARTIFACTS + "/{path:path}", download_artifact, methods=ALL, include_in_schema=False),
]
