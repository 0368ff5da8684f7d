"""Signed audit checkpoints: the chain head (seq, hash, time), signed with a key kept
outside the database, and the proof that a log is the one that was signed.

The hash chain alone catches an edited event, but not someone who edits an event
and recomputes every hash after it. A checkpoint fixes the hash at one sequence
number under a signature such a person cannot make. Walking the log from the
first event and recomputing each hash *from the content* must arrive at exactly
the signed hash at the signed seq; any rewrite at or before it changes that hash.

The signed bytes are four lines of text (``body``); the server records each
checkpoint as a ``checkpoint_signed`` event right after the head it signs, so the
event feed and webhooks carry it, and the next checkpoint covers it. Signing and
checking a signature need a key and are done outside the domain: here are the
bytes, the schedule and the judgements. Pure.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput
from charter.domain.events import (
    CHECKPOINT_SIGNED,
    GENESIS_HASH,
    ChainBreak,
    StoredRow,
    chain_hash,
    parse_time,
    stored_hash_matches,
)
from charter.domain.gates import parse_duration

FORMAT = "charter-audit-checkpoint/v1"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")

Row = tuple[dict[str, Any], str, str]     # (hashed fields, prev_hash, hash), as first_break


@dataclass(frozen=True)
class Checkpoint:
    seq: int        # the last event covered
    hash: str       # its hash: the chain head
    time: str       # when it was signed (events.format_time); later events are not older

    def body(self) -> bytes:
        """The exact bytes a checkpoint key signs."""
        return f"{FORMAT}\nseq {self.seq}\nhash {self.hash}\ntime {self.time}\n".encode()


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    key_id: str         # sha256 (hex) of the raw Ed25519 public key
    public_key: str     # base64 of the raw 32-byte public key
    signature: str      # base64 of the 64-byte Ed25519 signature over ``checkpoint.body()``

    def to_dict(self) -> dict[str, Any]:
        point = self.checkpoint
        return {"format": FORMAT, "seq": point.seq, "hash": point.hash, "time": point.time,
                "key_id": self.key_id, "public_key": self.public_key,
                "signature": self.signature}


def parse_checkpoint(data: object) -> SignedCheckpoint:
    """A checkpoint as published (REST, the event feed, a webhook, a saved file)."""
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise _invalid(f"it is not a {FORMAT} document")
    seq, digest, time = data.get("seq"), data.get("hash"), data.get("time")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq < 2**63:
        raise _invalid(f"seq {str(seq)[:40]!r} is not an event number")
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        raise _invalid("hash is not 64 lowercase hex digits")
    if not isinstance(time, str) or not _TIME.fullmatch(time):
        raise _invalid("time is not a UTC time like 2025-03-01T10:00:00.000000Z")
    key_id, public_key, signature = (data.get("key_id"), data.get("public_key"),
                                     data.get("signature"))
    if not isinstance(key_id, str) or not _HEX64.fullmatch(key_id):
        raise _invalid("key_id is not 64 lowercase hex digits")
    if len(_b64(public_key, "public_key")) != 32 or len(_b64(signature, "signature")) != 64:
        raise _invalid("public_key must be 32 bytes and signature 64 bytes (Ed25519), base64")
    assert isinstance(public_key, str) and isinstance(signature, str)
    return SignedCheckpoint(Checkpoint(seq, digest, time), key_id, public_key, signature)


def find_checkpoint(data: object) -> SignedCheckpoint:
    """A checkpoint as someone saved it: the checkpoint itself, a ``checkpoint_signed``
    event (its payload), or a webhook delivery of one (its event)."""
    for wrapper in ("event", "payload"):
        if isinstance(data, Mapping) and "format" not in data and wrapper in data:
            data = data[wrapper]
    return parse_checkpoint(data)


def _b64(value: object, what: str) -> bytes:
    try:
        return base64.b64decode(value if isinstance(value, str) else "", validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(f"{what} is not base64") from None


def _invalid(why: str) -> InvalidInput:
    return InvalidInput(codes.CHECKPOINT_INVALID, f"The checkpoint is malformed: {why}",
                        "pass a checkpoint as the server published it: GET "
                        "/api/v1/checkpoints/latest, or a checkpoint_signed event's payload")


# --- when to sign ---------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointSchedule:
    every_events: int = 1000
    every: timedelta = timedelta(minutes=10)


AUDIT_KEYS = ("checkpoint_key", "checkpoint_every_events", "checkpoint_every")


def parse_checkpoint_schedule(config: Mapping[str, Any]) -> CheckpointSchedule:
    """``[audit] checkpoint_every_events`` and ``checkpoint_every`` (the key's path is a
    setting of its own: ``Settings.checkpoint_key``)."""
    section = config.get("audit", {})
    if not isinstance(section, Mapping) or set(section) - set(AUDIT_KEYS):
        raise InvalidInput(codes.CONFIG_INVALID, "[audit] has checkpoint_key, "
                           "checkpoint_every_events and checkpoint_every",
                           'e.g. checkpoint_every_events = 1000, checkpoint_every = "10m"')
    count = section.get("checkpoint_every_events", CheckpointSchedule.every_events)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 1_000_000:
        raise InvalidInput(codes.CONFIG_INVALID, f"[audit] checkpoint_every_events = {count!r} is "
                           "not a whole number 1..1000000", "e.g. checkpoint_every_events = 1000")
    every = parse_duration(section.get("checkpoint_every", "10m"),
                           where="[audit] checkpoint_every")
    if every < timedelta(seconds=1):
        raise InvalidInput(codes.CONFIG_INVALID, "[audit] checkpoint_every is under a second",
                           'e.g. checkpoint_every = "10m"')
    return CheckpointSchedule(count, every)


def checkpoint_due(schedule: CheckpointSchedule, last: Checkpoint | None, head_seq: int,
                   now: datetime) -> bool:
    """Whether the head at ``head_seq`` should be signed now.

    ``last`` is the newest checkpoint; its own event is ``last.seq + 1``, so a head
    that has moved only by that event has nothing new to sign.
    """
    if head_seq <= 0:
        return False
    if last is None:
        return True
    new = head_seq - (last.seq + 1)
    if new <= 0:
        return False
    return new >= schedule.every_events or now - parse_time(last.time) >= schedule.every


# --- walking the log ------------------------------------------------------------------


@dataclass
class ChainWalk:
    """Recompute the chain from its content, batch by batch, remembering the hash at the
    sequence numbers asked for and every checkpoint recorded in the chain itself."""

    wanted: frozenset[int] = frozenset()
    prev_hash: str = GENESIS_HASH
    expected: int = 1
    broken: ChainBreak | None = None
    hashes: dict[int, str] = field(default_factory=dict)
    embedded: list[tuple[SignedCheckpoint | None, int, str]] = field(default_factory=list)

    def feed(self, rows: Iterable[Row]) -> bool:
        """Walk on; False once the chain is broken (the rest is not looked at)."""
        for fields, stored_prev, stored_hash in rows:
            if self.broken is not None:
                return False
            self._step(fields, stored_prev, stored_hash)
        return self.broken is None

    def feed_stored(self, rows: Iterable[StoredRow]) -> bool:
        """``feed`` for rows as the events table stores them (the fast path of a walk
        over the database: a payload is parsed only when its hash needs it)."""
        for row in rows:
            if self.broken is not None:
                return False
            seq, stored_prev, stored_hash = row[0], row[11], row[12]
            if self._linked(seq, stored_prev):
                if not stored_hash_matches(self.prev_hash, row):
                    self.broken = ChainBreak(seq, "its content does not match its hash")
                else:
                    if row[3] == CHECKPOINT_SIGNED:
                        self._embed(seq, _payload(row[10]))
                    self._accept(seq, stored_hash)
        return self.broken is None

    def _step(self, fields: dict[str, Any], stored_prev: str, stored_hash: str) -> None:
        seq = fields["seq"]
        if not self._linked(seq, stored_prev):
            return
        if chain_hash(self.prev_hash, fields) != stored_hash:
            self.broken = ChainBreak(seq, "its content does not match its hash")
        else:
            if fields["action"] == CHECKPOINT_SIGNED:
                self._embed(seq, fields["payload"])
            self._accept(seq, stored_hash)

    def _linked(self, seq: int, stored_prev: str) -> bool:
        if seq != self.expected:
            self.broken = ChainBreak(self.expected, f"event {self.expected} is missing")
        elif stored_prev != self.prev_hash:
            self.broken = ChainBreak(seq, "its prev_hash does not match the event before it")
        return self.broken is None

    def _embed(self, seq: int, payload: object) -> None:
        """A checkpoint event at ``seq`` holds; it signs the hash before it."""
        self.embedded.append((_embedded(payload), seq, self.prev_hash))

    def _accept(self, seq: int, stored_hash: str) -> None:
        self.prev_hash, self.expected = stored_hash, seq + 1
        if seq in self.wanted:
            self.hashes[seq] = stored_hash

    @property
    def length(self) -> int:
        return self.expected - 1


def _payload(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _embedded(payload: object) -> SignedCheckpoint | None:
    try:
        return parse_checkpoint(payload)
    except InvalidInput:
        return None


@dataclass(frozen=True)
class CheckpointVerdict:
    ok: bool
    seq: int
    problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "seq": self.seq, "problem": self.problem}


def judge_checkpoint(signed: SignedCheckpoint, *, signature_ok: bool,
                     trusted_keys: Collection[str], log_length: int, recomputed: str | None
                     ) -> CheckpointVerdict:
    """Whether the log is the one ``signed`` covers.

    ``recomputed`` is the hash the walk arrived at for ``signed.checkpoint.seq`` (None
    when the log is shorter); ``trusted_keys`` the key ids the verifier trusts.
    """
    point = signed.checkpoint
    if signed.key_id not in trusted_keys:
        trusted = ", ".join(sorted(k[:16] + "…" for k in trusted_keys)) or "none"
        return CheckpointVerdict(False, point.seq, f"it is signed by key {signed.key_id[:16]}…, "
                                 f"which is not trusted (trusted: {trusted})")
    if not signature_ok:
        return CheckpointVerdict(False, point.seq, "its signature does not verify: it was not "
                                 "made by that key, or the checkpoint was altered")
    if log_length < point.seq or recomputed is None:
        return CheckpointVerdict(False, point.seq, f"the log has {log_length} events but the "
                                 f"checkpoint signed #{point.seq}: events were removed")
    if recomputed != point.hash:
        return CheckpointVerdict(False, point.seq, f"the log up to #{point.seq} is not the one "
                                 f"signed at {point.time}: an event at or before #{point.seq} "
                                 "was rewritten and the hashes after it recomputed")
    return CheckpointVerdict(True, point.seq)


def judge_embedded(found: SignedCheckpoint | None, event_seq: int, prev_hash: str, *,
                   signature_ok: bool, trusted_keys: Collection[str]) -> CheckpointVerdict:
    """A checkpoint the chain holds signs the event just before its own."""
    if found is None:
        return CheckpointVerdict(False, event_seq, f"checkpoint event #{event_seq} holds no "
                                 "well-formed checkpoint")
    if found.checkpoint.seq != event_seq - 1:
        return CheckpointVerdict(False, event_seq, f"checkpoint event #{event_seq} signs "
                                 f"#{found.checkpoint.seq}, not the event before it")
    return judge_checkpoint(found, signature_ok=signature_ok, trusted_keys=trusted_keys,
                            log_length=event_seq - 1, recomputed=prev_hash)


# --- a whole log against its checkpoints ----------------------------------------------


@dataclass(frozen=True)
class LogProof:
    """The verdict on a log: its own chain, then every checkpoint judged against it."""

    events_checked: int
    broken: ChainBreak | None
    verdicts: tuple[CheckpointVerdict, ...]
    last_hash: str = GENESIS_HASH      # the recomputed hash of the last event walked

    @property
    def ok(self) -> bool:
        return self.broken is None and all(v.ok for v in self.verdicts)

    @property
    def first_failure(self) -> CheckpointVerdict | None:
        return next((v for v in self.verdicts if not v.ok), None)

    def last_proved(self) -> int:
        """The highest seq a good checkpoint vouches for (0: none)."""
        return max((v.seq for v in self.verdicts if v.ok), default=0)


def prove_log(batches: Iterable[Iterable[Row]], *, given: Iterable[SignedCheckpoint] = (),
              trusted_keys: Collection[str], signature_ok: Callable[[SignedCheckpoint], bool]
              ) -> LogProof:
    """Walk the log from its first event; judge the checkpoints it holds and the ``given``
    ones (saved elsewhere: a file, a webhook receiver) by the ``trusted_keys``.

    Checkpoints recorded in the log are judged only when a key is trusted: without one,
    anyone who can write the log could have written them too.
    """
    given = list(given)
    walk = ChainWalk(frozenset(g.checkpoint.seq for g in given))
    for batch in batches:
        if not walk.feed(batch):
            break
    return _judged(walk, given, trusted_keys, signature_ok)


def prove_stored_log(batches: Iterable[Iterable[StoredRow]], *, start: tuple[int, str] = (0,
                     GENESIS_HASH), given: Iterable[SignedCheckpoint] = (),
                     trusted_keys: Collection[str],
                     signature_ok: Callable[[SignedCheckpoint], bool]) -> LogProof:
    """``prove_log`` over rows as the events table stores them, walking on from ``start``
    (the seq and hash of a prefix proved before; (0, genesis): from the first event).
    The checkpoints judged are those the walked part holds and the ``given`` ones it
    reaches; one at or before ``start`` is judged as not reached (walk from the start)."""
    given = list(given)
    walk = ChainWalk(frozenset(g.checkpoint.seq for g in given), prev_hash=start[1],
                     expected=start[0] + 1)
    for batch in batches:
        if not walk.feed_stored(batch):
            break
    return _judged(walk, given, trusted_keys, signature_ok)


def _judged(walk: ChainWalk, given: list[SignedCheckpoint], trusted_keys: Collection[str],
            signature_ok: Callable[[SignedCheckpoint], bool]) -> LogProof:
    verdicts = []
    if trusted_keys:
        verdicts += [judge_embedded(found, seq, prev,
                                    signature_ok=found is not None and signature_ok(found),
                                    trusted_keys=trusted_keys)
                     for found, seq, prev in walk.embedded]
    verdicts += [judge_checkpoint(g, signature_ok=signature_ok(g), trusted_keys=trusted_keys,
                                  log_length=walk.length,
                                  recomputed=walk.hashes.get(g.checkpoint.seq))
                 for g in given]
    verdicts.sort(key=lambda v: (v.seq, v.ok))
    return LogProof(walk.length, walk.broken, tuple(verdicts), walk.prev_hash)


def describe_failure(proof: LogProof) -> tuple[int, str] | None:
    """The first bad event (or the first one that may be) and why, for a failing proof."""
    if proof.broken is not None:
        return proof.broken.seq, proof.broken.problem
    failed = proof.first_failure
    if failed is None:
        return None
    good = max((v.seq for v in proof.verdicts if v.ok and v.seq < failed.seq), default=0)
    where = (f"between #{good + 1} and #{failed.seq}" if good else f"at or before #{failed.seq}")
    return good + 1, f"checkpoint #{failed.seq}: {failed.problem} (the change is {where})"

