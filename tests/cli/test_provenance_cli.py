"""The provenance commands through the real entry point (an embedded registry): a signed
registration, a refused one, attestations, a gated promotion, and the audit log proved
with a saved checkpoint after someone rewrote it."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from tests.provenance_kit import make_key, model_folder, sign_with_key, statement

from charter.domain.events import GENESIS_HASH, NewEvent, chain_hash, hashed_fields

NAME = "fraud_detector"
WEIGHTS = hashlib.sha256(b"weights " * 100).hexdigest()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "charter.toml").write_text(f"""
[evidence]
eval = "https://example.com/eval/v1"

[gates.Production]
require_signature = true
evidence = ["eval"]
checks = ["eval.auc >= 0.9"]

[audit]
checkpoint_key = "{home / 'checkpoint.key'}"
checkpoint_every_events = 4
""")
    return home


@pytest.fixture
def run(home: Path, runner_for: Any) -> Any:
    run = runner_for(home)
    assert run("key", "create").returncode == 0
    return run


def test_a_signed_model_goes_to_production_on_attested_evidence(
        run: Any, tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "model")
    key = make_key(tmp_path / "keys", "release")
    signature = sign_with_key(folder, key, tmp_path / "model.sig")
    done = run("register", NAME, str(folder), "--signature", str(signature),
               "--signer-key", str(key.public_path))
    assert done.returncode == 0, done.stderr
    assert "signed by key:sha256:" in done.stdout
    shown = run("show", f"{NAME}/1")
    assert "signed by" in shown.stdout and "key:sha256:" in shown.stdout
    run("promote", NAME, "1", "--to", "Staging", "--reason", "validated")
    refused = run("promote", NAME, "1", "--to", "Production", "--reason", "ship")
    assert refused.returncode == 5 and "evidence:eval" in refused.stdout + refused.stderr
    (tmp_path / "eval.json").write_text(json.dumps(statement({"model.pkl": WEIGHTS},
                                                             {"auc": 0.93})))
    attached = run("attest", NAME, "1", str(tmp_path / "eval.json"))
    assert attached.returncode == 0 and "unsigned" in attached.stdout
    check = run("check", NAME, "1", "--to", "Production")
    assert check.returncode == 0 and "eval.auc is 0.93" in check.stdout
    assert run("promote", NAME, "1", "--to", "Production", "--reason", "ship").returncode == 0


def test_a_version_signed_by_someone_else_is_refused_with_the_reason(
        run: Any, tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "model")
    alice, mallory = make_key(tmp_path / "a", "alice"), make_key(tmp_path / "m", "mallory")
    good = sign_with_key(folder, alice, tmp_path / "alice.sig")
    assert run("register", NAME, str(folder), "--signature", str(good), "--signer-key",
               str(alice.public_path)).returncode == 0
    bad = sign_with_key(folder, mallory, tmp_path / "mallory.sig")
    refused = run("register", NAME, str(folder), "--signature", str(bad), "--signer-key",
                  str(mallory.public_path))
    assert refused.returncode == 5 and "[signer.unknown]" in refused.stderr
    assert "charter signers add" in refused.stderr
    listed = run("signers", NAME, "--json")
    assert [s["signer"] for s in json.loads(listed.stdout)["signers"]] == [
        json.loads(run("show", f"{NAME}/1", "--json").stdout)["signer"]]


def rewrite_history(db: Path, seq: int) -> None:
    """Someone with the database file edits an event and recomputes every hash after it."""
    with sqlite3.connect(db) as connection:
        connection.row_factory = sqlite3.Row
        for trigger in ("events_no_update", "events_no_delete"):
            connection.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        prev = GENESIS_HASH
        for row in connection.execute("SELECT * FROM events ORDER BY seq").fetchall():
            reason = "approved by the board" if row["seq"] == seq else row["reason"]
            fields = hashed_fields(
                seq=row["seq"], time=row["time"], actor=row["actor"],
                correlation_id=row["correlation_id"],
                event=NewEvent(row["action"], row["model"], row["version"], row["from_stage"],
                               row["to_stage"], reason, json.loads(row["payload"])))
            digest = chain_hash(prev, fields)
            connection.execute("UPDATE events SET reason = ?, prev_hash = ?, hash = ? "
                               "WHERE seq = ?", (reason, prev, digest, row["seq"]))
            prev = digest
        connection.execute("UPDATE chain_head SET hash = ?", (prev,))


def test_audit_verify_with_a_saved_checkpoint_catches_a_rehashed_rewrite(
        run: Any, home: Path, tmp_path: Path) -> None:
    for number in range(3):
        assert run("register", NAME, f"s3://bucket/model-{number}").returncode == 0
    run("promote", NAME, "1", "--to", "Staging", "--reason", "validated")
    saved = tmp_path / "checkpoint.json"
    saved.write_text(run("audit", "checkpoint", "--json").stdout)
    assert run("audit", "verify", "--checkpoint", str(saved)).returncode == 0
    rewrite_history(home / "charter.db", seq=2)
    plain = run("audit", "verify")
    assert plain.returncode == 7 and "rewritten" in plain.stderr   # the log's own checkpoints
    with sqlite3.connect(home / "charter.db") as connection:      # …so the attacker drops them
        connection.execute("DELETE FROM events WHERE action = 'checkpoint_signed'")
    caught = run("audit", "verify", "--checkpoint", str(saved), "--public-key",
                 str(home / "checkpoint.key.pub"))
    assert caught.returncode == 7 and "[audit.chain_broken]" in caught.stderr


def test_resolve_as_of_with_proof_prints_the_events_and_the_checkpoint(
        run: Any, home: Path) -> None:
    run("register", NAME, "s3://bucket/model-1")
    run("promote", NAME, "1", "--to", "Staging", "--reason", "validated")
    moment = json.loads(run("history", NAME, "--json").stdout)[-1]["time"]
    run("audit", "checkpoint")
    proved = run("resolve", f"models:/{NAME}/Staging", "--as-of", moment, "--proof",
                 "--public-key", str(home / "checkpoint.key.pub"))
    assert proved.returncode == 0, proved.stderr
    assert "was v1" in proved.stdout and "proved:" in proved.stdout
    assert "model_created" in proved.stdout and "stage_changed" in proved.stdout
    stranger = run("resolve", f"models:/{NAME}/Staging", "--as-of", moment, "--proof",
                   "--public-key", "0" * 64, "--json")
    assert stranger.returncode == 7 and json.loads(stranger.stdout)["verified"] is False
