"""Signed audit checkpoints in the service: signing the head, publishing checkpoints,
proving the log against them, and proving a past answer (docs/provenance.md).

The key is loaded once at start (bootstrap) and never stored in the database; the
store calls ``Checkpointer.seal`` at the end of every write that recorded events,
and a checkpoint is due every N events or minutes (``[audit]``). It is recorded as
a ``checkpoint_signed`` event by the registry itself, right after the head it signs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from charter.domain import error_codes as codes
from charter.domain import events
from charter.domain.access import READ, READ_ALL
from charter.domain.checkpoints import (
    Checkpoint,
    CheckpointSchedule,
    SignedCheckpoint,
    checkpoint_due,
    parse_checkpoint,
    prove_stored_log,
)
from charter.domain.errors import Conflict, InvalidInput, NotFound
from charter.domain.events import GENESIS_HASH, StoredRow, format_time, stored_hash_matches
from charter.domain.proofs import MAX_PROOF_EVENTS, AsOfProof, ProofEvent
from charter.domain.records import AuditPoint, AuditReport
from charter.domain.uris import parse_model_uri
from charter.service.base import ServiceBase
from charter.service.queries import check_limit, resolve_uri
from charter.store import events as audit_log
from charter.store import models, provenance
from charter.store.database import Database, TurnBusy, WriteTx
from charter.store.driver import Reader
from charter.store.events import ChainPosition, VerifiedPoint

if TYPE_CHECKING:  # cryptography only where a checkpoint is signed or checked
    from charter.signing.keys import CheckpointKey

log = logging.getLogger("charter.checkpoints")
REGISTRY_ACTOR = "charter:checkpoint"   # no user name has a colon (domain.access)
AUDIT_BATCH = 5000


@dataclass(frozen=True)
class Checkpointer:
    key: CheckpointKey
    schedule: CheckpointSchedule

    def seal(self, tx: WriteTx, head: ChainPosition, *, force: bool = False
             ) -> SignedCheckpoint | None:
        """Sign the head if a checkpoint is due (``force``: now, whatever the schedule; a
        checkpoint of an unchanged head still says "nothing happened until now"), recording
        it in ``tx`` right after the head it signs."""
        last = (Checkpoint(head.checkpoint_seq, "", head.checkpoint_time)
                if head.checkpoint_seq else None)
        due = (head.seq > 0 if force
               else checkpoint_due(self.schedule, last, head.seq, tx.now))
        if not due:
            return None
        signed = self.key.sign(Checkpoint(head.seq, head.hash, format_time(tx.now)))
        tx.record(events.NewEvent(events.CHECKPOINT_SIGNED, "", payload=signed.to_dict()),
                  actor=REGISTRY_ACTOR)
        head.checkpoint_seq, head.checkpoint_time = signed.checkpoint.seq, signed.checkpoint.time
        return signed


class CheckpointTimer:
    """Signs a due checkpoint of a quiet registry, in a thread of the server process."""

    def __init__(self, service: CheckpointsMixin, every: float) -> None:
        self.service, self.every = service, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="charter-checkpoints",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.service.sign_due_checkpoint()
            except Exception:  # a busy or lost database: the next round tries again
                log.warning("could not sign a due checkpoint", exc_info=True)


def attach_checkpointer(database: Database, key: CheckpointKey,
                        schedule: CheckpointSchedule) -> Checkpointer:
    """Sign checkpoints on every write through ``database`` from now on."""
    checkpointer = Checkpointer(key, schedule)
    database.seal = checkpointer.seal
    return checkpointer


class CheckpointsMixin(ServiceBase):
    checkpointer: Checkpointer | None = None

    def checkpoints(self, *, after: int = 0, limit: int = 100) -> list[SignedCheckpoint]:
        """The checkpoints recorded after event ``after``, oldest first."""
        check_limit(limit)
        self._require_registry(READ_ALL)
        with self._read() as reader:
            found = provenance.checkpoint_events(reader, after=after, limit=limit)
        return [parse_checkpoint(payload) for _, payload in found]

    def latest_checkpoint(self) -> SignedCheckpoint:
        self._require_registry(READ_ALL)
        with self._read() as reader:
            found = provenance.checkpoint_events(reader, limit=1, newest_first=True)
        if not found:
            raise NotFound(codes.CHECKPOINT_NOT_FOUND, "No checkpoint has been signed yet",
                           "configure [audit] checkpoint_key (docs/provenance.md); the server "
                           "signs the head within checkpoint_every_events or checkpoint_every")
        return parse_checkpoint(found[0][1])

    def sign_checkpoint(self) -> SignedCheckpoint:
        """Sign the head now (an admin's `charter audit checkpoint`, e.g. before proving
        an answer for a moment after the last checkpoint; the server's timer uses
        ``sign_due_checkpoint``)."""
        self._require_admin("sign an audit checkpoint")
        checkpointer = self._checkpointer()
        with self._write() as tx:
            signed = checkpointer.seal(tx, tx.head, force=True)
        if signed is None:
            raise Conflict(codes.CHECKPOINT_EMPTY_LOG, "The audit log is empty: there is no head "
                           "to sign", "record something first")
        return signed

    def sign_due_checkpoint(self) -> SignedCheckpoint | None:
        """Sign the head if a checkpoint is due by time: a quiet registry's last events
        are signed within ``checkpoint_every`` even when nothing else is written. Looks
        first without the write turn, so an idle registry is not written to."""
        checkpointer = self.checkpointer
        if checkpointer is None:
            return None
        with self._read() as reader:
            head = audit_log.chain_head(reader)
        last = (Checkpoint(head.checkpoint_seq, "", head.checkpoint_time)
                if head.checkpoint_seq else None)
        if not checkpoint_due(checkpointer.schedule, last, head.seq, self.clock()):
            return None
        with self._write() as tx:
            return checkpointer.seal(tx, tx.head)

    def verify_audit(self, *, checkpoint: SignedCheckpoint | None = None,
                     trusted_keys: Collection[str] = (), full: bool = False) -> AuditReport:
        """Prove the chain: name the first event whose content or link was altered, and
        judge the checkpoints it holds and ``checkpoint`` (saved elsewhere) by the trusted
        keys: those given, else this registry's own key, else the checkpoint's own.

        Walks on from the point the last verify proved (after checking that the event
        there still hashes to the remembered hash), in time proportional to the new
        events; ``full`` (implied by a checkpoint or keys given) walks every event.
        """
        self._require_registry(READ_ALL)
        pinned = set(trusted_keys)
        if not pinned and self.checkpointer is not None:
            pinned.add(self.checkpointer.key.key_id)
        from charter.signing.audit import trust_for  # cryptography on first use

        trusted, warning = trust_for(checkpoint, pinned)
        return walk_chain(self, given=[checkpoint] if checkpoint else [],
                          trusted_keys=trusted, warnings=[warning] if warning else [],
                          full=full or checkpoint is not None or bool(trusted_keys))

    def audit_verified(self) -> AuditPoint:
        """The last verified point of the chain (seq, time) and the last full walk's."""
        self._require_registry(READ_ALL)
        with self._read() as reader:
            point = audit_log.verified_point(reader)
        return AuditPoint(point.seq, point.time, point.full_seq, point.full_time)

    def prove_resolution(self, uri: str, as_of: datetime) -> AsOfProof:
        """The events and the checkpoint that prove what ``uri`` pointed at ``as_of``."""
        self._require_registry(READ_ALL)
        parsed, moment = parse_model_uri(uri), format_time(as_of)
        try:
            answer: int | None = resolve_uri(self, uri, as_of=as_of).version.version
        except NotFound as error:
            if error.code == codes.MODEL_NOT_FOUND:
                raise
            answer = None
        with self._read() as reader:
            model, _ = models.get(reader, parsed.name)
            self._require(READ, model)
            keys = models.keys_of(reader, model)
            found = provenance.first_checkpoint_after(reader, moment)
            if found is None:
                raise _not_yet(moment)
            signed = parse_checkpoint(found[1])
            first = audit_log.first_seq(reader, keys)
            count = signed.checkpoint.seq - first + 1
            if count > MAX_PROOF_EVENTS:
                raise InvalidInput(codes.PROOF_TOO_LARGE, f"The proof would hold {count} events; "
                                   f"the limit is {MAX_PROOF_EVENTS}",
                                   "verify the whole log with `charter audit verify` instead")
            rows = audit_log.chain_range(reader, first, signed.checkpoint.seq)
        return AsOfProof(str(parsed), moment, answer, tuple(sorted(keys)),
                         tuple(ProofEvent(r.hashed(), r.prev_hash, r.hash) for r in rows),
                         signed)

    def _checkpointer(self) -> Checkpointer:
        if self.checkpointer is None:
            raise Conflict(codes.CHECKPOINT_NO_KEY, "This registry signs no checkpoints: no "
                           "checkpoint key is configured",
                           "create one with `charter key create PATH` and set [audit] "
                           "checkpoint_key = PATH (or CHARTER_CHECKPOINT_KEY)")
        return self.checkpointer


def _not_yet(moment: str) -> Conflict:
    return Conflict(codes.PROOF_NOT_YET, f"No checkpoint has been signed after {moment} yet, so "
                    "no signed log covers that moment",
                    "wait for the next checkpoint (every [audit] checkpoint_every_events "
                    "events or checkpoint_every), or have an admin run `charter audit "
                    "checkpoint`")


# ---- the audit walk -----------------------------------------------------------------


def _batches(reader: Reader, first: int) -> Iterator[list[StoredRow]]:
    expected = first
    while True:
        found = audit_log.chain_rows(reader, expected, AUDIT_BATCH)
        yield found
        if len(found) < AUDIT_BATCH:
            return
        expected = found[-1][0] + 1


def _still_holds(reader: Reader, point: VerifiedPoint, head: ChainPosition) -> bool:
    """The remembered point, checked cheaply: within the chain, and the event stored at its
    seq still carries the remembered hash and hashes to it from its content."""
    if point.seq > head.seq:
        return False
    row = audit_log.chain_row(reader, point.seq)
    return (row is not None and row[12] == point.hash
            and stored_hash_matches(row[11], row))


def walk_chain(service: ServiceBase, *, given: Collection[SignedCheckpoint] = (),
               trusted_keys: Collection[str] = (), warnings: list[str] | None = None,
               full: bool = True) -> AuditReport:
    """Recompute every event's hash and link (``full``; else those after the remembered
    verified point), in batches, compare the end with the chain head, judge the
    checkpoints, and remember the point proved (no access check: the callers make theirs).
    """
    from charter.signing.audit import audit_report  # cryptography on first use
    from charter.signing.keys import verify_checkpoint

    warnings = list(warnings or [])
    with service._read() as reader:
        head = audit_log.chain_head(reader)
        point = audit_log.verified_point(reader)
        start = (0, GENESIS_HASH)
        if not full and not given and point.seq:
            if _still_holds(reader, point, head):
                start = (point.seq, point.hash)
            else:
                warnings.append(f"the verified point remembered at #{point.seq} no longer "
                                "matches the event stored there: the whole chain was walked")
        proof = prove_stored_log(_batches(reader, start[0] + 1), start=start, given=given,
                                 trusted_keys=trusted_keys, signature_ok=verify_checkpoint)
    report = audit_report(proof, head.seq, head.hash, warnings)
    if start[0]:
        report = replace(report, verified_from=point.seq, verified_at=point.time)
    if report.ok and head.seq and (not start[0] or head.seq != point.seq):
        _remember(service, head, full=not start[0])  # (nothing new: no write at all)
    return report


def _remember(service: ServiceBase, head: ChainPosition, *, full: bool) -> None:
    try:
        with service._write() as tx:
            audit_log.remember_verified(tx, head.seq, head.hash, format_time(tx.now),
                                        full=full)
    except TurnBusy:  # writers are busy: the next verify walks a little further
        log.info("the verified point was not remembered: the write turn was busy")
