"""Proving a log or a past answer where the events came from: the database, or a server
that is not trusted (the remote client recomputes everything itself).

``domain.checkpoints`` and ``domain.proofs`` do the walking and the judging; this
module adds the one thing they cannot do, checking Ed25519 signatures, and turns
event records (as the feed serves them) back into the exact fields their hashes cover.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from charter.domain.checkpoints import (
    LogProof,
    Row,
    SignedCheckpoint,
    describe_failure,
    prove_log,
)
from charter.domain.events import NewEvent, format_time, hashed_fields
from charter.domain.proofs import AsOfProof, check_proof
from charter.domain.records import AuditReport, EventRecord
from charter.signing.keys import verify_checkpoint


def record_row(record: EventRecord) -> Row:
    """An event record as ``(hashed fields, prev_hash, hash)``: what its hash covers."""
    fields = hashed_fields(
        seq=record.seq, time=format_time(record.time), actor=record.actor,
        event=NewEvent(record.action, record.model, record.version, record.from_stage,
                       record.to_stage, record.reason, record.payload),
        correlation_id=record.correlation_id)
    return fields, record.prev_hash, record.hash


def prove_records(batches: Iterable[Iterable[EventRecord]], *,
                  given: Iterable[SignedCheckpoint] = (), trusted_keys: Collection[str]
                  ) -> LogProof:
    return prove_log(([record_row(r) for r in batch] for batch in batches), given=given,
                     trusted_keys=trusted_keys, signature_ok=verify_checkpoint)


def prove_answer(proof: AsOfProof, trusted_keys: Collection[str]) -> list[str]:
    """Why ``proof`` does not prove its answer (empty: it does), signature included."""
    return check_proof(proof, signature_ok=verify_checkpoint(proof.checkpoint),
                       trusted_keys=trusted_keys)


def trust_for(checkpoint: SignedCheckpoint | None, pinned: Collection[str]
              ) -> tuple[frozenset[str], str]:
    """The key ids to trust, and a warning when none was pinned and the checkpoint's own
    key is taken at its word (sound for a checkpoint saved when it was published, not for
    one fetched from the server being checked)."""
    if pinned:
        return frozenset(pinned), ""
    if checkpoint is None:
        return frozenset(), ""
    return frozenset({checkpoint.key_id}), (
        f"trusting the key the checkpoint names ({checkpoint.key_id[:16]}…): pass "
        "--public-key to pin the key you expect")


def audit_report(proof: LogProof, head_seq: int | None, head_hash: str | None,
                 warnings: list[str]) -> AuditReport:
    """The report of a walk; ``head_*`` None when the head is not known (a remote feed)."""
    verdicts = [v.to_dict() for v in proof.verdicts]
    proved = proof.last_proved()
    failure = describe_failure(proof)
    checked = proof.events_checked
    if proof.broken is not None and failure is not None:
        bad, problem, checked = failure[0], failure[1], failure[0] - 1
    elif head_seq is not None and (head_seq != checked or head_hash != proof.last_hash):
        bad = checked + 1 if head_seq > checked else head_seq + 1
        problem = "events recorded in the chain head are missing"
    elif failure is not None:
        bad, problem = failure
    else:
        return AuditReport(True, checked, checkpoints=verdicts, proved_through=proved,
                           warnings=warnings)
    return AuditReport(False, checked, bad, problem, checkpoints=verdicts,
                       proved_through=proved, warnings=warnings)
