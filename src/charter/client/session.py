"""One keep-alive HTTP session to a Charter server, and its errors turned back into ours.

A refusal comes back as ``{"error": {"kind", "code", "message", "hint", "details"}}``
and is raised as the same ``CharterError`` subclass the embedded registry raises.
Servers that predate ``kind`` are still understood from the status code.
"""

from __future__ import annotations

import os
import ssl
from functools import cache
from typing import Any
from urllib.parse import quote

import httpx

from charter._version import __version__
from charter.domain import error_codes as codes
from charter.domain.errors import CharterError, error_from_dict

API_PREFIX = "/api/v1"
ACTOR_HEADER = "X-Charter-Actor"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
CONNECT_RETRIES = 2  # only failed connects are retried: safe for every method
# Below the server's keep-alive timeout (uvicorn: 5 s), so the client drops an idle
# connection before the server does instead of racing it.
LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=4.0)

_KIND_BY_STATUS = {400: "invalid", 401: "unauthenticated", 403: "forbidden",
                   404: "not_found", 405: "invalid", 409: "conflict", 422: "invalid",
                   503: "unavailable", 507: "storage_full"}


def segment(value: object) -> str:
    """One path segment: names, keys and aliases are quoted, ``/`` included.

    A segment of only dots would be removed as a dot-segment by URL normalisation,
    so its dots are percent-encoded too (the server decodes them back).
    """
    text = quote(str(value), safe="")
    return text.replace(".", "%2E") if text and set(text) == {"."} else text


def api_base(url: str) -> str:
    base = url.rstrip("/")
    return base if base.endswith(API_PREFIX) else base + API_PREFIX


class Session:
    """The HTTP half of ``RemoteRegistry``; thread-safe (httpx pools connections)."""

    def __init__(self, url: str, *, token: str | None, timeout: float | httpx.Timeout | None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        headers = {"User-Agent": f"charter-client/{__version__}", "Accept": "application/json"}
        token = token or os.environ.get("CHARTER_TOKEN")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.client = httpx.Client(
            base_url=api_base(url), headers=headers,
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            transport=transport or httpx.HTTPTransport(
                verify=tls_context(), limits=LIMITS, retries=CONNECT_RETRIES))

    def call(self, method: str, path: str, *, actor: str, json: Any = None,
             params: Any = None, timeout: Any = httpx.USE_CLIENT_DEFAULT,
             headers: dict[str, str] | None = None) -> Any:
        """Send one request; the decoded JSON answer (None for 204) or a CharterError."""
        response = self._send(method, path, actor=actor, json=json, params=params,
                              timeout=timeout, headers=headers)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise bad_answer(response, "with a body that is not JSON") from exc

    def raw(self, path: str, *, actor: str) -> bytes:
        """GET a document exactly as stored (a signature bundle, an attestation)."""
        return self._send("GET", path, actor=actor).content

    def _send(self, method: str, path: str, *, actor: str, json: Any = None,
              params: Any = None, timeout: Any = httpx.USE_CLIENT_DEFAULT,
              headers: dict[str, str] | None = None) -> httpx.Response:
        """One request; a successful answer, or the CharterError it stands for."""
        try:
            response = self.client.request(method, path, json=json, params=params,
                                           headers={ACTOR_HEADER: actor, **(headers or {})},
                                           timeout=timeout)
        except httpx.TimeoutException as exc:
            raise CharterError(codes.SERVER_TIMEOUT, f"{self.url} did not answer {method} {path} "
                               "in time", "a change may still have been applied: read before "
                               "retrying it, or pass a larger timeout=", {"url": self.url}
                               ) from exc
        except httpx.TransportError as exc:
            raise CharterError(codes.SERVER_UNREACHABLE, f"Cannot reach the Charter server at "
                               f"{self.url}: {exc}", "check the URL and that `charter serve` "
                               "is running", {"url": self.url}) from exc
        if not response.is_success:
            raise error_of(response)
        return response

    def close(self) -> None:
        self.client.close()


@cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verification context, built once: loading the CA bundle costs
    ~60 ms, which every ``connect()`` would otherwise pay again."""
    return httpx.create_ssl_context()


def error_of(response: httpx.Response) -> CharterError:
    try:
        body = response.json()["error"]
        if not isinstance(body, dict):
            raise TypeError(body)
    except (ValueError, KeyError, TypeError):
        return bad_answer(response, "without a Charter error body")
    return error_from_dict(body.get("kind") or kind_of(response.status_code, body), body)


def bad_answer(response: httpx.Response, what: str) -> CharterError:
    return CharterError(
        codes.SERVER_BAD_ANSWER,
        f"{response.request.method} {response.request.url.path} answered "
        f"{response.status_code} {what}",
        "is the URL a Charter server (not a proxy or another service)?",
        {"status": response.status_code, "body": response.text[:500]})


def kind_of(status: int, body: dict[str, Any]) -> str:
    """The kind of an error body that does not name one: its code's in the error
    catalogue; for a code this client does not know, its status's."""
    return codes.kind_of(str(body.get("code", ""))) or _KIND_BY_STATUS.get(status, "error")
