"""The MLflow Model Registry REST 2.0 endpoints, answered by the registry service.

Every handler is parse → one service call → shape. Reads run on the event loop (on
PostgreSQL awaiting the database: charter/web.py ``run_read``); writes too on SQLite when
the write turn comes at once, else in a group commit (``run_write``). Contract refusals
(a bad name, a forbidden transition, a second Production version) are CharterErrors,
which the error funnel turns into MLflow's ``{"error_code", "message"}`` with our hint
folded into the message. There is one route per prefix and a dict lookup picks the
handler, with no per-request validation models: the MLflow client calls
``registered-models/get`` before most calls, so the per-request overhead matters.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from charter.api.mlflow import consumers, shapes
from charter.api.mlflow.cache import answer
from charter.api.mlflow.params import Params, read_params, request_body
from charter.domain.errors import CharterError
from charter.domain.records import VersionRecord
from charter.registry import ServerRegistry
from charter.web import ROUTE_LABEL, SIGNED_IN, allow, registry, run_write

PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")

# MLflow's API has no reason field; the audit trail records the surface instead (DESIGN §2.6).
MLFLOW_REASON = "deleted through the MLflow API"

# MLflow's defaults (mlflow.store.model_registry).
MODELS_PAGE_DEFAULT = 100
VERSIONS_PAGE_DEFAULT = 10_000

# A write's handler may answer a version's record: its response is built once the write
# has committed, outside the group commit (the batch holds the chain head's lock).
Handler = Callable[[ServerRegistry, Params], "Response | VersionRecord"]


# --- registered models -------------------------------------------------------------------


def create_registered_model(service: ServerRegistry, p: Params) -> Response:
    record = service.create_model(p.text("name", required=True),
                                  description=p.text("description"), tags=p.tags())
    return shapes.json_response({"registered_model": shapes.registered_model(record, [])})


def get_registered_model(service: ServerRegistry, p: Params) -> Response:
    return _model_response(service, p.text("name", required=True))


def rename_registered_model(service: ServerRegistry, p: Params) -> Response:
    record = service.rename_model(p.text("name", required=True),
                                  p.text("new_name", required=True))
    return _model_response(service, record.name)


def update_registered_model(service: ServerRegistry, p: Params) -> Response:
    record = service.update_model(p.text("name", required=True),
                                  description=p.text("description"))
    return _model_response(service, record.name)


def delete_registered_model(service: ServerRegistry, p: Params) -> Response:
    service.delete_model(p.text("name", required=True), reason=MLFLOW_REASON)
    return shapes.empty_response()


def search_registered_models(service: ServerRegistry, p: Params) -> Response:
    page = service.model_brief_page(
        p.text("filter"), max_results=p.integer("max_results", default=MODELS_PAGE_DEFAULT),
        order_by=p.strings("order_by"), page_token=p.text("page_token"))
    return shapes.registered_models_response(page.items, page.next_token)


def get_latest_versions(service: ServerRegistry, p: Params) -> Response:
    versions = service.latest_briefs(p.text("name", required=True),
                                     p.strings("stages") or None)
    return shapes.json_response({"model_versions": [shapes.model_version(v) for v in versions]})


def set_registered_model_tag(service: ServerRegistry, p: Params) -> Response:
    service.set_model_tag(p.text("name", required=True), p.text("key", required=True),
                          p.text("value"))
    return shapes.empty_response()


def delete_registered_model_tag(service: ServerRegistry, p: Params) -> Response:
    service.delete_model_tag(p.text("name", required=True), p.text("key", required=True))
    return shapes.empty_response()


def set_registered_model_alias(service: ServerRegistry, p: Params) -> Response:
    service.set_alias(p.text("name", required=True), p.text("alias", required=True),
                      p.version())
    return shapes.empty_response()


def get_model_version_by_alias(service: ServerRegistry, p: Params) -> Response:
    version = service.get_version_by_alias(p.text("name", required=True),
                                           p.text("alias", required=True))
    return _version_response(version)


def delete_registered_model_alias(service: ServerRegistry, p: Params) -> Response:
    service.delete_alias(p.text("name", required=True), p.text("alias", required=True))
    return shapes.empty_response()


# --- model versions --------------------------------------------------------------------------


def create_model_version(service: ServerRegistry, p: Params) -> VersionRecord:
    # MLflow's semantics: the model must exist (RESOURCE_DOES_NOT_EXIST otherwise), and a
    # runs:/ source is recorded as provenance, never looked up. model_id (MLflow 3's
    # logged-model id) is kept and answered; run_link has nowhere to go and is ignored.
    # An mlflow.signature or charter.interface tag declares the interface (docs/mlflow.md).
    version = service.register(p.text("name", required=True), p.text("source", required=True),
                               run_id=p.text("run_id"), description=p.text("description"),
                               tags=p.tags(), create_model=False,
                               model_id=p.text("model_id"))
    return version


def get_model_version(service: ServerRegistry, p: Params) -> Response:
    return _version_response(service.get_version(p.text("name", required=True), p.version()))


def update_model_version(service: ServerRegistry, p: Params) -> Response:
    version = service.update_version(p.text("name", required=True), p.version(),
                                     description=p.text("description"))
    return _version_response(version)


def delete_model_version(service: ServerRegistry, p: Params) -> Response:
    service.delete_version(p.text("name", required=True), p.version(), reason=MLFLOW_REASON)
    return shapes.empty_response()


def search_model_versions(service: ServerRegistry, p: Params) -> Response:
    page = service.version_briefs(
        p.text("filter"), max_results=p.integer("max_results", default=VERSIONS_PAGE_DEFAULT),
        order_by=p.strings("order_by"), page_token=p.text("page_token"))
    body: dict[str, object] = {"model_versions": [shapes.model_version(v) for v in page.items]}
    if page.next_token:
        body["next_page_token"] = page.next_token
    return shapes.json_response(body)


def transition_model_version_stage(service: ServerRegistry, p: Params) -> VersionRecord:
    return service.transition(p.text("name", required=True), p.version(),
                              p.text("stage", required=True),
                              archive_existing=p.flag("archive_existing_versions"))


def set_model_version_tag(service: ServerRegistry, p: Params) -> Response:
    service.set_version_tag(p.text("name", required=True), p.version(),
                            p.text("key", required=True), p.text("value"))
    return shapes.empty_response()


def delete_model_version_tag(service: ServerRegistry, p: Params) -> Response:
    service.delete_version_tag(p.text("name", required=True), p.version(),
                               p.text("key", required=True))
    return shapes.empty_response()


def _model_response(service: ServerRegistry, name: str) -> Response:
    brief = service.model_brief(name)
    return shapes.json_response({"registered_model": shapes.registered_model(brief, brief.latest)})


def _version_response(version: VersionRecord) -> Response:
    return shapes.json_response({"model_version": shapes.model_version(version)})


# --- routing ---------------------------------------------------------------------------------

ENDPOINTS: dict[str, dict[str, Handler]] = {
    "/registered-models/create": {"POST": create_registered_model},
    "/registered-models/get": {"GET": get_registered_model},
    "/registered-models/rename": {"POST": rename_registered_model},
    "/registered-models/update": {"PATCH": update_registered_model},
    "/registered-models/delete": {"DELETE": delete_registered_model},
    "/registered-models/search": {"GET": search_registered_models,
                                  "POST": search_registered_models},
    "/registered-models/get-latest-versions": {"POST": get_latest_versions,
                                               "GET": get_latest_versions},
    "/registered-models/set-tag": {"POST": set_registered_model_tag},
    "/registered-models/delete-tag": {"DELETE": delete_registered_model_tag},
    "/registered-models/alias": {"POST": set_registered_model_alias,
                                 "GET": get_model_version_by_alias,
                                 "DELETE": delete_registered_model_alias},
    "/model-versions/create": {"POST": create_model_version},
    "/model-versions/get": {"GET": get_model_version},
    "/model-versions/update": {"PATCH": update_model_version},
    "/model-versions/delete": {"DELETE": delete_model_version},
    "/model-versions/search": {"GET": search_model_versions, "POST": search_model_versions},
    # model-versions/get-download-uri needs the request's URL: see artifacts.py
    "/model-versions/transition-stage": {"POST": transition_model_version_stage},
    "/model-versions/set-tag": {"POST": set_model_version_tag},
    "/model-versions/delete-tag": {"DELETE": delete_model_version_tag},
}


# Handlers that only read: they run on the event loop (web.run_read).
READS = frozenset({get_registered_model, search_registered_models, get_latest_versions,
                   get_model_version_by_alias, get_model_version, search_model_versions})


@allow(SIGNED_IN)  # every handler calls the service, which checks the role per model
async def dispatch(request: Request) -> Response:
    """The one route per prefix: a dict lookup instead of a regex per endpoint."""
    endpoint = "/" + request.path_params["endpoint"].rstrip("/")
    handlers = ENDPOINTS.get(endpoint)
    method = "GET" if request.method == "HEAD" else request.method
    handler = handlers.get(method) if handlers else None
    if handler is None:
        return not_found(request, handlers)
    # metrics and logs name the endpoint (one of ENDPOINTS), not the dispatch route
    prefix = PREFIXES[1] if request.scope["path"].startswith(PREFIXES[1]) else PREFIXES[0]
    request.scope[ROUTE_LABEL] = prefix + endpoint
    consumer = consumers.consumer_of(request, endpoint)  # X-Charter-Consumer, checked
    params = await read_params(request)
    service = registry(request)
    if handler in READS:  # kept answers while the registry is unchanged (cache.py)
        # the method too: a GET with a query string reads it, a POST (or HEAD) its body
        key = (handler, request.method, request.scope["query_string"],
               await request_body(request))
        response = await answer(request.app.state.answers, service, key,
                                lambda: handler(service, params))
        if consumer is not None:
            await consumers.report(service, consumer, consumers.answered_by(
                endpoint, response, params.strings("stages"), params.text("alias")))
        return response
    written = await run_write(service, handler, service, params,
                              move=_move_of(params) if handler is MOVES else None,
                              count=_model_of(params) if handler is NEW_VERSIONS else None)
    return written if isinstance(written, Response) else _version_response(written)


MOVES = transition_model_version_stage
NEW_VERSIONS = create_model_version


def _model_of(params: Params) -> str | None:
    """The model name a new version names, if it names one (else the handler refuses
    it, as without this)."""
    try:
        return params.text("name", required=True)
    except CharterError:
        return None


def _move_of(params: Params) -> tuple[str, int] | None:
    """The model name and version a stage move names, if it names them well (else the
    handler refuses it, as without this)."""
    try:
        name, number = params.text("name", required=True), int(params.version())
    except (CharterError, ValueError):
        return None
    return (name, number) if 0 < number < 2**31 else None


def not_found(request: Request, allowed: dict[str, Handler] | None) -> Response:
    """Unknown paths and wrong methods answer in MLflow's error shape, never a bare 404."""
    path = request.url.path
    if allowed:
        message = (f"{request.method} is not supported on {path}; use "
                   f"{' or '.join(sorted(allowed))}")
        return JSONResponse({"error_code": "ENDPOINT_NOT_FOUND", "message": message},
                            status_code=405, headers={"Allow": ", ".join(sorted(allowed))})
    message = (f"{path} is not part of Charter's MLflow surface; Charter serves the Model "
               "Registry API (registered-models/*, model-versions/*). Point the tracking URI "
               "at an MLflow tracking server and the registry URI at Charter")
    return JSONResponse({"error_code": "ENDPOINT_NOT_FOUND", "message": message},
                        status_code=404)


router = APIRouter()
router.routes.extend(
    Route(prefix + "/{endpoint:path}", dispatch, include_in_schema=False,
          methods=["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"])
    for prefix in PREFIXES)
