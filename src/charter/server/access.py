"""Authentication, and the rule of every route, checked before the route runs.

Each route declares its rule on its handler (``@allow(SIGNED_IN)``, ``charter.web``):

* ``PUBLIC``     — no credentials needed (health check, static files, sign-in, API docs);
* ``SIGNED_IN``  — a valid token (or UI session); the service then checks the caller's
                   role on the model each use case touches, so every surface gets the
                   same answer;
* ``ADMIN``      — an admin only, checked here;
* ``on_model(op)`` — the caller's role on the route's ``{name}`` is checked here, for
                   routes whose use cases do not check it themselves.

The middleware matches the request against the app's route table (read once) and
takes the matched route's rule from it. ``tests/api/test_access_routes.py`` walks the
table and fails for a route without a rule, so a new route cannot ship unguarded; at
run time a route without one is treated as ``ADMIN`` (closed, not open), and a path no
route serves as ``SIGNED_IN`` (no route map for strangers).

With authentication off (an embedded or loopback server) the middleware does
nothing: the service acts as a local admin named by the unverified actor header.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from charter.api.errors import error_response, is_api_path
from charter.domain import error_codes as codes
from charter.domain.access import Principal, denied_registry
from charter.domain.errors import CharterError, InvalidInput, PermissionDenied, Unauthenticated
from charter.service.turns import turn_wait
from charter.web import (
    ADMIN,
    ROUTE_LABEL,
    SESSION_COOKIE,
    SIGNED_IN,
    Rule,
    declared_rule,
    run_read,
)

log = logging.getLogger("charter.access")

SIGN_IN_PATH = "/signin"

T = TypeVar("T")


# --- the app's route table --------------------------------------------------------------


@dataclass(frozen=True)
class RouteEntry:
    path: str
    methods: frozenset[str] | None   # None: any method (a mount)
    regex: re.Pattern[str]
    rule: Rule | None                # what its handler declared; None: nothing


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
        handler = getattr(route, "endpoint", None) or getattr(route, "app", None)  # a mount
        found.append(RouteEntry(path, frozenset(methods) if methods else None, regex,
                                declared_rule(handler)))
    return found


def unguarded(routes: Iterable[Any]) -> list[tuple[str, str]]:
    """(method, path) of every route whose handler declares no rule."""
    return [(method, entry.path) for entry in route_entries(routes) if entry.rule is None
            for method in sorted(entry.methods or {"*"}) if method != "HEAD"]


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
        rule, params, _ = self.match(method, path)
        return rule, params

    def match(self, method: str, path: str) -> tuple[Rule, dict[str, str], str | None]:
        """The rule, the path parameters and the template of the route ``path`` asks for."""
        if self._entries is None or self._seen != len(self.routes):
            self._seen, self._entries = len(self.routes), route_entries(self.routes)
        method = "GET" if method == "HEAD" else method
        for entry in self._entries:
            match = entry.regex.match(path)
            if match and (entry.methods is None or method in entry.methods):
                if entry.rule is None:
                    log.error("no access rule for %s %s; refusing all but admins",
                              method, entry.path)
                return entry.rule or ADMIN, match.groupdict(), entry.path
        return SIGNED_IN, {}, None


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
        rule, params, template = self.control.match(scope["method"], path)
        refusal = await self._admit(request, rule, params)
        if refusal is not None:
            if template is not None:  # refused before routing: the observer's route label
                scope[ROUTE_LABEL] = template
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _admit(self, request: Request, rule: Rule, params: dict[str, str]
                     ) -> Response | None:
        service = request.app.state.service
        try:
            principal = await _on_loop(service, _authenticate, service, request)
        except Unauthenticated as error:
            if rule.kind == "public":
                return None
            return _refuse_stranger(service, request, error, bad_credentials=True)
        if principal is None:
            if rule.kind == "public":
                return None
            return _refuse_stranger(service, request, _credentials_required(),
                                    bad_credentials=False)
        request.state.principal = principal
        request.state.actor = principal.name
        try:
            await _check_rule(service, principal, rule, params)
        except CharterError as refused:
            if isinstance(refused, PermissionDenied):
                _log(service, request, refused, principal)
            return error_response(request, refused)
        return None


def _credentials_required() -> Unauthenticated:
    return Unauthenticated(
        codes.AUTH_REQUIRED, "This registry requires a token",
        "send `Authorization: Bearer <token>` (CHARTER_TOKEN for the charter CLI, "
        "MLFLOW_TRACKING_TOKEN for MLflow); create one with `charter token create`")


def _refuse_stranger(service: Any, request: Request, error: Unauthenticated, *,
                     bad_credentials: bool) -> Response:
    """A browser goes to the sign-in page, an API client gets a 401. Bad credentials are
    logged always; a browser merely not signed in yet is not."""
    api = _is_api(request.url.path)
    if bad_credentials or api:
        _log(service, request, error, None)
    return _unauthenticated(request, error) if api else _to_sign_in(request)


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
    if rule.kind == "registry" and not principal.may(rule.operation):
        raise denied_registry(principal, rule.operation)
    if rule.kind == "model":
        acting = service.as_principal(principal)
        await _on_loop(service, acting.authorize, params.get("name", ""), rule.operation)


async def _on_loop(service: Any, check: Callable[..., T], *args: object) -> T:
    """Run a credential or rule check where reads run (``charter.web.run_read``): on the
    event loop, not a thread hop per request. Authenticating may note the token's last use
    (a write at most every 5 minutes); on SQLite that write does not wait for a busy write
    turn on the loop (``turn_wait`` 0: it is skipped), on PostgreSQL it sends the check to
    the thread pool."""
    waiting = turn_wait.set(0.0)
    try:
        return await run_read(service, check, *args)
    finally:
        turn_wait.reset(waiting)


def _is_api(path: str) -> bool:
    return is_api_path(path) or path in ("/healthz", "/readyz", "/metrics")


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
