"""The outermost layer of the app: every request gets an id, a metric and (optionally) a log line.

* **Request id**: ``X-Request-ID`` if the client sent a well-formed one (1-128 letters,
  digits and ``._:-``), else a fresh one. It is answered in the ``X-Request-ID`` header,
  added to every JSON error body (``{"error": {…, "request_id"}}`` on REST v1,
  ``"request_id"`` beside MLflow's ``error_code``) and to every log line written while
  the request is answered.
* **Metrics**: ``charter_http_requests_total`` and ``charter_http_request_duration_seconds``
  by route *template*, method and status class (charter.metrics).
* **Log line** (``--log-format json``): one ``charter.request`` line per request
  (server/logs.py).

It wraps the whole middleware stack, the server-error funnel included (``CharterApp``),
so an answer to an unexpected error is counted and carries its id like any other.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from typing import Any

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import charter.metrics as metrics
from charter.server.logs import REQUEST_LOGGER, current_request_id
from charter.web import REQUEST_ID, ROUTE_LABEL

HEADER = b"x-request-id"
_SAFE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
MAX_ERROR_BODY = 1024 * 1024  # larger error bodies are passed on as they are
UNMATCHED = "<unmatched>"    # the route label of a path no route serves

request_log = logging.getLogger(REQUEST_LOGGER)


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            if _SAFE_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return os.urandom(16).hex()  # as random as a uuid4, a quarter of its cost


class RouteLabels:
    """Each route's full template, found from what the router leaves in the scope: the
    route (FastAPI's routes) or its endpoint (Starlette's routes and mounts). A route of
    an included router knows only its own part (``/models/{name}``); the app's table
    knows the whole (``/api/v1/models/{name}``). Built once, on the first request."""

    def __init__(self, routes: list[Any]) -> None:
        self._routes = routes
        self._by_route: dict[int, str] = {}
        self._by_endpoint: dict[int, list[tuple[Any, str]]] = {}
        self._built = False

    def _build(self) -> None:
        try:
            from fastapi.routing import iter_route_contexts
            contexts: Any = iter_route_contexts(list(self._routes))
        except ImportError:  # FastAPI before lazy router inclusion: the table is flat
            contexts = self._routes
        for context in contexts:
            route = getattr(context, "original_route", context)
            path, regex = getattr(context, "path", None), getattr(context, "path_regex", None)
            if path is None or regex is None:
                continue
            label = f"{path}/{{path}}" if isinstance(route, Mount) else str(path)
            self._by_route.setdefault(id(route), label)
            endpoint = getattr(route, "endpoint", None) or getattr(route, "app", None)
            self._by_endpoint.setdefault(id(endpoint), []).append((regex, label))
        self._built = True

    def of(self, scope: Scope) -> str:
        """The route's template (bounded), never the raw path."""
        label = scope.get(ROUTE_LABEL)
        if label:
            return str(label)
        if not self._built:
            self._build()
        route = scope.get("route")
        if route is not None and id(route) in self._by_route:
            return self._by_route[id(route)]
        candidates = self._by_endpoint.get(id(scope.get("endpoint")), [])
        if len(candidates) == 1:
            return candidates[0][1]
        path = scope.get("root_path", "") + scope.get("path", "")
        for regex, label in candidates:  # one handler on several paths (two prefixes)
            if regex.match(path) or regex.match(scope.get("path", "")):
                return str(label)
        return UNMATCHED


class Observe:
    def __init__(self, app: ASGIApp, *, routes: list[Any], log_requests: bool) -> None:
        self.app = app
        self.routes = RouteLabels(routes)
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id_from(scope)
        scope[REQUEST_ID] = rid
        token = current_request_id.set(rid)
        answer = _Answer(send, rid, hold_errors=scope["method"] != "HEAD")
        try:
            await self.app(scope, receive, answer.send)
        except BaseException:
            answer.status = answer.status or 500
            raise
        finally:
            current_request_id.reset(token)
            self._done(scope, answer, time.perf_counter() - started)

    def _done(self, scope: Scope, answer: _Answer, seconds: float) -> None:
        route = self.routes.of(scope)
        method = scope["method"]
        metrics.request_done(route, method, answer.status, seconds)
        if self.log_requests:
            request_log.info(
                "%s %s %d", method, route, answer.status, extra={
                    "request_id": answer.request_id, "principal": _principal(scope),
                    "method": method, "route": route, "status": answer.status,
                    "duration_ms": round(seconds * 1000, 3), "error_code": answer.error_code})


def _principal(scope: Scope) -> str:
    state = scope.get("state") or {}
    actor = state.get("actor") if isinstance(state, dict) else getattr(state, "actor", None)
    if actor:
        return str(actor)
    for name, value in scope.get("headers", ()):
        if name == b"x-charter-actor":
            return value.decode("latin-1").strip()[:128] + " (unverified)"
    return "anonymous"


class _Answer:
    """The ``send`` the app sees: adds the id header, and the id to a JSON error body."""

    def __init__(self, send: Send, request_id: str, *, hold_errors: bool) -> None:
        self._send = send
        self._hold_errors = hold_errors
        self.request_id = request_id
        self.status = 0
        self.error_code: str | None = None
        self._held: Message | None = None  # an error answer's start, until its body is read
        self._body: list[bytes] = []

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = int(message["status"])
            headers = [(k, v) for k, v in message.get("headers", ()) if k != HEADER]
            headers.append((HEADER, self.request_id.encode("ascii")))
            message = {**message, "headers": headers}
            if self.status >= 400 and self._hold_errors and _is_json(headers):
                self._held = message
                return
        elif kind == "http.response.body" and self._held is not None:
            self._body.append(message.get("body", b""))
            if message.get("more_body", False) and sum(map(len, self._body)) <= MAX_ERROR_BODY:
                return
            await self._release(message.get("more_body", False))
            return
        await self._send(message)

    async def _release(self, more: bool) -> None:
        held, self._held = self._held, None
        assert held is not None
        body = b"".join(self._body)
        self._body = []
        if not more:
            body = self._stamp(body)
            held["headers"] = [(k, v) for k, v in held["headers"] if k != b"content-length"]
            held["headers"].append((b"content-length", str(len(body)).encode()))
        await self._send(held)
        await self._send({"type": "http.response.body", "body": body, "more_body": more})

    def _stamp(self, body: bytes) -> bytes:
        """The error body with the request id in it; its error code remembered for the log."""
        try:
            content: Any = json.loads(body)
        except ValueError:
            return body
        if not isinstance(content, dict):
            return body
        error = content.get("error")
        if isinstance(error, dict):  # REST v1: {"error": {"code", "message", "hint", …}}
            self.error_code = str(error.get("code") or "") or None
            error["request_id"] = self.request_id
        elif "error_code" in content:  # MLflow: {"error_code", "message", "charter_code"?}
            self.error_code = str(content.get("charter_code") or content["error_code"])
            content["request_id"] = self.request_id
        else:
            return body
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "replace")


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(k == b"content-type" and v.startswith(b"application/json") for k, v in headers)
