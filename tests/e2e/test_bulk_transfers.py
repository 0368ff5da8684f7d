"""File bodies over the socket paths of a real `charter serve` (charter.api.sockets).

Under uvicorn a large upload is received straight off the socket and a large
download goes out with sendfile; each then closes its connection. These tests
check that those paths keep every rule of the ordinary one: verified bytes, byte
ranges, refusals that store nothing, and a server that survives clients that
vanish halfway.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import xxhash

from charter.client import RemoteRegistry, transfer
from charter.client.transfer import LocalFile, Transfers
from charter.domain.errors import CharterError, IntegrityFailure
from tests.e2e.server import running_server

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
BIG = os.urandom(5 * MIB + 123)  # above the sendfile threshold, not a whole chunk count
NAME = "fraud_detector"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("bulk")


@pytest.fixture(scope="module")
def server(home):
    with running_server(home) as url:
        yield url


@pytest.fixture
def remote(server, tmp_path):
    with RemoteRegistry(server, actor="ci-bot", cache_dir=tmp_path / "cache") as registry:
        yield registry


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def start_upload(server: str, name: str) -> str:
    answer = httpx.post(f"{server}/api/v1/models/{name}/uploads",
                        headers={"X-Charter-Actor": "ci-bot"}, json={})
    assert answer.status_code == 201, answer.text
    return f"/api/v1/models/{name}/uploads/{answer.json()['upload_id']}"


def raw_request(server: str, head: str, body: bytes = b"") -> socket.socket:
    address = urlsplit(server)
    sock = socket.create_connection((address.hostname, address.port), timeout=30)
    sock.sendall(head.encode() + b"\r\n" + body)
    return sock


def model_folder(tmp_path: Path) -> Path:
    """A model folder holding one large file, BIG."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(BIG)
    return tmp_path / "model"


def broken_pull(remote: RemoteRegistry, left_behind: bytes) -> Path:
    """The pull cache's partial of BIG, holding what an interrupted pull left behind."""
    partial = remote.cache.path_of(sha(BIG))
    partial = partial.with_name(partial.name + ".partial")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(left_behind)
    return partial


def tmp_files(home: Path) -> list[Path]:
    return list((home / "blobs" / "tmp").iterdir())


def test_a_large_file_goes_up_and_down_whole_and_verified(remote, server, tmp_path):
    model = model_folder(tmp_path)
    version = remote.register(NAME, path=model)
    assert [(f.size, f.sha256) for f in version.files] == [(len(BIG), sha(BIG))]
    remote.download(f"models:/{NAME}/{version.version}", tmp_path / "pulled")
    assert (tmp_path / "pulled" / "weights.bin").read_bytes() == BIG


def test_a_range_of_a_large_file_is_sent_exactly_and_the_connection_closes(remote, server,
                                                                           tmp_path):
    model = model_folder(tmp_path)
    version = remote.register("churn_forecast", path=model)
    url = f"{server}/api/v1/models/churn_forecast/versions/{version.version}/files/weights.bin"
    with httpx.Client(headers={"X-Charter-Actor": "ci-bot"}) as client:
        ranged = client.get(url, headers={"Range": f"bytes={MIB}-{4 * MIB}"})
        assert ranged.status_code == 206
        assert ranged.content == BIG[MIB:4 * MIB + 1]
        assert ranged.headers["content-range"] == f"bytes {MIB}-{4 * MIB}/{len(BIG)}"
        assert ranged.headers["connection"] == "close"
        whole = client.get(url)  # a new connection, and every header of the ordinary path
        assert whole.content == BIG and whole.headers["etag"] == f'"{sha(BIG)}"'
        assert whole.headers["x-content-type-options"] == "nosniff"
        assert client.get(f"{server}/healthz").status_code == 200


def test_a_download_abandoned_halfway_leaves_the_server_serving(remote, server, tmp_path):
    model = model_folder(tmp_path)
    version = remote.register("payments_risk_model", path=model)
    path = f"/api/v1/models/payments_risk_model/versions/{version.version}/files/weights.bin"
    for _ in range(3):
        sock = raw_request(server, f"GET {path} HTTP/1.1\r\nHost: x\r\n"
                                   "X-Charter-Actor: ci-bot\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        sock.close()  # gone with megabytes still to send
    assert httpx.get(f"{server}/healthz").status_code == 200
    remote.download(f"models:/payments_risk_model/{version.version}", tmp_path / "pulled")
    assert (tmp_path / "pulled" / "weights.bin").read_bytes() == BIG


def test_an_upload_cut_off_mid_body_stores_nothing(server, home):
    upload = start_upload(server, "search_ranker")
    sock = raw_request(server, f"PUT {upload}/files/weights.bin HTTP/1.1\r\nHost: x\r\n"
                               f"X-Charter-Actor: ci-bot\r\nContent-Length: {len(BIG)}\r\n",
                       BIG[:2 * MIB])
    sock.close()
    answer = httpx.get(f"{server}{upload}", headers={"X-Charter-Actor": "ci-bot"})
    for _ in range(50):  # the server notices the closed socket on its own time
        if not tmp_files(home):
            break
        time.sleep(0.1)
        answer = httpx.get(f"{server}{upload}", headers={"X-Charter-Actor": "ci-bot"})
    assert answer.json()["files"] == [] and tmp_files(home) == []
    # a client that leaves is not a server error: no traceback in the server's log
    assert "unhandled error" not in (home / "server.log").read_text()


def test_a_body_that_does_not_match_its_expected_digest_is_refused_and_stores_nothing(
        server, home):
    upload = start_upload(server, "demand_forecast")
    address = urlsplit(server)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    connection.request("PUT", f"{upload}/files/weights.bin", body=BIG,
                       headers={"X-Charter-Actor": "ci-bot", "X-Charter-Sha256": sha(b"other")})
    response = connection.getresponse()
    assert response.status == 400
    assert response.getheader("connection") == "close"  # it went the socket path
    assert json.loads(response.read())["error"]["code"] == "upload.digest_mismatch"
    connection.close()
    answer = httpx.get(f"{server}{upload}", headers={"X-Charter-Actor": "ci-bot"})
    assert answer.json()["files"] == [] and tmp_files(home) == []


def test_a_file_that_shrinks_while_it_is_sent_is_refused(remote, server, tmp_path):
    upload = start_upload(server, "fraud_scorer")
    small = tmp_path / "weights.bin"
    small.write_bytes(BIG[:MIB])
    transfers = Transfers(remote._session, "ci-bot")
    shrunk = LocalFile("weights.bin", small, len(BIG))  # its size when it was listed
    with pytest.raises(CharterError) as refused:
        transfers.put_file(f"{upload.removeprefix('/api/v1')}/files/weights.bin", shrunk,
                           expected=None, progress=None)
    assert refused.value.code == "upload.file_changed"
    assert httpx.get(f"{server}/healthz").status_code == 200


def test_a_broken_pull_of_a_large_file_resumes_from_its_partial(remote, tmp_path):
    model = model_folder(tmp_path)
    version = remote.register("lending_credit_score", path=model)
    partial = broken_pull(remote, BIG[:MIB + 7])  # as a dropped link leaves it
    remote.download(f"models:/lending_credit_score/{version.version}", tmp_path / "pulled")
    assert (tmp_path / "pulled" / "weights.bin").read_bytes() == BIG
    assert not partial.exists()


def test_a_large_blob_that_arrives_altered_is_never_published(remote, tmp_path):
    model = model_folder(tmp_path)
    version = remote.register("fraud_detection_binary", path=model)
    broken_pull(remote, b"\0" * MIB)  # wrong bytes the resumed pull builds on
    with pytest.raises(IntegrityFailure):
        remote.download(f"models:/fraud_detection_binary/{version.version}", tmp_path / "bad")
    assert not remote.cache.path_of(sha(BIG)).exists()
    remote.download(f"models:/fraud_detection_binary/{version.version}", tmp_path / "good")
    assert (tmp_path / "good" / "weights.bin").read_bytes() == BIG


class FlippingRelay:
    """A TCP relay to the server that flips one byte of every file PUT's body on the
    way: what a faulty NIC, proxy or disk cache would do to an upload."""

    def __init__(self, server: str, at: int) -> None:
        address = urlsplit(server)
        self._target = (address.hostname, address.port)
        self._at = at  # offset into the body
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.flipped = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False),
                             daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, upward: bool) -> None:
        seen = bytearray()  # the request's head, until the body starts
        body_at: int | None = None
        passed = 0
        try:
            while data := source.recv(256 * 1024):
                data = bytearray(data)
                if upward and body_at is None:
                    seen += data
                    end = seen.find(b"\r\n\r\n")
                    if end >= 0:
                        file_put = seen.startswith(b"PUT ") and b"/files/" in seen[:end]
                        body_at = end + 4 if file_put else -1
                if upward and body_at is not None and body_at >= 0:
                    index = body_at + self._at - passed
                    if 0 <= index < len(data):
                        data[index] ^= 0xFF
                        self.flipped += 1
                passed += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)


def test_an_upload_altered_on_the_way_is_refused_and_registers_nothing(server, tmp_path):
    model = model_folder(tmp_path)
    relay = FlippingRelay(server, at=3 * MIB + 5)
    try:
        with RemoteRegistry(relay.url, actor="ci-bot", cache_dir=tmp_path / "c") as remote:
            with pytest.raises(IntegrityFailure) as refused:
                remote.register("churn_predictor", path=model)
    finally:
        relay.close()
    assert relay.flipped == 1
    assert refused.value.code == "artifact.transit_mismatch"
    assert "weights.bin" in refused.value.message
    missing = httpx.get(f"{server}/api/v1/models/churn_predictor/versions/1",
                        headers={"X-Charter-Actor": "ci-bot"})
    assert missing.status_code == 404


class SlowChecksum:
    """XXH3-128 that takes its time: the server answers before the client's is done."""

    real = xxhash.xxh3_128

    def __init__(self) -> None:
        self._inner = SlowChecksum.real()

    def update(self, data) -> None:
        time.sleep(0.05)
        self._inner.update(data)

    def hexdigest(self) -> str:
        return self._inner.hexdigest()


def test_an_upload_whose_checksum_finishes_after_the_answer_still_registers(
        remote, tmp_path, monkeypatch):
    monkeypatch.setattr(transfer.xxhash, "xxh3_128", SlowChecksum)
    model = model_folder(tmp_path)
    version = remote.register("credit_limit_model", path=model)
    assert version.files[0].sha256 == sha(BIG)
