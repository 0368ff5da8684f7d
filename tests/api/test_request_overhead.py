"""The per-request shortcuts of an MLflow point read give the answers the full paths give.

A point read's own work is a few statements; the rest is reading the request. The
shortcuts below (bench/README.md, "The server's own work per point read") take a
cheaper road for what clients send nearly always — printable ASCII without percent
escapes, no body on a GET, no actor header — and must decide exactly as the general
code does.
"""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any
from urllib.parse import parse_qsl

import pytest
from starlette.requests import Request

from charter.api import boundary
from charter.api.files import public_base_url
from charter.api.mlflow.params import Params, query_pairs
from charter.domain.errors import InvalidInput
from charter.web import actor_of

MLFLOW = "/api/2.0/mlflow"


def general_check_path(raw: bytes) -> str | None:
    """The full rule for a path, percent-decoding and all (what the shortcut skips)."""
    try:
        text = boundary._decoded(raw, "the URL path")
        boundary._check_text(text, "the URL path", one_line=True)
        for segment in text.split("/"):
            if re.fullmatch(r"[+-]?[0-9]+", segment):
                boundary._check_integer(segment, "a number in the URL path")
    except InvalidInput as error:
        return error.code
    return None


def verdict(check: Any, raw: bytes) -> str | None:
    try:
        check(raw)
    except InvalidInput as error:
        return error.code
    return None


@pytest.mark.parametrize("raw", [
    b"/api/2.0/mlflow/model-versions/get", b"/api/v1/models/fraud_detector/versions/3",
    b"/api/v1/tokens/9223372036854775807", b"/api/v1/tokens/9223372036854775808",
    b"/api/v1/tokens/-9223372036854775808", b"/api/v1/tokens/-9223372036854775809",
    b"/api/v1/tokens/+00000000000000000000001", b"/api/v1/tokens/99999999999999999999",
    b"/api/v1/models/a1234567890123456789", b"/api/v1/models/x%00y", b"/api/v1/models/%FF",
    b"/api/v1/models/caf%C3%A9", b"/api/v1/models/tab\there", b"/api/v1/models/%ED%A0%80",
])
def test_a_plain_path_is_judged_as_the_full_rule_judges_it(raw: bytes) -> None:
    assert verdict(boundary.check_path, raw) == general_check_path(raw)


def test_numbers_beyond_64_bits_in_a_plain_path_or_query_are_still_refused() -> None:
    huge = b"9223372036854775808"
    assert verdict(boundary.check_path, b"/api/v1/tokens/" + huge) == \
        "request.number_out_of_range"
    assert verdict(boundary.check_query, b"after=" + huge) == "request.number_out_of_range"
    assert verdict(boundary.check_query, b"after=-9223372036854775809") == \
        "request.number_out_of_range"
    assert verdict(boundary.check_query, b"after=-" + huge) is None  # -2^63 fits
    assert verdict(boundary.check_query, b"after=" + huge[:-1]) is None
    assert verdict(boundary.check_query, b"name=a" + huge) is None  # text, not a number


QUERY_ALPHABET = "ab=&+%20x9-_.~ é\t"


@pytest.mark.parametrize("seed", range(20))
def test_query_pairs_read_a_query_string_as_starlette_reads_it(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        text = "".join(rng.choice(QUERY_ALPHABET) for _ in range(rng.randrange(0, 24)))
        raw = text.encode("utf-8")
        assert query_pairs(raw) == parse_qsl(raw.decode("latin-1"), keep_blank_values=True)


def test_a_repeated_query_key_reads_as_its_last_value_and_as_every_value() -> None:
    params = Params.from_query(query_pairs(b"name=a+b&stages=Staging&stages=Production&x="))
    assert params.text("name") == "a b"
    assert params.strings("stages") == ["Staging", "Production"]
    assert params.text("stages") == "Production"
    assert params.text("x") == "" and params.strings("missing") == []


def request_with(headers: list[tuple[bytes, bytes]]) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers,
                    "query_string": b"", "state": {}})


@pytest.mark.parametrize(("headers", "actor"), [
    ([], "anonymous"),
    ([(b"x-charter-actor", b"  ")], "anonymous"),
    ([(b"x-charter-actor", b" alice ")], "alice (unverified)"),
    ([(b"x-charter-actor", b"alice"), (b"x-charter-actor", b"bob")], "alice (unverified)"),
    ([(b"x-charter-actor", "zoë".encode("latin-1"))], "zoë (unverified)"),
    ([(b"x-charter-actor", b"a" * 300)], "a" * 128 + " (unverified)"),
])
def test_the_claimed_actor_is_read_as_the_headers_give_it(headers, actor) -> None:  # type: ignore[no-untyped-def]
    assert actor_of(request_with(headers)) == actor


def test_a_get_without_a_body_is_answered_without_waiting_for_one(client) -> None:  # type: ignore[no-untyped-def]
    """A GET read knows from its headers that no body follows: the cache key and the
    parameters never ask the server for one (an await, and a tenth of a point read)."""
    client.post(f"{MLFLOW}/registered-models/create", json={"name": "fraud_detector"})
    client.post(f"{MLFLOW}/model-versions/create",
                json={"name": "fraud_detector", "source": "s3://bucket/model"})
    app = client.app
    for path, query in [("/model-versions/get", b"name=fraud_detector&version=1"),
                        ("/model-versions/get-download-uri", b"name=fraud_detector&version=1"),
                        ("/registered-models/get", b"name=fraud_detector")]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            raise AssertionError("a GET without a body asked for one")

        async def send(message: dict[str, Any], sent: list[dict[str, Any]] = sent) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": MLFLOW + path,
                 "raw_path": (MLFLOW + path).encode(), "root_path": "",
                 "query_string": query, "headers": [(b"host", b"testserver")],
                 "client": ("127.0.0.1", 5000), "server": ("testserver", 80), "state": {}}
        asyncio.run(app(scope, receive, send))
        assert sent[0]["status"] == 200, sent


@pytest.mark.parametrize(("headers", "base"), [
    ([(b"host", b"registry.example:8080")], "http://registry.example:8080"),
    ([(b"host", b"a.example"), (b"x-forwarded-proto", b"HTTPS, http"),
      (b"x-forwarded-host", b"b.example, c.example")], "https://b.example"),
    ([(b"host", b"a.example"), (b"x-forwarded-proto", b"gopher")], "http://a.example"),
    ([(b"host", b"a.example"), (b"x-forwarded-host", b"bad host!")], "http://a.example"),
    ([(b"host", b"first.example"), (b"host", b"second.example")], "http://first.example"),
    ([(b"host", b"bad host!")], "http://testserver"),
])
def test_the_public_base_url_is_the_one_the_client_reached(headers, base) -> None:  # type: ignore[no-untyped-def]
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": headers,
                       "query_string": b"", "scheme": "http", "root_path": "",
                       "server": ("testserver", 80)})
    assert public_base_url(request) == base
