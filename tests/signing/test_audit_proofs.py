"""Logs and past answers proved with real Ed25519 checkpoints, from event records as the
event feed serves them (what the remote client checks without trusting the server)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

from charter.domain import events
from charter.domain.checkpoints import Checkpoint
from charter.domain.events import GENESIS_HASH, NewEvent, chain_hash, format_time, hashed_fields
from charter.domain.proofs import AsOfProof, ProofEvent
from charter.domain.records import EventRecord
from charter.signing.audit import prove_answer, prove_records, record_row, trust_for
from charter.signing.keys import CheckpointKey, create_key

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
MOVES = [NewEvent(events.MODEL_CREATED, "fraud_detector"),
         NewEvent(events.VERSION_REGISTERED, "fraud_detector", 1, to_stage="None",
                  payload={"digest": "d" * 64, "files": 2, "weight": 0.1}),
         NewEvent(events.STAGE_CHANGED, "fraud_detector", 1, "None", "Staging", "validate"),
         NewEvent(events.STAGE_CHANGED, "fraud_detector", 1, "Staging", "Production", "ship"),
         NewEvent(events.TAG_SET, "fraud_detector", 1, payload={"key": "k", "value": "v"})]


def feed(key: CheckpointKey, moves: list[NewEvent], checkpoint_after: set[int]
         ) -> list[EventRecord]:
    """Event records as the server writes them, a checkpoint event after the given seqs."""
    records: list[EventRecord] = []
    prev = GENESIS_HASH
    for event in moves:
        pending = [event]
        while pending:
            current = pending.pop(0)
            seq = len(records) + 1
            moment = START + timedelta(minutes=seq)
            fields = hashed_fields(seq=seq, time=format_time(moment), actor="alice",
                                   event=current, correlation_id=f"c{seq}")
            digest = chain_hash(prev, fields)
            records.append(EventRecord(seq, moment, "alice", current.action, current.model,
                                       current.version, current.from_stage, current.to_stage,
                                       current.reason, f"c{seq}", current.payload, prev, digest))
            prev = digest
            if seq in checkpoint_after:
                signed = key.sign(Checkpoint(seq, digest, format_time(moment)))
                pending.append(NewEvent(events.CHECKPOINT_SIGNED, "", payload=signed.to_dict()))
    return records


def test_a_record_hashes_back_to_its_stored_hash() -> None:
    for fields, prev, digest in map(record_row, feed(create_key_in(), MOVES, set())):
        assert chain_hash(prev, fields) == digest


def create_key_in() -> CheckpointKey:
    import tempfile

    return create_key(Path(tempfile.mkdtemp()) / "k")


def test_the_feed_proves_itself_with_the_trusted_key_and_not_with_another() -> None:
    key = create_key_in()
    records = feed(key, MOVES, {2, 4})
    proved = prove_records([records[:3], records[3:]], trusted_keys={key.key_id})
    assert proved.ok and proved.last_proved() == 4      # moves #1 #2 (cp #3) #4 (cp #5) #6 #7
    stranger = prove_records([records], trusted_keys={create_key_in().key_id})
    assert not stranger.ok and "not trusted" in stranger.verdicts[0].problem


def test_a_feed_rewritten_and_rehashed_by_someone_without_the_key_fails() -> None:
    key = create_key_in()
    honest = feed(key, MOVES, {2, 4})
    saved = honest[4].payload                             # event #5: the checkpoint of #4
    forged_moves = [*MOVES[:2], dataclasses.replace(MOVES[2], reason="board approved"),
                    *MOVES[3:]]                           # the move recorded as #4
    mallory = create_key_in()                             # signs with her own key
    forged = feed(mallory, forged_moves, {2, 4})
    from charter.domain.checkpoints import parse_checkpoint

    proved = prove_records([forged], given=[parse_checkpoint(saved)],
                           trusted_keys={key.key_id})
    assert not proved.ok
    problems = [v.problem for v in proved.verdicts if not v.ok]
    assert any("rewritten" in p for p in problems)        # the saved checkpoint objects
    assert any("not trusted" in p for p in problems)      # and hers are not trusted


def test_a_past_answer_is_proved_with_a_real_signature_and_a_forged_one_is_not() -> None:
    key = create_key_in()
    records = feed(key, MOVES, {5})                        # checkpoint of #5 as event #6
    rows = [record_row(r) for r in records[:5]]
    from charter.domain.checkpoints import parse_checkpoint

    checkpoint = parse_checkpoint(records[5].payload)
    proof = AsOfProof("models:/fraud_detector/Production", format_time(START + timedelta(
        minutes=4)), 1, ("fraud_detector",), tuple(ProofEvent(*row) for row in rows), checkpoint)
    assert prove_answer(proof, {key.key_id}) == []
    forged = dataclasses.replace(checkpoint, signature=create_key_in().sign(
        checkpoint.checkpoint).signature)
    assert "does not verify" in prove_answer(dataclasses.replace(proof, checkpoint=forged),
                                             {key.key_id})[0]


def test_trust_is_the_pinned_key_else_the_checkpoints_own_with_a_warning() -> None:
    key = create_key_in()
    signed = key.sign(Checkpoint(1, "a" * 64, format_time(START)))
    assert trust_for(signed, {"b" * 64}) == (frozenset({"b" * 64}), "")
    trusted, warning = trust_for(signed, set())
    assert trusted == {key.key_id} and "--public-key" in warning
