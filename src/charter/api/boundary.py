"""The one input boundary: what a client sends is decoded and checked here, once.

Every request to the APIs (``/api/…``, ``/ajax-api/…``) passes this middleware before
routing, access control or any use case, so no route has to guard itself against
bytes it cannot store or print:

* the **path** and the **query string** must be valid UTF-8 once percent-decoded;
* **text** (path segments, query keys and values, every JSON string and object key)
  may hold no NUL, no other control character and no lone UTF-16 surrogate (a JSON
  ``"\\udfff"`` escape decodes to one; UTF-8 cannot encode it, so no store keeps it).
  Tabs and line breaks are allowed in query values and JSON strings, never in a path;
* **numbers** must fit a signed 64-bit integer, as every store keeps them: JSON
  integers, query values written as integers and all-digit path segments; JSON
  numbers must be finite (no ``NaN``, ``Infinity`` or ``1e400``);
* a **JSON body** must be UTF-8 JSON, nested at most ``MAX_DEPTH`` levels and at most
  ``MAX_BODY`` (``MAX_MLFLOW_BODY`` on the MLflow surface) bytes long.

A refusal is a 400 in the surface's own error shape (``request.invalid_text``,
``request.number_out_of_range``, ``request.invalid_json``, ``request.too_large``); its
message quotes the value with escapes (``'x\\udfff'``), so echoing it cannot fail.

A JSON body is read here (file bodies are not: they go to the blob store as they
are), parsed once, and handed on: the MLflow surface reads the parsed value from the
request's scope (``PARSED``), and a route sees the same bytes replayed. Requests without a body to
check keep uvicorn's own ``receive``, which the bulk transfer path needs
(``charter.api.sockets``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from charter.api.errors import error_response
from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput
from charter.domain.values import fits_int64, unsafe_char

GUARDED = ("/api/", "/ajax-api/")
MLFLOW_JSON = ("/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/")  # params.py parses any body
MAX_BODY = 64 * 1024 * 1024        # room for the manifest of a 100,000-file version
MAX_MLFLOW_BODY = 8 * 1024 * 1024
MAX_DEPTH = 64
MAX_TEXT = 1024 * 1024             # characters in one string: far above any field's limit
MAX_QUERY = 64 * 1024
PARSED = "charter.json"            # the scope key of the parsed body
BODY = "charter.body"              # the scope key of a body read here (b"": none was sent)
_FILE_BODY = re.compile(r"^/api/v1/models/[^/]+/(uploads|versions)/[^/]+/files/")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_INTEGER_BYTES = re.compile(rb"-?[0-9]+")  # "+" in a query string is a space, never a sign
_PRINTABLE_ASCII = re.compile(rb"[\x20-\x7e]*")
# Every whole number of at most 18 digits fits 64 bits: without a run of 19 digits, a
# path or query string holds no number to check.
_LONG_NUMBER = re.compile(rb"[0-9]{19}")


class InputBoundary:
    """ASGI middleware: refuse what no route may see; parse a JSON body once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(GUARDED):
            await self.app(scope, receive, send)
            return
        try:
            check_path(scope.get("raw_path") or scope["path"].encode("utf-8", "replace"))
            check_query(scope.get("query_string", b""))
            headers = dict(scope["headers"])
            if headers.get(b"content-length", b"0") == b"0" \
                    and b"transfer-encoding" not in headers:
                scope[BODY] = b""  # nothing to read: the routes need not ask the server
            elif limit := _json_limit(scope, headers):
                body = await _read_body(receive, limit)
                if body is None:  # the client left before it sent its body
                    return
                if body.strip():
                    scope[PARSED] = parse_json(body)
                scope[BODY] = body
                receive = _replay(body, receive)
        except InvalidInput as error:
            await error_response(Request(scope), error)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def install(app: Any) -> None:
    """Outermost of the app's middleware: before access control sees a path or a body."""
    app.add_middleware(InputBoundary)


# ---- the path and the query string ------------------------------------------------------

def check_path(raw: bytes) -> None:
    if (b"%" not in raw and len(raw) <= MAX_TEXT and _PRINTABLE_ASCII.fullmatch(raw)
            and not _LONG_NUMBER.search(raw)):
        return  # printable ASCII decodes to itself, one line of valid text, no long number
    text = _decoded(raw, "the URL path")
    _check_text(text, "the URL path", one_line=True)
    for segment in text.split("/"):
        if _INTEGER.fullmatch(segment):
            _check_integer(segment, "a number in the URL path")


def check_query(raw: bytes) -> None:
    if not raw:
        return
    if len(raw) > MAX_QUERY:
        raise _too_large("the query string", len(raw), MAX_QUERY)
    if b"%" not in raw and _PRINTABLE_ASCII.fullmatch(raw):
        if _LONG_NUMBER.search(raw):
            _check_plain_query(raw)
        return
    for part in raw.split(b"&"):
        key_raw, _, value_raw = part.partition(b"=")
        key = _decoded(key_raw.replace(b"+", b" "), "a query parameter's name")
        _check_text(key, f"the query parameter name {_quote(key)}", one_line=True)
        where = f"the query parameter {_quote(key)}"
        value = _decoded(value_raw.replace(b"+", b" "), where)
        _check_text(value, where)
        if _INTEGER.fullmatch(value):
            _check_integer(value, where)


def _check_plain_query(raw: bytes) -> None:
    """A query string of printable ASCII with nothing percent-encoded (what clients send for
    names and numbers) decodes to itself, one line of valid text: only its numbers are left
    to check. A fifteenth of a point read's time, spent naming parameters in messages that
    were never raised."""
    for part in raw.split(b"&"):
        key_raw, _, value_raw = part.partition(b"=")
        if value_raw[-1:].isdigit() and _INTEGER_BYTES.fullmatch(value_raw):
            key = key_raw.replace(b"+", b" ").decode("ascii")
            _check_integer(value_raw.decode("ascii"), f"the query parameter {_quote(key)}")


def _decoded(raw: bytes, where: str) -> str:
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInput(
            codes.REQUEST_INVALID_TEXT, f"{where} is not valid UTF-8 once percent-decoded "
            f"(byte {error.start}: {error.object[error.start:error.start + 4]!r})",
            "percent-encode text as UTF-8 bytes, e.g. 'é' as %C3%A9",
            {"where": where}) from None


# ---- JSON bodies --------------------------------------------------------------------------

def _json_limit(scope: Scope, headers: dict[bytes, bytes]) -> int:
    """How many bytes of a body to read and check as JSON; 0: leave the body alone."""
    path = scope["path"]
    if path.startswith(MLFLOW_JSON):
        return MAX_MLFLOW_BODY
    if not path.startswith("/api/v1/") or _FILE_BODY.match(path):
        return 0
    kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    # FastAPI parses a body without a Content-Type as JSON too.
    return MAX_BODY if not kind or kind.endswith((b"/json", b"+json")) else 0


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large("the request body", size, limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the route the body already read, then the real one's news."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class _OutOfRange(Exception):
    pass


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > 19 or not fits_int64(int(text)):
        raise _OutOfRange(text)
    return int(text)


def _json_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _OutOfRange(text)
    return number


def _json_constant(text: str) -> float:
    raise _OutOfRange(text)  # NaN, Infinity, -Infinity: not JSON, and not a number we keep


_DECODER = json.JSONDecoder(parse_int=_json_int, parse_float=_json_float,
                            parse_constant=_json_constant)


def parse_json(body: bytes) -> Any:
    """The body as JSON, every string and number in it checked.

    Most bodies need no walk of the parsed tree, and the byte scans that tell cost far
    less than the walk (MLflow's hot requests): a lone surrogate or an escaped control
    character needs a backslash, DEL its own byte and a C1 control the lead byte 0xC2,
    a raw C0 control is refused by the JSON parser itself, a string over ``MAX_TEXT``
    needs a body that long, and depth needs that many brackets.
    """
    try:
        data = _DECODER.decode(body.decode("utf-8"))
    except _OutOfRange as error:
        raise _out_of_range(str(error)[:40], "a JSON number in the body") from None
    except UnicodeDecodeError as error:
        raise _bad_json(f"it is not UTF-8 (byte {error.start}: "
                        f"{error.object[error.start:error.start + 4]!r})") from None
    except RecursionError:
        raise _bad_json(f"it is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as error:
        raise _bad_json(str(error)) from None
    if (b"\\" in body or b"\x7f" in body or b"\xc2" in body  # \xc2: U+0080..U+00BF, C1 too
            or len(body) > MAX_TEXT or body.count(b"[") + body.count(b"{") > MAX_DEPTH):
        _check_tree(data)
    return data


def _check_tree(data: Any) -> None:
    """Every string and key of a parsed body, without recursion (depth is bounded too)."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _bad_json(f"it is nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, str):
            _check_text(value, _field(where))
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, f"a key of {_field(where)}")
                stack.append((item, f"{where}.{key}" if where else key, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{index}]", depth + 1)
                         for index, item in enumerate(value))


def _field(where: str) -> str:
    return f"the field {_quote(where)}" if where else "the body"


# ---- the rules, and how a refusal says what it refused -------------------------------------

def _check_text(text: str, where: str, *, one_line: bool = False) -> None:
    if len(text) > MAX_TEXT:
        raise _too_large(where, len(text), MAX_TEXT, unit="characters")
    index = unsafe_char(text, one_line=one_line)
    if index is None:
        return
    char = text[index]
    what = "a lone UTF-16 surrogate" if "\ud800" <= char <= "\udfff" else (
        "NUL" if char == "\x00" else "a control character")
    raise InvalidInput(
        codes.REQUEST_INVALID_TEXT,
        f"{where} holds {what} ({ascii(char)}) at position {index}: {_quote(text)}",
        "send text as valid Unicode without control characters"
        + ("" if one_line else "; tabs and line breaks are allowed in values"),
        {"where": where, "position": index})


def _check_integer(text: str, where: str) -> None:
    if len(text.lstrip("+-").lstrip("0")) > 19 or not fits_int64(int(text)):
        raise _out_of_range(text, where)


def _out_of_range(text: str, where: str) -> InvalidInput:
    return InvalidInput(
        codes.REQUEST_NUMBER_OUT_OF_RANGE,
        f"{where} is {_shorten(text)}, outside the numbers Charter keeps "
        "(finite, and whole numbers from -2^63 to 2^63-1)",
        "send a smaller number", {"where": where})


def _bad_json(problem: str) -> InvalidInput:
    return InvalidInput(codes.REQUEST_INVALID_JSON,
                        f"The request body is not valid JSON: {problem}",
                        'send a UTF-8 JSON object, e.g. {"name": "fraud_detector"}')


def _too_large(what: str, size: int, limit: int, unit: str = "bytes") -> InvalidInput:
    return InvalidInput(codes.REQUEST_TOO_LARGE, f"{what} is {size} {unit} long; the limit is "
                        f"{limit}", "send less in one request", {"limit": limit})


def _quote(text: str) -> str:
    """A value for a message: escaped to ASCII (a surrogate or ESC cannot break the answer
    or a terminal), and shortened."""
    return _shorten(ascii(text))


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."

