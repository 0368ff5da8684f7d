"""Audit events and their hash chain.

``hash = sha256(prev_hash || canonical_json(event))``. The canonical form is
JSON with sorted keys and no spaces, so any later change to a stored field —
the reason, the actor, the time — changes the hash and breaks the chain at
exactly that event.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

GENESIS_HASH = "0" * 64
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

# Past-tense action names: the audit vocabulary.
MODEL_CREATED = "model_created"
MODEL_RENAMED = "model_renamed"
MODEL_UPDATED = "model_updated"
MODEL_DELETED = "model_deleted"
VERSION_REGISTERED = "version_registered"
VERSION_UPDATED = "version_updated"
VERSION_DELETED = "version_deleted"
STAGE_CHANGED = "stage_changed"
ROLLED_BACK = "rolled_back"
TAG_SET = "tag_set"
TAG_DELETED = "tag_deleted"
ALIAS_SET = "alias_set"
ALIAS_DELETED = "alias_deleted"
# Access control (docs/access.md); registry-wide ones have no model (model "").
USER_CREATED = "user_created"
TOKEN_CREATED = "token_created"
TOKEN_REVOKED = "token_revoked"
ACCESS_GRANTED = "access_granted"
ACCESS_REVOKED = "access_revoked"
VERSION_IMPORTED = "version_imported"  # placed straight into its stage by an import
REDIRECT_ADDED = "redirect_added"
GATES_OVERRIDDEN = "gates_overridden"
APPROVAL_REQUESTED = "approval_requested"
APPROVAL_GRANTED = "approval_granted"
APPROVAL_REJECTED = "approval_rejected"
VERSION_PURGED = "version_purged"
WEBHOOK_CREATED = "webhook_created"  # registry-wide (model "")
WEBHOOK_DELETED = "webhook_deleted"
# Provenance (docs/provenance.md).
VERSION_SIGNED = "version_signed"          # a signature attached to a registered version
SIGNERS_CHANGED = "signers_changed"        # a name's allowed signers pinned or edited
HOLD_RELEASED = "hold_released"            # an owner admitted a held version's signer
HOLD_REJECTED = "hold_rejected"            # an owner refused it; the version stays unusable
ATTESTATION_ADDED = "attestation_added"
CHECKPOINT_SIGNED = "checkpoint_signed"    # registry-wide (model ""): the chain head, signed
# The interface (docs/contracts.md).
INTERFACE_SET = "interface_set"            # declared after registration (a tag, or explicitly)
INTERFACE_BREAK_ACCEPTED = "interface_break_accepted"  # an owner moved a breaking version
# Consumers (docs/contracts.md): every live consumer of a stage serves its current version.
CONSUMERS_CONVERGED = "consumers_converged"
SERVED_VERSION_FORCED = "served_version_forced"  # an owner archived/deleted a served version


@dataclass(frozen=True)
class NewEvent:
    """An event before it has a place in the chain."""

    action: str
    model: str
    version: int | None = None
    from_stage: str | None = None
    to_stage: str | None = None
    reason: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


def format_time(moment: datetime) -> str:
    """UTC, microseconds, fixed width: sorts as text the way time sorts."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def canonical_json(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def hashed_fields(
    *, seq: int, time: str, actor: str, event: NewEvent, correlation_id: str
) -> dict[str, Any]:
    """Every field the hash covers, in the form it is stored."""
    return {
        "seq": seq,
        "time": time,
        "actor": actor,
        "action": event.action,
        "model": event.model,
        "version": event.version,
        "from_stage": event.from_stage,
        "to_stage": event.to_stage,
        "reason": event.reason,
        "correlation_id": correlation_id,
        "payload": event.payload,
    }


def chain_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(canonical_json(fields).encode("utf-8"))
    return digest.hexdigest()


# An event as the events table stores it, in this column order: seq, time, actor, action,
# model, version, from_stage, to_stage, reason, correlation_id, payload (its canonical
# JSON text), prev_hash, hash. The audit walk reads these straight from a cursor.
StoredRow = tuple[int, str, str, str, str, int | None, str | None, str | None, str, str, str,
                  str, str]


def stored_fields(row: StoredRow) -> dict[str, Any]:
    """Every field the hash of a stored event covers, its payload parsed."""
    (seq, time, actor, action, model, version, from_stage, to_stage, reason, correlation_id,
     payload) = row[:11]
    return hashed_fields(seq=seq, time=time, actor=actor, correlation_id=correlation_id,
                         event=NewEvent(action, model, version, from_stage, to_stage, reason,
                                        json.loads(payload)))


def _text(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def _stored_canonical(row: StoredRow) -> str:
    """``canonical_json(stored_fields(row))`` without parsing and re-encoding the payload:
    its stored text is spliced in as it is (the keys in sorted order, by hand)."""
    (seq, time, actor, action, model, version, from_stage, to_stage, reason, correlation_id,
     payload) = row[:11]
    return "".join((
        '{"action":', _text(action), ',"actor":', _text(actor), ',"correlation_id":',
        _text(correlation_id), ',"from_stage":', _text(from_stage), ',"model":', _text(model),
        ',"payload":', payload, ',"reason":', _text(reason), ',"seq":', str(int(seq)),
        ',"time":', _text(time), ',"to_stage":', _text(to_stage), ',"version":',
        "null" if version is None else str(int(version)), "}"))


def stored_hash_matches(prev_hash: str, row: StoredRow) -> bool:
    """Whether a stored event hashes, after ``prev_hash``, to its stored hash.

    The fast path hashes the stored text with the payload spliced in. A match there means
    the text hashed at write time is exactly this one (sha256), so the slow path — parse
    and re-encode every field — would match too. On a mismatch (or an odd stored value)
    the slow path decides, so both paths always give the same verdict.
    """
    try:
        digest = hashlib.sha256((prev_hash + _stored_canonical(row)).encode("utf-8"))
        if digest.hexdigest() == row[12]:
            return True
    except (TypeError, ValueError):
        pass
    try:
        return chain_hash(prev_hash, stored_fields(row)) == row[12]
    except (TypeError, ValueError):  # a payload that is not JSON any more
        return False


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    problem: str


def first_break(rows: list[tuple[dict[str, Any], str, str]], prev_hash: str,
                expected_seq: int) -> tuple[ChainBreak | None, str, int]:
    """Check a batch of ``(fields, prev_hash, hash)`` rows in sequence order.

    Returns the first break (or None) and the running hash and next expected
    sequence number, so a long chain can be verified batch by batch.
    """
    for fields, stored_prev, stored_hash in rows:
        seq = fields["seq"]
        if seq != expected_seq:
            return ChainBreak(expected_seq, f"event {expected_seq} is missing"), prev_hash, seq
        if stored_prev != prev_hash:
            return ChainBreak(seq, "its prev_hash does not match the event before it"), \
                prev_hash, seq
        if chain_hash(prev_hash, fields) != stored_hash:
            return ChainBreak(seq, "its content does not match its hash"), prev_hash, seq
        prev_hash, expected_seq = stored_hash, seq + 1
    return None, prev_hash, expected_seq
