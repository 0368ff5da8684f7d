"""Authentication, and the rule that covers every route of the app.

``RULES`` maps each (method, route path) of the app to one rule:

* ``PUBLIC``     — no credentials needed (health check, static files, sign-in, API docs);
* ``SIGNED_IN``  — a valid token (or UI session); the service then checks the caller's
                   role on the model each use case touches (``charter.service.guard``),
                   so every surface gets the same answer;
* ``ADMIN``      — an admin only, checked here;
* ``on_model(op)`` — the caller's role on the route's ``{name}`` is checked here, for
                   routes whose use cases do not check it themselves.

``tests/api/test_access_routes.py`` walks the app's route table and fails for a
route without a rule, so a new route family cannot ship unguarded; at run time a
route missing from the table is treated as ``ADMIN`` (closed, not open).

With authentication off (an embedded or loopback server) the middleware does
nothing: the service acts as a local admin named by the unverified actor header.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from charter.api.errors import error_response, is_api_path
from charter.domain import error_codes as codes
from charter.domain.access import REGISTER, Principal
from charter.domain.errors import CharterError, InvalidInput, PermissionDenied, Unauthenticated
from charter.web import SESSION_COOKIE

log = logging.getLogger("charter.access")

SIGN_IN_PATH = "/signin"
V1 = "/api/v1"
MLFLOW_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
ANY_METHOD = "*"


@dataclass(frozen=True)
class Rule:
    kind: str                 # public | signed_in | admin | model
    operation: str = ""       # for "model": what the route's {name} must allow
    note: str = ""


PUBLIC = Rule("public")
SIGNED_IN = Rule("signed_in", note="the service checks the role on each model")
ADMIN = Rule("admin")


def on_model(operation: str) -> Rule:
    return Rule("model", operation)


def _v1(*routes: tuple[str, str]) -> dict[tuple[str, str], Rule]:
    return {(method, V1 + path): SIGNED_IN for method, path in routes}


_MODEL = "/models/{name}"
_VERSION = "/models/{name}/versions/{version}"

RULES: dict[tuple[str, str], Rule] = {
    # --- public: nothing here reads or changes the registry
    ("GET", "/healthz"): PUBLIC,
    ("GET", V1 + "/openapi.json"): PUBLIC,
    ("GET", V1 + "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    (ANY_METHOD, "/ui/static"): PUBLIC,
    ("GET", SIGN_IN_PATH): PUBLIC,
    ("POST", SIGN_IN_PATH): PUBLIC,
    ("POST", "/signout"): PUBLIC,
    # --- the MLflow surface: one catch-all route per prefix; the service decides
    **{(ANY_METHOD, prefix + "/{endpoint:path}"): SIGNED_IN for prefix in MLFLOW_PREFIXES},
    **{(ANY_METHOD, prefix + "/model-versions/get-download-uri"): SIGNED_IN
       for prefix in MLFLOW_PREFIXES},
    # MLflow's artifact routes (read-only): the model is named in the artifact path, and
    # every read goes through the service's get_version, which checks it
    (ANY_METHOD, "/api/2.0/mlflow-artifacts/artifacts"): SIGNED_IN,
    (ANY_METHOD, "/api/2.0/mlflow-artifacts/artifacts/{path:path}"): SIGNED_IN,
    # --- native REST v1: every use case checks the caller's role in the service
    **_v1(("POST", "/models"), ("GET", "/models"), ("GET", _MODEL), ("PATCH", _MODEL),
          ("DELETE", _MODEL), ("POST", _MODEL + "/rename"),
          ("PUT", _MODEL + "/tags/{key:path}"), ("DELETE", _MODEL + "/tags/{key:path}"),
          ("POST", _MODEL + "/versions"), ("GET", _MODEL + "/versions"),
          ("GET", _VERSION), ("PATCH", _VERSION), ("DELETE", _VERSION),
          ("PUT", _VERSION + "/tags/{key:path}"), ("DELETE", _VERSION + "/tags/{key:path}"),
          ("PUT", _MODEL + "/aliases/{alias}"), ("GET", _MODEL + "/aliases/{alias}"),
          ("DELETE", _MODEL + "/aliases/{alias}"),
          ("POST", _VERSION + "/transition"), ("POST", _MODEL + "/rollback"),
          ("GET", _MODEL + "/latest"), ("GET", "/resolve"),
          ("GET", _MODEL + "/history"), ("GET", "/events"), ("GET", "/audit/verify"),
          ("GET", "/lint"),
          # a version's files: read through get_version, which checks the role
          ("GET", _VERSION + "/files"), ("GET", _VERSION + "/files/{path:path}"),
          ("PUT", _VERSION + "/files/{path:path}"),
          # an upload session belongs to its actor; commit registers through the service
          ("GET", _MODEL + "/uploads/{upload_id}"), ("DELETE", _MODEL + "/uploads/{upload_id}"),
          ("POST", _MODEL + "/uploads/{upload_id}/commit"),
          # gates and approvals: the service checks the role per model (approving a move
          # needs the role that move needs); retention purges are an admin's
          ("GET", _VERSION + "/gates"), ("GET", _MODEL + "/approvals"),
          ("POST", _VERSION + "/approvals"), ("POST", _VERSION + "/approvals/approve"),
          ("POST", _VERSION + "/approvals/reject"), ("GET", "/retention"),
          ("POST", "/retention"),
          # access control itself: the service checks self / owner / admin
          ("GET", "/whoami"), ("GET", "/tokens"), ("POST", "/tokens"),
          ("DELETE", "/tokens/{token_id}"), ("GET", "/grants"),
          ("PUT", "/grants/{user}"), ("DELETE", "/grants/{user}"),
          ("GET", _MODEL + "/grants"), ("PUT", _MODEL + "/grants/{user}"),
          ("DELETE", _MODEL + "/grants/{user}"),
          (ANY_METHOD, "/{rest:path}")),  # unknown v1 paths: 401 before 404
    # webhooks send every event to a URL of the caller's choosing: admins only (the
    # service checks it too)
    **{(method, V1 + path): ADMIN for method, path in (
        ("POST", "/webhooks"), ("GET", "/webhooks"), ("GET", "/webhooks/deliveries"),
        ("POST", "/webhooks/deliveries/{delivery}/redeliver"), ("GET", "/webhooks/{webhook}"),
        ("DELETE", "/webhooks/{webhook}"), ("POST", "/webhooks/{webhook}/test"))},
    # bytes are stored before any version exists: check the right to register first
    ("POST", V1 + _MODEL + "/uploads"): on_model(REGISTER),
    ("PUT", V1 + _MODEL + "/uploads/{upload_id}/files/{path:path}"): on_model(REGISTER),
    # --- the web UI: pages and forms over the same service
    ("GET", "/"): SIGNED_IN,
    ("GET", "/audit"): SIGNED_IN,
    ("GET", "/ui/audit/verify"): SIGNED_IN,
    ("GET", "/naming"): SIGNED_IN,
    ("GET", "/ui/lint"): SIGNED_IN,
    ("GET", "/models/{name}"): SIGNED_IN,
    ("POST", "/models/{name}/description"): SIGNED_IN,
    ("POST", "/models/{name}/tags"): SIGNED_IN,
    ("POST", "/models/{name}/tags/delete"): SIGNED_IN,
    ("POST", "/models/{name}/aliases"): SIGNED_IN,
    ("POST", "/models/{name}/aliases/delete"): SIGNED_IN,
    ("POST", "/models/{name}/rollback"): SIGNED_IN,
    ("GET", "/models/{name}/versions/{version}"): SIGNED_IN,
    ("POST", "/models/{name}/versions/{version}/stage"): SIGNED_IN,
    ("POST", "/models/{name}/versions/{version}/description"): SIGNED_IN,
    ("POST", "/models/{name}/versions/{version}/tags"): SIGNED_IN,
    ("POST", "/models/{name}/versions/{version}/tags/delete"): SIGNED_IN,
    # approvals from the version page: the service checks the role the move needs
    ("POST", "/models/{name}/versions/{version}/approvals"): SIGNED_IN,
    ("POST", "/models/{name}/versions/{version}/approvals/approve"): SIGNED_IN,
    ("POST", "/models/{name}/versions/{version}/approvals/reject"): SIGNED_IN,
    ("GET", "/webhooks"): ADMIN,   # the delivery log names every subscription's URL
}


def rule_for(method: str, path: str) -> Rule | None:
    method = "GET" if method == "HEAD" else method
    return RULES.get((method, path)) or RULES.get((ANY_METHOD, path))


# --- the app's route table --------------------------------------------------------------


@dataclass(frozen=True)
class RouteEntry:
    path: str
    methods: frozenset[str] | None   # None: any method (a mount)
    regex: re.Pattern[str]


def route_entries(routes: Iterable[Any]) -> list[RouteEntry]:
    """Every route of an app, in matching order, however FastAPI nests its routers."""
    try:
        from fastapi.routing import iter_route_contexts
        contexts: Iterable[Any] = iter_route_contexts(list(routes))
    except ImportError:  # FastAPI before lazy router inclusion: the table is flat
        contexts = routes
    found = []
    for route in contexts:
        path, regex = getattr(route, "path", None), getattr(route, "path_regex", None)
        if path is None or regex is None:
            continue
        methods = getattr(route, "methods", None)
        found.append(RouteEntry(path, frozenset(methods) if methods else None, regex))
    return found


def unguarded(routes: Iterable[Any]) -> list[tuple[str, str]]:
    """(method, path) of every route the rule table does not cover."""
    missing = []
    for entry in route_entries(routes):
        for method in sorted(entry.methods or {ANY_METHOD}):
            if method != "HEAD" and rule_for(method, entry.path) is None:
                missing.append((method, entry.path))
    return missing


# --- the middleware -----------------------------------------------------------------------


@dataclass
class AccessControl:
    """What the middleware needs: whether auth is on, and the app's routes (read lazily,
    once, so routers included after ``install`` are covered too)."""

    enabled: bool
    routes: list[Any] = field(default_factory=list)
    _entries: list[RouteEntry] | None = None
    _seen: int = -1  # how many top-level routes the entries were built from

    def find(self, method: str, path: str) -> tuple[Rule, dict[str, str]]:
        if self._entries is None or self._seen != len(self.routes):
            self._seen, self._entries = len(self.routes), route_entries(self.routes)
        method = "GET" if method == "HEAD" else method
        for entry in self._entries:
            match = entry.regex.match(path)
            if match and (entry.methods is None or method in entry.methods):
                rule = rule_for(method, entry.path)
                if rule is None:
                    log.error("no access rule for %s %s; refusing all but admins",
                              method, entry.path)
                return rule or ADMIN, match.groupdict()
        return SIGNED_IN, {}


def install(app: Any, enabled: bool) -> AccessControl:
    control = AccessControl(enabled=enabled, routes=app.router.routes)
    app.state.access = control
    app.add_middleware(AccessMiddleware, control=control)
    return control


class AccessMiddleware:
    def __init__(self, app: ASGIApp, control: AccessControl) -> None:
        self.app = app
        self.control = control

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.control.enabled:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = scope["path"]
        rule, params = self.control.find(scope["method"], path)
        refusal = await self._admit(request, rule, params)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _admit(self, request: Request, rule: Rule, params: dict[str, str]
                     ) -> Response | None:
        service = request.app.state.service
        try:
            principal = await run_in_threadpool(_authenticate, service, request)
        except Unauthenticated as error:
            if rule is PUBLIC:
                return None
            _log(service, request, error, None)
            if not _is_api(request.url.path):
                return _to_sign_in(request)
            return _unauthenticated(request, error)
        if principal is None:
            if rule is PUBLIC:
                return None
            error = Unauthenticated(
                codes.AUTH_REQUIRED, "This registry requires a token",
                "send `Authorization: Bearer <token>` (CHARTER_TOKEN for the charter CLI, "
                "MLFLOW_TRACKING_TOKEN for MLflow); create one with `charter token create`")
            if not _is_api(request.url.path):
                return _to_sign_in(request)
            _log(service, request, error, None)
            return _unauthenticated(request, error)
        request.state.principal = principal
        request.state.actor = principal.name
        try:
            await _check_rule(service, principal, rule, params)
        except CharterError as error:
            if isinstance(error, PermissionDenied):
                _log(service, request, error, principal)
            return error_response(request, error)
        return None


def _authenticate(service: Any, request: Request) -> Principal | None:
    """The principal the request's credentials prove, None when it carries none."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            return service.authenticate(value.strip())
        if scheme.lower() == "basic":
            user, token = _basic(value.strip())
            return service.authenticate(token, user=user)
        raise Unauthenticated(codes.AUTH_MALFORMED, f"The Authorization scheme {scheme[:20]!r} is "
                              "not supported", "send `Bearer <token>`, or Basic with your user "
                              "name and a token as the password")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and not _is_api(request.url.path):
        return service.session_principal(cookie)
    return None


def _basic(value: str) -> tuple[str, str]:
    try:
        user, sep, token = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        sep, user, token = "", "", ""
    if not sep or not user:
        raise Unauthenticated(codes.AUTH_MALFORMED, "The Basic credentials are malformed",
                              "send base64('<user>:<token>'), e.g. MLFLOW_TRACKING_USERNAME "
                              "and MLFLOW_TRACKING_PASSWORD (the token)")
    return user, token


async def _check_rule(service: Any, principal: Principal, rule: Rule,
                      params: dict[str, str]) -> None:
    if rule.kind == "admin" and not principal.admin:
        raise PermissionDenied(codes.ACCESS_ADMIN_ONLY, f"{principal.name} is not an admin; only "
                               "an admin may use this route", "ask an admin of this registry")
    if rule.kind == "model":
        acting = service.as_principal(principal)
        await run_in_threadpool(acting.authorize, params.get("name", ""), rule.operation)


def _is_api(path: str) -> bool:
    return is_api_path(path) or path == "/healthz"


def _unauthenticated(request: Request, error: CharterError) -> Response:
    response = error_response(request, error)
    response.headers["WWW-Authenticate"] = 'Bearer realm="charter"'
    if request.cookies.get(SESSION_COOKIE):
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _to_sign_in(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"{SIGN_IN_PATH}?next={quote(target, safe='/')}",
                                status_code=303)
    if request.cookies.get(SESSION_COOKIE):
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _log(service: Any, request: Request, error: CharterError,
         principal: Principal | None) -> None:
    client = request.client.host if request.client else ""
    service.denials.record({
        "actor": principal.name if principal else None,
        "token_id": principal.token_id if principal else None,
        "method": request.method, "path": request.url.path, "client": client,
        "code": error.code, "status": error.kind})


# --- safe defaults: where a server without authentication may listen ----------------------


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: addresses only this machine reaches."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name or "": it may resolve to, or mean, every interface


def check_exposure(host: str, auth_enabled: bool) -> None:
    """Refuse to serve beyond this machine without authentication (no default credentials
    exist, so the first admin is made on the server's machine)."""
    if auth_enabled or is_loopback(host):
        return
    raise InvalidInput(
        codes.AUTH_REQUIRED_TO_LISTEN,
        f"Refusing to listen on {host!r} without authentication: anyone who can reach it "
        "could change the registry",
        "turn authentication on with `[auth] enabled = true` in charter.toml (or "
        "CHARTER_AUTH=on), create the first admin on this machine with `charter user create "
        "alice --admin` and a token with `charter token create --user alice`; or listen on "
        "127.0.0.1 only", {"host": host})
