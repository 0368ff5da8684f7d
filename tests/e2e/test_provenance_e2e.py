"""Provenance against a real `charter serve` (SQLite and PostgreSQL): a signed folder
registered through the remote client, checkpoints delivered to a webhook receiver, and
the receiver's copy catching a rewrite of the server's database that the server itself
no longer sees — checked by the client, which recomputes the chain from the feed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

import charter
from charter.domain.checkpoints import find_checkpoint
from charter.domain.events import CHECKPOINT_SIGNED
from charter.signing.envelopes import load_signer_key
from charter.signing.keys import create_key
from charter.store.engines import normalise_url
from tests.e2e.server import running_server, wait_until
from tests.provenance_kit import make_key, model_folder, rewrite_events, sign_with_key

pytestmark = pytest.mark.e2e

NAME = "fraud_detector"
SECRET = "e2e-provenance-secret-0123456789"


class Saved:
    """A webhook receiver that keeps the checkpoints it is sent (its own copy)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def checkpoints(self) -> list[dict[str, Any]]:
        with self.lock:
            return [b for b in self.bodies if b["event"]["action"] == CHECKPOINT_SIGNED]


def receiving(saved: Saved) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with saved.lock:
                saved.bodies.append(body)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def served(request: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    home = tmp_path / "home"
    home.mkdir()
    key = create_key(home / "checkpoint.key")
    (home / "charter.toml").write_text(
        f'[audit]\ncheckpoint_key = "{home / "checkpoint.key"}"\ncheckpoint_every_events = 3\n'
        "[webhooks]\npoll_interval = 0.1\n")
    database_url = (request.getfixturevalue("postgres_database_url")
                    if request.param == "postgresql" else f"sqlite:///{home / 'charter.db'}")
    saved = Saved()
    receiver, hook = receiving(saved)
    try:
        with running_server(home, database_url=database_url) as url:
            yield {"url": url, "home": home, "key": key, "saved": saved, "hook": hook,
                   "database_url": database_url}
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_a_signed_folder_registered_remotely_and_a_rewrite_caught_by_a_saved_checkpoint(
        served: dict[str, Any], tmp_path: Path) -> None:
    url, key = served["url"], served["key"]
    remote = charter.connect(url, actor="alice")
    remote.add_webhook(served["hook"], secret=SECRET, events_filter=[CHECKPOINT_SIGNED])
    folder = model_folder(tmp_path / "model")
    release = make_key(tmp_path / "keys", "release")
    signature = sign_with_key(folder, release, folder / "model.sig")   # inside the folder
    version = remote.register(NAME, path=folder, signature=signature,
                              signer_key=release.public_path)
    assert version.signer == str(load_signer_key(release.public_pem).signer)
    assert "model.sig" not in {f.path for f in version.files}
    assert remote.signature_bundle(NAME, 1) == signature.read_bytes()
    remote.transition(NAME, 1, "Staging", reason="validated")
    remote.set_version_tag(NAME, 1, "owner", "payments")
    wait_until(lambda: len(served["saved"].checkpoints()) >= 2)
    kept = find_checkpoint(served["saved"].checkpoints()[-1])
    assert remote.verify_audit(checkpoint=kept, trusted_keys=[key.key_id]).ok

    staging = next(e.seq for e in remote.events(limit=100) if e.to_stage == "Staging")
    engine = create_engine(normalise_url(served["database_url"]))
    rewrite_events(engine, staging, {"reason": "approved by the board", "actor": "mallory"},
                   drop_checkpoints=True)
    engine.dispose()
    assert remote.verify_audit().ok                  # the server sees an intact chain
    report = remote.verify_audit(checkpoint=kept, trusted_keys=[key.key_id])
    assert not report.ok and "rewritten" in report.problem

    saved_file = tmp_path / "kept.json"
    saved_file.write_text(json.dumps(served["saved"].checkpoints()[-1]))   # a webhook body
    env = {**os.environ, "CHARTER_REGISTRY_URL": url, "NO_COLOR": "1"}
    cli = subprocess.run([sys.executable, "-m", "charter.cli.main", "audit", "verify",
                          "--checkpoint", str(saved_file), "--public-key", key.key_id],
                         env=env, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 7 and "[audit.chain_broken]" in cli.stderr


def test_checkpoints_are_served_and_a_past_answer_is_proved_remotely(
        served: dict[str, Any]) -> None:
    remote = charter.connect(served["url"], actor="alice")
    remote.register(NAME, "s3://bucket/model-1")
    remote.transition(NAME, 1, "Staging", reason="validated")
    moment = remote.history(NAME)[-1].time
    signed = remote.sign_checkpoint()
    assert remote.latest_checkpoint() == signed
    assert signed in remote.checkpoints(after=0, limit=100)
    from charter.signing.audit import prove_answer

    proof = remote.prove_resolution(f"models:/{NAME}/Staging", moment)
    assert proof.version == 1 and prove_answer(proof, {served["key"].key_id}) == []
