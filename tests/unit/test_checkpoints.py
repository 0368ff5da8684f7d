"""Signed checkpoints and proofs over the audit chain, pure: the chains are built here
with the same hashing the store uses, and a signature's validity is passed in."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from charter.domain import events
from charter.domain.checkpoints import (
    ChainWalk,
    Checkpoint,
    CheckpointSchedule,
    SignedCheckpoint,
    checkpoint_due,
    judge_checkpoint,
    judge_embedded,
    parse_checkpoint,
)
from charter.domain.errors import InvalidInput
from charter.domain.events import GENESIS_HASH, NewEvent, chain_hash, format_time, hashed_fields
from charter.domain.proofs import AsOfProof, ProofEvent, check_proof, parse_proof

KEY = "1" * 64
START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def build(new_events: list[NewEvent], start: int = 1, prev: str = GENESIS_HASH,
          minutes: int = 0) -> list[tuple[dict[str, Any], str, str]]:
    """Rows as the store keeps them: (hashed fields, prev_hash, hash), one minute apart."""
    rows = []
    for offset, event in enumerate(new_events):
        seq = start + offset
        fields = hashed_fields(seq=seq, time=format_time(START + timedelta(minutes=minutes + seq)),
                               actor="alice", event=event, correlation_id=f"c{seq}")
        digest = chain_hash(prev, fields)
        rows.append((fields, prev, digest))
        prev = digest
    return rows


def rehash(rows: list[tuple[dict[str, Any], str, str]]) -> list[tuple[dict[str, Any], str, str]]:
    """What someone with write access does after editing: recompute every hash."""
    prev, out = GENESIS_HASH, []
    for fields, _, _ in rows:
        digest = chain_hash(prev, fields)
        out.append((fields, prev, digest))
        prev = digest
    return out


def signed(rows: list[tuple[dict[str, Any], str, str]], seq: int, *,
           minutes_after: int = 0, key: str = KEY) -> SignedCheckpoint:
    fields, _, digest = rows[seq - 1]
    time = events.parse_time(fields["time"]) + timedelta(minutes=minutes_after)
    return SignedCheckpoint(Checkpoint(seq, digest, format_time(time)), key,
                            base64.b64encode(b"p" * 32).decode(),
                            base64.b64encode(b"s" * 64).decode())


MOVES = [NewEvent(events.MODEL_CREATED, "fraud_detector"),
         NewEvent(events.VERSION_REGISTERED, "fraud_detector", 1, to_stage="None"),
         NewEvent(events.TAG_SET, "other_model", payload={"key": "k"}),
         NewEvent(events.STAGE_CHANGED, "fraud_detector", 1, "None", "Staging", "validate"),
         NewEvent(events.STAGE_CHANGED, "fraud_detector", 1, "Staging", "Production", "ship"),
         NewEvent(events.VERSION_REGISTERED, "fraud_detector", 2, to_stage="None"),
         NewEvent(events.STAGE_CHANGED, "fraud_detector", 2, "None", "Staging", "validate"),
         NewEvent(events.STAGE_CHANGED, "fraud_detector", 1, "Production", "Archived", "old"),
         NewEvent(events.STAGE_CHANGED, "fraud_detector", 2, "Staging", "Production", "ship 2")]


def walk(rows: list[tuple[dict[str, Any], str, str]], *wanted: int) -> ChainWalk:
    chain = ChainWalk(frozenset(wanted))
    chain.feed(rows[:4])
    chain.feed(rows[4:])          # batch by batch, as the service reads it
    return chain


def verdict(rows: list[tuple[dict[str, Any], str, str]], point: SignedCheckpoint,
            signature_ok: bool = True) -> str:
    chain = walk(rows, point.checkpoint.seq)
    judged = judge_checkpoint(point, signature_ok=signature_ok, trusted_keys={KEY},
                              log_length=chain.length,
                              recomputed=chain.hashes.get(point.checkpoint.seq))
    return "ok" if judged.ok else judged.problem


# --- the signed bytes and the published form ---------------------------------------------


def test_the_signed_body_is_four_fixed_lines() -> None:
    point = Checkpoint(42, "ab" * 32, "2025-03-01T10:00:00.000000Z")
    assert point.body() == (b"charter-audit-checkpoint/v1\nseq 42\nhash " + b"ab" * 32
                            + b"\ntime 2025-03-01T10:00:00.000000Z\n")


def test_a_published_checkpoint_parses_back_to_itself() -> None:
    point = signed(build(MOVES), 5)
    assert parse_checkpoint(point.to_dict()) == point


@pytest.mark.parametrize(("change", "value"), [
    ("format", "charter-audit-checkpoint/v2"), ("seq", 0), ("seq", True), ("seq", "5"),
    ("hash", "AB" * 32), ("hash", "ab"), ("time", "2025-03-01 10:00"), ("key_id", "x"),
    ("public_key", base64.b64encode(b"p" * 31).decode()), ("signature", "***"),
])
def test_malformed_checkpoints_are_refused(change: str, value: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_checkpoint({**signed(build(MOVES), 5).to_dict(), change: value})
    assert refused.value.code == "checkpoint.invalid"


# --- when to sign -----------------------------------------------------------------------

SCHEDULE = CheckpointSchedule(every_events=100, every=timedelta(minutes=10))
LAST = Checkpoint(200, "0" * 64, format_time(START))


@pytest.mark.parametrize(("last", "head", "minutes", "due"), [
    (None, 0, 0, False),            # an empty log has nothing to sign
    (None, 1, 0, True),             # the first checkpoint is signed at once
    (LAST, 201, 60, False),         # only the last checkpoint's own event since
    (LAST, 202, 5, False),          # one new event, too soon
    (LAST, 202, 10, True),          # one new event, and the interval passed
    (LAST, 300, 1, False),          # 99 new events
    (LAST, 301, 1, True),           # 100 new events
])
def test_checkpoints_are_due_every_n_events_or_minutes(last: Checkpoint | None, head: int,
                                                      minutes: int, due: bool) -> None:
    now = START + timedelta(minutes=minutes)
    assert checkpoint_due(SCHEDULE, last, head, now) is due


# --- proving a log against a checkpoint ---------------------------------------------------


def test_an_untouched_log_matches_its_checkpoint() -> None:
    rows = build(MOVES)
    assert verdict(rows, signed(rows, 9)) == "ok"
    assert verdict(rows, signed(rows, 4)) == "ok"


def test_an_edited_event_breaks_the_chain_itself() -> None:
    rows = build(MOVES)
    rows[3] = ({**rows[3][0], "reason": "nobody asked"}, rows[3][1], rows[3][2])
    chain = walk(rows, 9)
    assert chain.broken is not None and chain.broken.seq == 4


def test_a_rewritten_chain_whose_hashes_were_all_recomputed_is_caught_by_the_checkpoint() -> None:
    rows = build(MOVES)
    point = signed(rows, 9)
    forged = list(rows)
    forged[4] = ({**rows[4][0], "actor": "mallory", "reason": "approved by the board"},
                 rows[4][1], rows[4][2])
    forged = rehash(forged)
    chain = walk(forged, 9)
    assert chain.broken is None                       # the hash chain alone passes
    problem = verdict(forged, point)
    assert "rewritten" in problem and "#9" in problem


def test_a_rewrite_after_the_checkpoint_is_not_claimed_by_it() -> None:
    rows = build(MOVES)
    point = signed(rows, 5)
    forged = list(rows)
    forged[7] = ({**rows[7][0], "reason": "changed later"}, rows[7][1], rows[7][2])
    assert verdict(rehash(forged), point) == "ok"


def test_a_log_shorter_than_the_checkpoint_lost_events() -> None:
    rows = build(MOVES)
    assert "events were removed" in verdict(rows[:6], signed(rows, 9))


def test_a_checkpoint_by_an_untrusted_key_or_with_a_bad_signature_proves_nothing() -> None:
    rows = build(MOVES)
    assert "not trusted" in verdict(rows, signed(rows, 9, key="2" * 64))
    assert "does not verify" in verdict(rows, signed(rows, 9), signature_ok=False)


def test_checkpoints_recorded_in_the_chain_are_found_and_judged() -> None:
    rows = build(MOVES[:5])
    point = signed(rows, 5)
    rows += build([NewEvent(events.CHECKPOINT_SIGNED, "", payload=point.to_dict())], 6,
                  rows[-1][2])
    chain = walk(rows)
    [(found, seq, prev)] = chain.embedded
    assert (found, seq) == (point, 6)
    assert judge_embedded(found, seq, prev, signature_ok=True, trusted_keys={KEY}).ok
    forged = rehash([rows[0], ({**rows[1][0], "reason": "x"}, "", ""), *rows[2:]])
    [(found, seq, prev)] = walk(forged).embedded
    judged = judge_embedded(found, seq, prev, signature_ok=True, trusted_keys={KEY})
    assert not judged.ok and "rewritten" in judged.problem


def test_an_embedded_checkpoint_must_sign_the_event_before_it() -> None:
    rows = build(MOVES[:5])
    judged = judge_embedded(signed(rows, 3), 6, rows[-1][2], signature_ok=True,
                            trusted_keys={KEY})
    assert not judged.ok and "not the event before it" in judged.problem


# --- proving a past answer ----------------------------------------------------------------


def proof(rows: list[tuple[dict[str, Any], str, str]], as_of_seq: int, version: int | None,
          checkpoint_seq: int = 9, first: int = 1, **changes: Any) -> AsOfProof:
    as_of = rows[as_of_seq - 1][0]["time"]
    built = AsOfProof("models:/fraud_detector/Production", as_of, version, ("fraud_detector",),
                      tuple(ProofEvent(f, p, h) for f, p, h in rows[first - 1:checkpoint_seq]),
                      signed(rows, checkpoint_seq))
    return dataclasses.replace(built, **changes)


def test_a_proof_of_a_past_answer_checks_out_and_survives_its_json_form() -> None:
    rows = build(MOVES)
    good = proof(rows, 6, 1)                        # after v1's promotion, before v2's
    assert check_proof(good, signature_ok=True, trusted_keys={KEY}) == []
    assert parse_proof(good.to_dict()) == good
    assert check_proof(proof(rows, 3, None), signature_ok=True, trusted_keys={KEY}) == []
    assert [e["seq"] for e in good.model_events()] == [1, 2, 4, 5, 6]


@pytest.mark.parametrize(("case", "problem"), [
    ("wrong answer", "answers v1, not v2"),
    ("edited event", "does not hash to the chain"),
    ("dropped event", "does not follow"),
    ("rehashed rewrite", "rewritten"),
    ("checkpoint too early", "could still be missing"),
    ("not from creation", "do not start at the model's creation"),
    ("other model", "do not include"),
    ("bad signature", "does not verify"),
])
def test_a_proof_that_does_not_prove_says_why(case: str, problem: str) -> None:
    rows = build(MOVES)
    subject = proof(rows, 6, 1)
    signature_ok = True
    if case == "wrong answer":
        subject = proof(rows, 6, 2)
    elif case == "edited event":
        events_ = list(subject.events)
        events_[3] = dataclasses.replace(events_[3], fields={**events_[3].fields, "reason": "x"})
        subject = dataclasses.replace(subject, events=tuple(events_))
    elif case == "dropped event":
        subject = dataclasses.replace(subject, events=subject.events[:2] + subject.events[3:])
    elif case == "rehashed rewrite":
        forged = rehash([*rows[:4], ({**rows[4][0], "to_stage": "Archived"}, "", ""), *rows[5:]])
        subject = dataclasses.replace(proof(forged, 6, None), checkpoint=subject.checkpoint)
    elif case == "checkpoint too early":
        subject = proof(rows, 6, 1, checkpoint_seq=5)
    elif case == "not from creation":
        subject = proof(rows, 6, 1, first=2)
    elif case == "other model":
        subject = dataclasses.replace(subject, model_keys=("other_model",))
    else:
        signature_ok = False
    problems = check_proof(subject, signature_ok=signature_ok, trusted_keys={KEY})
    assert len(problems) == 1 and problem in problems[0], problems


# --- a whole log: its own checkpoints and the ones saved elsewhere ------------------------


def with_checkpoints(rows: list[tuple[dict[str, Any], str, str]], every: int
                     ) -> list[tuple[dict[str, Any], str, str]]:
    """The log as the server writes it: a checkpoint event after every ``every`` events."""
    out: list[tuple[dict[str, Any], str, str]] = []
    for fields, _, _ in rows:
        out = out + build([_event(fields)], len(out) + 1, out[-1][2] if out else GENESIS_HASH)
        if len(out) % (every + 1) == every:
            out = out + build([NewEvent(events.CHECKPOINT_SIGNED, "",
                                        payload=signed(out, len(out)).to_dict())],
                              len(out) + 1, out[-1][2])
    return out


def _event(fields: dict[str, Any]) -> NewEvent:
    return NewEvent(fields["action"], fields["model"], fields["version"], fields["from_stage"],
                    fields["to_stage"], fields["reason"], fields["payload"])


def prove(rows: list[tuple[dict[str, Any], str, str]], given: tuple[SignedCheckpoint, ...] = (),
          keys: frozenset[str] = frozenset({KEY})) -> tuple[bool, tuple[int, str] | None]:
    from charter.domain.checkpoints import describe_failure, prove_log

    proved = prove_log([rows[:5], rows[5:]], given=given, trusted_keys=keys,
                       signature_ok=lambda _: True)
    return proved.ok, describe_failure(proved)


def test_a_log_with_its_checkpoints_proves_itself() -> None:
    rows = with_checkpoints(build(MOVES), every=3)
    assert [r[0]["seq"] for r in rows if r[0]["action"] == events.CHECKPOINT_SIGNED] == [4, 8, 12]
    assert prove(rows) == (True, None)


def test_a_rehashed_rewrite_is_located_between_two_checkpoints() -> None:
    rows = with_checkpoints(build(MOVES), every=3)
    forged = list(rows)
    forged[5] = ({**rows[5][0], "reason": "rewritten"}, "", "")    # event #6
    ok, failure = prove(rehash(forged))
    assert not ok and failure is not None
    assert failure[0] == 4 and "between #4 and #7" in failure[1]


def test_removing_the_checkpoints_from_the_log_is_caught_by_one_saved_elsewhere() -> None:
    rows = with_checkpoints(build(MOVES), every=3)
    saved = signed(rows, 7)                                         # e.g. a webhook receiver's
    forged = [r for r in rows if r[0]["action"] != events.CHECKPOINT_SIGNED]
    forged = [({**f, "seq": i + 1}, "", "") for i, (f, _, _) in enumerate(forged)]
    forged[2] = ({**forged[2][0], "actor": "mallory"}, "", "")
    forged = rehash(forged)
    assert prove(forged) == (True, None)                            # nothing left to object
    ok, failure = prove(forged, (saved,))
    assert not ok and failure is not None and "rewritten" in failure[1]


def test_without_a_trusted_key_the_logs_own_checkpoints_prove_nothing() -> None:
    rows = with_checkpoints(build(MOVES), every=3)
    from charter.domain.checkpoints import prove_log

    proved = prove_log([rows], trusted_keys=frozenset(), signature_ok=lambda _: True)
    assert proved.ok and proved.verdicts == () and proved.last_proved() == 0


def test_the_checkpoint_schedule_is_read_from_the_audit_section() -> None:
    from charter.domain.checkpoints import parse_checkpoint_schedule

    assert parse_checkpoint_schedule({}) == CheckpointSchedule()
    assert parse_checkpoint_schedule({"audit": {
        "checkpoint_key": "/etc/charter/checkpoint.key", "checkpoint_every_events": 50,
        "checkpoint_every": "90s"}}) == CheckpointSchedule(50, timedelta(seconds=90))


@pytest.mark.parametrize("section", [
    {"checkpoint_every_events": 0}, {"checkpoint_every_events": True},
    {"checkpoint_every": "soon"}, {"checkpoint_every": "0s"}, {"every": 5},
])
def test_a_bad_audit_section_is_refused(section: dict[str, object]) -> None:
    from charter.domain.checkpoints import parse_checkpoint_schedule

    with pytest.raises(InvalidInput) as refused:
        parse_checkpoint_schedule({"audit": section})
    assert refused.value.code == "config.invalid"
