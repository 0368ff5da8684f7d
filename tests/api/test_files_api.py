"""A version's files over REST (and MLflow's artifact routes), in process.

Uploading through the routes, listing and downloading with the headers a browser
and a proxy need, single byte ranges, immutability, and the hostile-path list sent
as raw URLs (straight to the ASGI app, so no client normalises them first).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import shutil
import warnings
from typing import Any
from urllib.parse import unquote

import pytest
import xxhash

from charter.bootstrap import build_service
from charter.config import Settings
from charter.fileio import writer
from charter.server.app import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

API = "/api/v1"
NAME = "fraud_detector"
FILES = {
    "MLmodel": b"flavors:\n  python_function: {}\n",
    "model.pkl": os.urandom(100_000),
    "data/nested/vocab.txt": b"alpha\nbeta\n",
    "donn\u00e9es/r\u00e9sum\u00e9 final.txt": "caf\u00e9".encode(),
}
ACTOR = {"X-Charter-Actor": "ci-bot"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest(files: dict[str, bytes] = FILES) -> list[dict[str, Any]]:
    return [{"path": p, "size": len(d), "sha256": sha(d)} for p, d in files.items()]


def upload(client, files: dict[str, bytes] = FILES, name: str = NAME) -> str:
    started = client.post(f"{API}/models/{name}/uploads", headers=ACTOR)
    assert started.status_code == 201, started.text
    upload_id = started.json()["upload_id"]
    for path, data in files.items():
        stored = client.put(f"{API}/models/{name}/uploads/{upload_id}/files/{path}",
                            content=data, headers=ACTOR)
        assert stored.status_code == 201, stored.text
        assert stored.json() == {"path": path, "size": len(data), "sha256": sha(data),
                                 "xxh3_128": xxhash.xxh3_128(data).hexdigest()}
    return upload_id


def register(client) -> dict[str, Any]:
    upload_id = upload(client)
    committed = client.post(f"{API}/models/{NAME}/uploads/{upload_id}/commit", headers=ACTOR,
                            json={"files": manifest(), "description": "uploaded"})
    assert committed.status_code == 201, committed.text
    return committed.json()


@pytest.fixture
def registered(client) -> dict[str, Any]:
    return register(client)


@pytest.fixture(scope="module")
def reader(template_home, tmp_path_factory):
    """One registered version shared by the tests that only read (and refuse) requests."""
    home = tmp_path_factory.mktemp("reader")
    shutil.copyfile(template_home / "charter.db", home / "charter.db")
    settings = Settings.load({"home": home}, env={})
    service = build_service(settings, actor="test", migrate=False)
    with TestClient(create_app(service, settings)) as test_client:
        register(test_client)
        yield test_client
    service.db.dispose()


def files_url(path: str = "", version: int = 1) -> str:
    return f"{API}/models/{NAME}/versions/{version}/files" + (f"/{path}" if path else "")


def refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text


# ---- uploading ------------------------------------------------------------------------

def test_upload_protocol_registers_a_ready_version(client, registered):
    assert (registered["version"], registered["status"]) == (1, "READY")
    assert sorted(f["path"] for f in registered["files"]) == sorted(FILES)
    resolved = client.get(f"{API}/resolve", params={"uri": f"models:/{NAME}/1"}).json()
    assert resolved["artifact_location"] == f"charter:/models/{NAME}/versions/1/files"


def test_an_upload_session_reports_what_it_received(client):
    upload_id = upload(client, {"model.pkl": b"weights"})
    status = client.get(f"{API}/models/{NAME}/uploads/{upload_id}", headers=ACTOR).json()
    assert status["files"] == manifest({"model.pkl": b"weights"})
    assert (status["version"], status["wants_digest_first"]) == (None, False)


def test_a_second_put_of_the_same_path_is_409(client):
    upload_id = upload(client, {"model.pkl": b"weights"})
    again = client.put(f"{API}/models/{NAME}/uploads/{upload_id}/files/model.pkl",
                       content=b"other weights", headers=ACTOR)
    refused(again, 409, "upload.file_exists")


def test_a_wrong_sha256_header_is_400_and_stores_nothing(client):
    upload_id = upload(client, {})
    sent = client.put(f"{API}/models/{NAME}/uploads/{upload_id}/files/model.pkl",
                      content=b"tampered", headers={**ACTOR, "X-Charter-Sha256": sha(b"orig")})
    refused(sent, 400, "upload.digest_mismatch")
    right = client.put(f"{API}/models/{NAME}/uploads/{upload_id}/files/model.pkl",
                       content=b"orig", headers={**ACTOR, "X-Charter-Sha256": sha(b"orig")})
    assert right.status_code == 201


def test_a_full_disk_is_507_storage_full_and_stores_nothing(client, tmp_path, monkeypatch):
    def no_room(fd, chunk):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    upload_id = upload(client, {})
    monkeypatch.setattr(writer, "write_all", no_room)  # the disk fills under the writer
    sent = client.put(f"{API}/models/{NAME}/uploads/{upload_id}/files/model.pkl",
                      content=os.urandom(2 * 1024 * 1024), headers=ACTOR)
    refused(sent, 507, "storage.full")
    assert "charter gc" in sent.json()["error"]["hint"]
    monkeypatch.undo()
    assert client.get(f"{API}/models/{NAME}/uploads/{upload_id}",
                      headers=ACTOR).json()["files"] == []
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []


def test_a_mismatching_manifest_is_400_and_no_version_appears(client):
    upload_id = upload(client)
    wrong = manifest()
    wrong[0]["size"] += 1
    answer = client.post(f"{API}/models/{NAME}/uploads/{upload_id}/commit", headers=ACTOR,
                         json={"files": wrong})
    refused(answer, 400, "upload.mismatch")
    assert answer.json()["error"]["details"]["problems"]
    refused(client.get(f"{API}/models/{NAME}"), 404, "model.not_found")


def test_an_aborted_upload_is_gone(client):
    upload_id = upload(client, {"model.pkl": b"w"})
    assert client.delete(f"{API}/models/{NAME}/uploads/{upload_id}",
                         headers=ACTOR).status_code == 204
    refused(client.get(f"{API}/models/{NAME}/uploads/{upload_id}", headers=ACTOR), 404,
            "upload.not_found")


def test_another_caller_cannot_use_my_upload(client):
    upload_id = upload(client, {"model.pkl": b"w"})
    refused(client.put(f"{API}/models/{NAME}/uploads/{upload_id}/files/x.bin", content=b"x",
                       headers={"X-Charter-Actor": "mallory"}), 404, "upload.not_found")


def test_a_bad_name_is_refused_before_any_byte(client):
    refused(client.post(f"{API}/models/fraud_detector_v2/uploads", headers=ACTOR), 400,
            "name.invalid")


# ---- reading --------------------------------------------------------------------------

def test_files_are_listed_with_size_and_sha256(client, registered):
    listing = client.get(files_url()).json()
    assert listing["digest"] == registered["digest"]
    assert sorted(map(tuple, (f.values() for f in listing["files"]))) == sorted(
        (f["path"], f["size"], f["sha256"]) for f in manifest())


def test_a_source_only_version_lists_no_files(client):
    client.post(f"{API}/models/{NAME}/versions", json={"source": "s3://models/fraud/1"})
    assert client.get(files_url()).json()["files"] == []


def test_a_download_is_an_octet_stream_attachment_that_browsers_will_not_sniff(client,
                                                                               registered):
    answer = client.get(files_url("model.pkl"))
    assert answer.status_code == 200 and answer.content == FILES["model.pkl"]
    headers = answer.headers
    assert headers["content-type"] == "application/octet-stream"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-disposition"].startswith('attachment; filename="model.pkl"')
    assert headers["content-length"] == str(len(FILES["model.pkl"]))
    assert headers["etag"] == f'"{sha(FILES["model.pkl"])}"'
    assert headers["x-charter-sha256"] == sha(FILES["model.pkl"])
    assert headers["accept-ranges"] == "bytes"


def test_nested_and_non_ascii_paths_download(client, registered):
    for path, data in FILES.items():
        assert client.get(files_url(path)).content == data
    answer = client.get(files_url("donn%C3%A9es/r%C3%A9sum%C3%A9%20final.txt"))
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20final.txt" in answer.headers[
        "content-disposition"]


@pytest.mark.parametrize(("header", "start", "stop"), [
    ("bytes=0-99", 0, 100), ("bytes=99990-", 99990, 100_000), ("bytes=-10", 99990, 100_000),
    ("bytes=50000-50000", 50000, 50001), ("bytes=99990-200000", 99990, 100_000)])
def test_a_single_range_is_206_with_content_range(client, registered, header, start, stop):
    answer = client.get(files_url("model.pkl"), headers={"Range": header})
    assert answer.status_code == 206
    assert answer.content == FILES["model.pkl"][start:stop]
    assert answer.headers["content-range"] == f"bytes {start}-{stop - 1}/100000"
    assert answer.headers["content-length"] == str(stop - start)


def test_an_unsatisfiable_range_is_416(client, registered):
    answer = client.get(files_url("model.pkl"), headers={"Range": "bytes=100000-"})
    assert answer.status_code == 416
    assert answer.headers["content-range"] == "bytes */100000"


def test_several_ranges_get_the_whole_file(client, registered):
    answer = client.get(files_url("model.pkl"), headers={"Range": "bytes=0-1,5-6"})
    assert answer.status_code == 200 and answer.content == FILES["model.pkl"]


def test_head_answers_the_headers_without_the_body(client, registered):
    answer = client.head(files_url("model.pkl"))
    assert answer.status_code == 200 and answer.content == b""
    assert answer.headers["content-length"] == str(len(FILES["model.pkl"]))


def test_a_missing_file_or_version_is_404(client, registered):
    refused(client.get(files_url("nope.bin")), 404, "file.not_found")
    refused(client.get(files_url("model.pkl", version=9)), 404, "version.not_found")


def test_a_published_file_cannot_be_rewritten(client, registered):
    answer = client.put(files_url("model.pkl"), content=b"backdoor")
    refused(answer, 409, "file.immutable")
    assert client.get(files_url("model.pkl")).content == FILES["model.pkl"]


# ---- hostile paths, sent raw ------------------------------------------------------------

HOSTILE = [
    b"../../../../etc/passwd",
    b"data/../../../charter.db",
    b"%2e%2e/%2e%2e/charter.db",
    b"%2E%2E%2F%2E%2E%2Fcharter.db",
    b"..%2f..%2fcharter.db",
    b"%252e%252e/charter.db",
    b"..%252fcharter.db",
    b"..\\..\\charter.db",
    b"..%5c..%5ccharter.db",
    b"model.pkl%00.txt",
    b"/etc/passwd",
    b"%2fetc%2fpasswd",
    b"./model.pkl",
    b"data//nested/vocab.txt",
    b"model.pkl;.txt",
    b"%c0%ae%c0%ae/charter.db",
    b"model.pkl%23",
    b"model.pkl%3F",
]


def raw_request(app, method: str, raw_path: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Call the ASGI app as uvicorn would for this exact request line."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "root_path": "", "query_string": b"",
             "path": unquote(raw_path.decode("latin-1"), encoding="latin-1"),
             "raw_path": raw_path, "server": ("testserver", 80), "client": ("127.0.0.1", 9),
             "headers": [(b"host", b"testserver"), (b"x-charter-actor", b"ci-bot"),
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

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.parametrize("hostile", HOSTILE, ids=[h.decode("latin-1") for h in HOSTILE])
def test_hostile_download_paths_are_refused(reader, hostile):
    for prefix in (files_url().encode() + b"/",
                   f"/api/2.0/mlflow-artifacts/artifacts/models/{NAME}/versions/1/".encode()):
        status, body = raw_request(reader.app, "GET", prefix + hostile)
        assert status in (400, 404), (prefix + hostile, status, body[:200])
        assert b"sqlite" not in body.lower() and b"root:" not in body


@pytest.mark.parametrize("hostile", HOSTILE, ids=[h.decode("latin-1") for h in HOSTILE])
def test_hostile_upload_paths_are_refused(client, hostile):
    upload_id = upload(client, {})
    status, body = raw_request(
        client.app, "PUT", f"{API}/models/{NAME}/uploads/{upload_id}/files/".encode()
        + hostile, b"payload")
    assert status in (400, 404), (hostile, status, body[:200])
    assert client.get(f"{API}/models/{NAME}/uploads/{upload_id}",
                      headers=ACTOR).json()["files"] == []


# ---- MLflow's artifact routes -----------------------------------------------------------

MLFLOW_ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


def test_get_download_uri_points_mlflow_at_charter(client, registered):
    answer = client.get("/api/2.0/mlflow/model-versions/get-download-uri",
                        params={"name": NAME, "version": "1"})
    assert answer.json() == {"artifact_uri": f"http://testserver{MLFLOW_ARTIFACTS}/models/"
                                             f"{NAME}/versions/1"}
    proxied = client.get("/api/2.0/mlflow/model-versions/get-download-uri",
                         params={"name": NAME, "version": "1"},
                         headers={"X-Forwarded-Proto": "https",
                                  "X-Forwarded-Host": "charter.example.com"})
    assert proxied.json()["artifact_uri"].startswith(
        f"https://charter.example.com{MLFLOW_ARTIFACTS}/")


def test_get_download_uri_of_a_source_only_version_is_its_source(client):
    client.post(f"{API}/models/{NAME}/versions", json={"source": "s3://models/fraud/1"})
    answer = client.get("/api/2.0/mlflow/model-versions/get-download-uri",
                        params={"name": NAME, "version": "1"})
    assert answer.json() == {"artifact_uri": "s3://models/fraud/1"}
    missing = client.get("/api/2.0/mlflow/model-versions/get-download-uri",
                         params={"name": NAME, "version": "7"})
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_mlflow_listing_has_mlflows_shape(client, registered):
    def listing(path: str) -> dict[str, Any]:
        answer = client.get(MLFLOW_ARTIFACTS, params={"path": path})
        assert answer.status_code == 200, answer.text
        return answer.json()

    root = f"models/{NAME}/versions/1"
    assert listing(root) == {"files": [
        {"path": "MLmodel", "is_dir": False, "file_size": len(FILES["MLmodel"])},
        {"path": "data", "is_dir": True},
        {"path": "donn\u00e9es", "is_dir": True},
        {"path": "model.pkl", "is_dir": False, "file_size": 100_000}]}
    assert listing(root + "/data/nested") == {"files": [
        {"path": "vocab.txt", "is_dir": False, "file_size": 11}]}
    assert listing(root + "/model.pkl") == {}


def test_mlflow_download_and_errors_have_mlflows_shape(client, registered):
    answer = client.get(f"{MLFLOW_ARTIFACTS}/models/{NAME}/versions/1/data/nested/vocab.txt")
    assert answer.content == FILES["data/nested/vocab.txt"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    for bad in (client.get(MLFLOW_ARTIFACTS, params={"path": "runs/abc"}),
                client.get(MLFLOW_ARTIFACTS, params={"path": f"models/{NAME}/versions/1/x"}),
                client.get(f"{MLFLOW_ARTIFACTS}/models/{NAME}/versions/1/../../x"),
                client.get(MLFLOW_ARTIFACTS, params={"path": "../../etc"})):
        assert bad.status_code in (400, 404), bad.text
        assert set(bad.json()) >= {"error_code", "message"}
    write = client.put(f"{MLFLOW_ARTIFACTS}/models/{NAME}/versions/1/model.pkl", content=b"x")
    assert write.status_code == 405 and write.json()["error_code"] == "ENDPOINT_NOT_FOUND"
