"""Signed audit checkpoints on a real database (SQLite and PostgreSQL): signed every N
events, recorded in the chain, and the attack they exist for — an event rewritten
and every hash after it recomputed — caught; proofs of past answers."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from tests.provenance_kit import rewrite_events

from charter.domain import events
from charter.domain.checkpoints import parse_checkpoint
from charter.domain.errors import Conflict
from charter.service import RegistryService
from charter.signing.audit import prove_answer
from charter.signing.keys import create_key, verify_checkpoint
from charter.store.triggers import drop_append_only_triggers

NAME = "fraud_detector"
SOURCE = "s3://models-bucket/fraud/model.pkl"


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "checkpoint.key"
    create_key(path)
    return path


@pytest.fixture
def signed_registry(make_registry: Any, key_path: Path, tmp_path: Path) -> RegistryService:
    (tmp_path / "charter.toml").write_text(
        "[audit]\ncheckpoint_every_events = 3\ncheckpoint_every = \"10m\"\n")
    return make_registry(checkpoint_key=str(key_path))


def all_events(registry: RegistryService) -> list[dict[str, Any]]:
    with registry.db.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM events ORDER BY seq")).mappings()
        return [dict(row) for row in rows]


def busy(registry: RegistryService) -> None:
    for _ in range(3):
        registry.register(NAME, SOURCE)
    registry.transition(NAME, 1, "Staging", reason="validate")
    registry.transition(NAME, 1, "Production", reason="ship")
    registry.set_version_tag(NAME, 1, "owner", "payments")


def test_checkpoints_are_signed_every_n_events_and_sign_the_event_before_them(
        signed_registry: RegistryService) -> None:
    busy(signed_registry)
    log = all_events(signed_registry)
    marks = [e for e in log if e["action"] == events.CHECKPOINT_SIGNED]
    assert len(marks) >= 2
    for mark in marks:
        signed = parse_checkpoint(json.loads(mark["payload"]))
        before = log[mark["seq"] - 2]
        assert signed.checkpoint.seq == mark["seq"] - 1 == before["seq"]
        assert signed.checkpoint.hash == before["hash"] and verify_checkpoint(signed)
        assert mark["actor"] == "charter:checkpoint" and mark["model"] == ""
    assert signed_registry.latest_checkpoint() == parse_checkpoint(json.loads(
        marks[-1]["payload"]))
    assert [c.checkpoint.seq for c in signed_registry.checkpoints(after=marks[0]["seq"])] == [
        parse_checkpoint(json.loads(m["payload"])).checkpoint.seq for m in marks[1:]]
    report = signed_registry.verify_audit()
    assert report.ok and report.proved_through == marks[-1]["seq"] - 1
    assert all(v["ok"] for v in report.checkpoints) and len(report.checkpoints) == len(marks)


def test_without_a_key_no_checkpoint_is_signed(registry: RegistryService) -> None:
    busy(registry)
    assert not [e for e in all_events(registry) if e["action"] == events.CHECKPOINT_SIGNED]
    with pytest.raises(Conflict) as refused:
        registry.sign_checkpoint()
    assert refused.value.code == "checkpoint.no_key"
    assert registry.sign_due_checkpoint() is None


def test_a_quiet_registrys_last_events_are_signed_once_the_interval_passes(
        signed_registry: RegistryService, clock: Any) -> None:
    signed_registry.clock = clock
    signed_registry.register(NAME, SOURCE)            # #1 model, #2 version: first checkpoint
    signed_registry.set_version_tag(NAME, 1, "owner", "payments")   # #4: not yet due
    assert signed_registry.sign_due_checkpoint() is None
    clock.advance(minutes=11)
    signed = signed_registry.sign_due_checkpoint()
    assert signed is not None and signed.checkpoint.seq == 4
    assert signed_registry.sign_due_checkpoint() is None          # nothing new since


def test_an_admin_signs_the_head_now(signed_registry: RegistryService) -> None:
    signed_registry.register(NAME, SOURCE)
    signed_registry.set_version_tag(NAME, 1, "owner", "payments")
    signed = signed_registry.sign_checkpoint()
    assert signed.checkpoint.seq == len(all_events(signed_registry)) - 1
    again = signed_registry.sign_checkpoint()          # an unchanged head, signed later
    assert again.checkpoint.seq == signed.checkpoint.seq + 1 and verify_checkpoint(again)


# --- the attack ---------------------------------------------------------------------------


def rewrite(registry: RegistryService, seq: int, changes: dict[str, Any], *,
            drop_checkpoints: bool = False) -> None:
    rewrite_events(registry.db.engine, seq, changes, drop_checkpoints=drop_checkpoints)


def staging_move(registry: RegistryService) -> int:
    """The seq of v1's move to Staging: signed by the last checkpoint ``busy`` leaves."""
    return next(e["seq"] for e in all_events(registry) if e["to_stage"] == "Staging")


def test_a_rewritten_and_rehashed_chain_passes_the_hash_chain_but_not_its_checkpoints(
        signed_registry: RegistryService) -> None:
    busy(signed_registry)
    rewrite(signed_registry, staging_move(signed_registry),
            {"actor": "mallory", "reason": "approved by the board"})
    report = signed_registry.verify_audit()
    assert not report.ok
    assert "rewritten and the hashes after it recomputed" in report.problem
    assert report.first_bad_seq is not None
    assert report.first_bad_seq <= staging_move(signed_registry)


def test_a_rewrite_that_also_removes_the_checkpoints_is_caught_by_one_saved_elsewhere(
        signed_registry: RegistryService) -> None:
    busy(signed_registry)
    saved = parse_checkpoint(signed_registry.latest_checkpoint().to_dict())  # e.g. a webhook's
    rewrite(signed_registry, staging_move(signed_registry), {"reason": "approved"},
            drop_checkpoints=True)
    assert signed_registry.verify_audit().ok       # nothing left in the log objects
    report = signed_registry.verify_audit(checkpoint=saved)
    assert not report.ok and "rewritten" in report.problem
    unkeyed = signed_registry.verify_audit(checkpoint=saved, trusted_keys=["0" * 64])
    assert not unkeyed.ok and "not trusted" in unkeyed.problem


def test_a_log_cut_short_after_a_checkpoint_fails_it(signed_registry: RegistryService) -> None:
    busy(signed_registry)
    saved = signed_registry.latest_checkpoint()
    with signed_registry.db.engine.begin() as connection:
        drop_append_only_triggers(connection)
        connection.execute(text("DELETE FROM events WHERE seq >= :seq"),
                           {"seq": saved.checkpoint.seq})
        last = connection.execute(text("SELECT seq, hash, time FROM events ORDER BY seq DESC "
                                       "LIMIT 1")).one()
        connection.execute(text("UPDATE chain_head SET seq = :s, hash = :h, time = :t"),
                           {"s": last[0], "h": last[1], "t": last[2]})
    report = signed_registry.verify_audit(checkpoint=saved)
    assert not report.ok and "events were removed" in report.problem


# --- proofs of past answers -------------------------------------------------------------


def test_what_was_in_production_at_a_moment_is_proved_by_events_and_a_checkpoint(
        make_registry: Any, key_path: Path, tmp_path: Path, clock: Any) -> None:
    (tmp_path / "charter.toml").write_text("[audit]\ncheckpoint_every_events = 1000\n"
                                           "checkpoint_every = \"1h\"\n")
    signed_registry = make_registry(checkpoint_key=str(key_path))
    signed_registry.clock = clock
    busy(signed_registry)                                  # v1 in Production
    moment = clock.advance(minutes=1)
    clock.advance(minutes=1)
    signed_registry.transition(NAME, 2, "Staging", reason="next")
    signed_registry.transition(NAME, 2, "Production", reason="ship 2", archive_existing=True)
    with pytest.raises(Conflict) as early:
        signed_registry.prove_resolution(f"models:/{NAME}/Production", moment)
    assert early.value.code == "proof.not_yet"
    signed_registry.sign_checkpoint()
    proof = signed_registry.prove_resolution(f"models:/{NAME}/Production", moment)
    assert proof.version == 1 and proof.events[0].fields["action"] == events.MODEL_CREATED
    key_id = signed_registry.latest_checkpoint().key_id
    assert prove_answer(proof, {key_id}) == []
    clock.advance(minutes=1)
    signed_registry.set_version_tag(NAME, 2, "owner", "payments")
    signed_registry.sign_checkpoint()
    now = signed_registry.prove_resolution(f"models:/{NAME}/Production",
                                           clock.now - timedelta(seconds=1))
    assert now.version == 2 and prove_answer(now, {key_id}) == []
    nothing = signed_registry.prove_resolution(f"models:/{NAME}/Production",
                                               clock.now - timedelta(days=1))
    assert nothing.version is None and prove_answer(nothing, {key_id}) == []
