"""Hostile inputs with authentication on: sources (DESIGN §4) and every file path input.

Sources go through the native API and the MLflow surface as a contributor (who may
register) and as a reader (who may not: refused before the source is even read).
File paths are sent as raw request lines straight to the ASGI app, so no HTTP
client normalises them first: downloads (native and MLflow's artifact routes) as a
reader, uploads as a contributor. Nothing hostile may be answered with bytes, be
stored, or crash (5xx).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote

import pytest
from tests.api.access_world import FRAUD, RUN
from tests.unit.test_sources import HOSTILE as HOSTILE_SOURCES

API = "/api/v1"

# Every file path input, as raw URL bytes: encoded dots and separators, double
# encoding, overlong UTF-8, backslashes (raw and encoded), NUL, '#', '?', ';',
# absolute paths, empty and dot segments, Windows drive and stream syntax.
HOSTILE_PATHS = [
    b"../../../../etc/passwd",
    b"data/../../../charter.db",
    b"%2e%2e/%2e%2e/charter.db",
    b"%2E%2E%2F%2E%2E%2Fcharter.db",
    b"..%2f..%2fcharter.db",
    b"data%2fmodel.pkl",
    b"%252e%252e/charter.db",
    b"..%252fcharter.db",
    b"%25%32%65%25%32%65/charter.db",
    b"%c0%ae%c0%ae/charter.db",
    b"..\\..\\charter.db",
    b"..%5c..%5ccharter.db",
    b"data%5cmodel.pkl",
    b"model.pkl%00.txt",
    b"model.pkl%00",
    b"/etc/passwd",
    b"%2fetc%2fpasswd",
    b"./model.pkl",
    b"data/./model.pkl",
    b"data//model.pkl",
    b"model.pkl%23frag",
    b"model.pkl%3Fx=1",
    b"model.pkl;.txt",
    b"model.pkl%3b.txt",
    b"C:%5cWindows%5csystem.ini",
    b"C:/Windows/system.ini",
    b"model.pkl:stream",
    b"%ef%bc%8e%ef%bc%8e/charter.db",  # fullwidth dots
]
IDS = [p.decode("latin-1") for p in HOSTILE_PATHS]
SECRET = b"the contents of a file outside the version"




def raw(client, method: str, raw_path: bytes, token: str, body: bytes = b""
        ) -> tuple[int, bytes]:
    """Call the app as uvicorn would for this exact request line, with a token."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "root_path": "", "query_string": b"",
             "path": unquote(raw_path.decode("latin-1"), encoding="latin-1"),
             "raw_path": raw_path, "server": ("testserver", 80), "client": ("127.0.0.1", 9),
             "headers": [(b"host", b"testserver"),
                         (b"authorization", f"Bearer {token}".encode()),
                         (b"content-length", str(len(body)).encode())]}
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(client.app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


# ---- sources ----------------------------------------------------------------------------

@pytest.mark.parametrize("source", HOSTILE_SOURCES, ids=[repr(s)[:40] for s in HOSTILE_SOURCES])
def test_a_hostile_source_is_refused_and_nothing_is_registered(world, fresh, source):
    service, client = fresh
    before = service.get_model(FRAUD).last_version
    response = client.post(f"{API}/models/{FRAUD}/versions", json={"source": source},
                           headers=world.auth("cory"))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] in ("source.refused", "version.source_required",
                                                "request.invalid_text")  # NUL, controls
    mlflow = client.post("/api/2.0/mlflow/model-versions/create",
                         json={"name": FRAUD, "source": source}, headers=world.auth("cory"))
    assert mlflow.status_code == 400, mlflow.text
    assert mlflow.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert service.get_model(FRAUD).last_version == before


def test_a_reader_is_refused_before_the_source_is_looked_at(world, fresh):
    _, client = fresh
    for source in (HOSTILE_SOURCES[2], f"runs:/{RUN}/model"):
        response = client.post(f"{API}/models/{FRAUD}/versions", json={"source": source},
                               headers=world.auth("rita"))
        assert (response.status_code, response.json()["error"]["code"]) == (
            403, "access.denied")


# ---- file paths: downloads -------------------------------------------------------------

@pytest.fixture
def with_files(fresh, tmp_path):
    service, client = fresh
    folder = tmp_path / "model"
    (folder / "data").mkdir(parents=True)
    (folder / "model.pkl").write_bytes(b"weights")
    (folder / "data" / "model.pkl").write_bytes(b"nested weights")
    (tmp_path / "charter.db.secret").write_bytes(SECRET)
    version = service.register(FRAUD, path=folder)  # the local admin, on the server
    return service, client, version.version


@pytest.mark.parametrize("hostile", HOSTILE_PATHS, ids=IDS)
def test_hostile_download_paths_never_answer_bytes(world, with_files, hostile):
    service, client, number = with_files
    token = world.tokens["rita"]
    for prefix in (f"{API}/models/{FRAUD}/versions/{number}/files/".encode(),
                   f"/api/2.0/mlflow-artifacts/artifacts/models/{FRAUD}/versions/{number}/"
                   .encode()):
        status, body = raw(client, "GET", prefix + hostile, token)
        assert status in (400, 404), (prefix + hostile, status, body[:200])
        assert SECRET not in body and b"weights" not in body


def test_the_same_routes_serve_a_plain_path_to_a_reader_and_hide_it_from_a_stranger(
        world, with_files):
    service, client, number = with_files
    path = f"{API}/models/{FRAUD}/versions/{number}/files/data/model.pkl".encode()
    assert raw(client, "GET", path, world.tokens["rita"]) == (200, b"nested weights")
    status, body = raw(client, "GET", path, world.tokens["nina"])
    assert status == 404 and b"weights" not in body


# ---- file paths: uploads ----------------------------------------------------------------

@pytest.mark.parametrize("hostile", HOSTILE_PATHS, ids=IDS)
def test_hostile_upload_paths_are_refused_and_nothing_is_stored(world, fresh, hostile):
    service, client = fresh
    started = client.post(f"{API}/models/{FRAUD}/uploads", headers=world.auth("cory"))
    assert started.status_code == 201, started.text
    upload = started.json()["upload_id"]
    url = f"{API}/models/{FRAUD}/uploads/{upload}/files/".encode() + hostile
    status, body = raw(client, "PUT", url, world.tokens["cory"], body=b"payload")
    assert 400 <= status < 500, (hostile, status, body[:200])
    received = client.get(f"{API}/models/{FRAUD}/uploads/{upload}",
                          headers=world.auth("cory")).json()
    assert received["files"] == []


def test_a_reader_may_not_open_an_upload_or_send_bytes(world, fresh):
    _, client = fresh
    response = client.post(f"{API}/models/{FRAUD}/uploads", headers=world.auth("rita"))
    assert (response.status_code, response.json()["error"]["code"]) == (403, "access.denied")
    started = client.post(f"{API}/models/{FRAUD}/uploads", headers=world.auth("cory")).json()
    url = f"{API}/models/{FRAUD}/uploads/{started['upload_id']}/files/model.pkl".encode()
    status, _ = raw(client, "PUT", url, world.tokens["rita"], body=b"payload")
    assert status == 403
    # nina may not read fraud_detector: she is refused as for an unused name (she may not
    # create models), never told that the model exists
    status, _ = raw(client, "PUT", url, world.tokens["nina"], body=b"payload")
    assert status == 403
