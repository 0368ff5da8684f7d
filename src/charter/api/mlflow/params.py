"""Reading an MLflow request's parameters, the way MLflow's server reads them.

GET requests carry them in the query string (repeated keys for lists:
``stages=Staging&stages=Production``); POST, PATCH and DELETE carry a JSON object.
Either form is accepted on every route: a GET without a query string may send a
JSON body (MLflow's server allows it), and a write without a body may use the query
string. The body was decoded and checked by the input boundary (``charter.api.boundary``);
anything malformed — bad JSON, a missing field, a wrong type — is an
``InvalidInput``, which the error funnel answers as ``INVALID_PARAMETER_VALUE`` (400).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import QueryParams
from starlette.requests import Request

from charter.api.boundary import BODY, PARSED, parse_json
from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput


class Params:
    """Typed access to one request's parameters; ``query`` says they came from the URL."""

    __slots__ = ("data", "query", "_pairs")

    def __init__(self, data: dict[str, Any], *, query: bool = False,
                 pairs: list[tuple[str, str]] | None = None) -> None:
        self.data = data
        self.query = query
        self._pairs = pairs  # a query string's (key, value) pairs, repeated keys kept

    @classmethod
    def from_query(cls, params: QueryParams | list[tuple[str, str]]) -> Params:
        """A query string's parameters: a key given twice reads as its last value, and
        as every value in ``strings`` (as Starlette's QueryParams read them)."""
        pairs = params.multi_items() if isinstance(params, QueryParams) else params
        return cls(dict(pairs), query=True, pairs=pairs)

    @classmethod
    def from_body(cls, data: Any) -> Params:
        """A parsed JSON body (``charter.api.boundary`` decoded and checked it)."""
        if not isinstance(data, dict):
            raise InvalidInput(codes.REQUEST_INVALID_JSON,
                               f"the request body must be a JSON object, not "
                               f"{_json_type(data)}",
                               'send a JSON object, e.g. {"name": "fraud_detector"}')
        return cls(data)

    def _raw(self, key: str) -> Any:
        return self.data.get(key)  # JSON null reads as absent

    def text(self, key: str, *, required: bool = False, default: str = "") -> str:
        value = self._raw(key)
        if value is None or (required and value == ""):
            if required:
                raise missing(key)
            return default
        if isinstance(value, str):
            return value
        raise wrong_type(key, value, "a string")

    def version(self, key: str = "version") -> str:
        """A version number: MLflow sends it as a string; a JSON integer is accepted too."""
        value = self._raw(key)
        if value is None or value == "":
            raise missing(key)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise wrong_type(key, value, "a version number such as \"3\"")
        return str(value)

    def flag(self, key: str, *, default: bool = False) -> bool:
        value = self._raw(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise wrong_type(key, value, "true or false")

    def integer(self, key: str, *, default: int) -> int:
        value = self._raw(key)
        if value is None or value == "":
            return default
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise wrong_type(key, value, "a whole number")

    def strings(self, key: str) -> list[str]:
        """A repeated string field: a JSON list (or one string), or repeated query keys."""
        if self._pairs is not None:
            return [value for name, value in self._pairs if name == key]
        value = self._raw(key)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise wrong_type(key, value, "a list of strings")

    def tags(self, key: str = "tags") -> dict[str, str]:
        """MLflow's ``[{"key": …, "value": …}]``; in a query string, a JSON-encoded list."""
        value = self._raw(key)
        if value is None:
            return {}
        if isinstance(value, str) and self.query:
            try:
                value = json.loads(value)
            except ValueError:
                raise wrong_type(key, value, 'a list like [{"key": "team", "value": "fraud"}]'
                                 ) from None
        if not isinstance(value, list):
            raise wrong_type(key, value, 'a list like [{"key": "team", "value": "fraud"}]')
        found: dict[str, str] = {}
        for item in value:
            if not isinstance(item, dict) or not isinstance(item.get("key"), str):
                raise wrong_type(key, item, 'an object like {"key": "team", "value": "fraud"}')
            tag_value = item.get("value")
            if tag_value is None:
                tag_value = ""
            if not isinstance(tag_value, str):
                raise wrong_type(f"{key}[{item['key']}].value", tag_value, "a string")
            found[item["key"]] = tag_value
        return found


async def read_params(request: Request) -> Params:
    """The request's parameters from its query string or its JSON body (see module doc)."""
    pairs = query_pairs(request.scope["query_string"])
    if request.method == "GET" and pairs:
        return Params.from_query(pairs)
    if PARSED in request.scope:  # the boundary read the body, checked it and parsed it once
        return Params.from_body(request.scope[PARSED])
    raw = await request_body(request)
    if raw.strip():  # only when the app runs without its boundary
        return Params.from_body(parse_json(raw))
    return Params.from_query(pairs)


async def request_body(request: Request) -> bytes:
    """The request's body bytes: kept by the input boundary, which read them (or saw
    there were none) before routing; read here only when the app runs without it."""
    body = request.scope.get(BODY)
    return body if body is not None else await request.body()


_PLAIN_QUERY = re.compile(rb"[\x20-\x7e]*")


def query_pairs(raw: bytes) -> list[tuple[str, str]]:
    """A query string's (key, value) pairs, blank values kept, as Starlette's QueryParams
    reads them (``parse_qsl``). What clients send for names and numbers — printable ASCII,
    nothing percent-encoded — decodes to itself but for ``+``: it is split here, without
    urllib's decoding of every part (a twentieth of a point read)."""
    if b"%" in raw or not _PLAIN_QUERY.fullmatch(raw):
        return parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    pairs = []
    for part in raw.decode("ascii").replace("+", " ").split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((key, value))
    return pairs


def missing(key: str) -> InvalidInput:
    return InvalidInput(codes.REQUEST_MISSING_PARAMETER,
                        f"Missing value for required parameter '{key}'",
                        "see the MLflow REST API reference for this endpoint's parameters",
                        {"parameter": key})


def wrong_type(key: str, value: Any, expected: str) -> InvalidInput:
    return InvalidInput(codes.REQUEST_INVALID_PARAMETER,
                        f"Invalid value {_preview(value)} for parameter '{key}'",
                        f"'{key}' must be {expected}", {"parameter": key})


def _preview(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:80] + "..."


def _json_type(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)
