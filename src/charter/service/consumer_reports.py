"""Consumer reports riding on lookups, convergence after a move, and the refusal to
archive or delete a version a live consumer still serves.

A report arrives as a side effect of a lookup that carries a consumer's name
(``resolve(uri, consumer=…)``, the ``X-Charter-Consumer`` header) or explicitly
(``report_consumer``). Lookups go through the worker's ``ConsumerLedger`` so that
only changes and periodic touches reach the database (service/consumer_ledger.py).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from functools import lru_cache

from charter.domain import events
from charter.domain.access import Role
from charter.domain.consumers import (
    check_consumer_name,
    converged_on,
    live_since,
    refuse_served,
    served_by,
    stage_of,
)
from charter.domain.records import VersionRecord
from charter.domain.retention import RetentionDecision
from charter.domain.uris import ModelUri, parse_model_uri
from charter.domain.values import check_reason
from charter.service.base import ServiceBase
from charter.service.consumer_ledger import Note
from charter.store import consumers as ledger_rows
from charter.store import events as audit_log
from charter.store import models, versions
from charter.store.database import WriteTx
from charter.store.driver import Conn
from charter.store.models import ModelRow

log = logging.getLogger("charter.consumers")

# Who records a consumers_converged event: the registry itself (no user name has a colon).
CONSUMERS_ACTOR = "charter:consumers"
# The events that put a version into a stage: what a convergence is announced after.
MOVES = (events.STAGE_CHANGED, events.ROLLED_BACK, events.VERSION_IMPORTED)
FORCE = "force_served"  # the operation named in the denied-attempts log


# ---- the lookups' side of it --------------------------------------------------------------


@lru_cache(maxsize=4096)
def parsed_uri(uri: str) -> ModelUri:
    """A lookup's URI, parsed once per worker (a ModelUri is immutable)."""
    return parse_model_uri(uri)


def canonical_uri(parsed: ModelUri, name: str) -> str:
    """The URI as it is stored: its canonical form, under the model's current ``name``."""
    return str(replace(parsed, name=name)) if parsed.name != name else str(parsed)


def plan_note(service: ServiceBase, consumer: str, parsed: ModelUri, name: str, version: int
              ) -> Note | None:
    """What a lookup by ``consumer`` that answered ``version`` of model ``name`` must
    write, or None (most repeats: the ledger coalesces them). Raises
    ``consumer.invalid`` for a bad name."""
    consumer = check_consumer_name(consumer)
    settings = service.policies.consumers
    now = service.clock()
    ledger = service.ledger
    if parsed.version is not None:
        # MLflow asks for the number right after resolving a stage or an alias: that
        # lookup is part of the one before, not a second, pinned, deployment.
        if ledger.follows(consumer, name, version, now, settings.touch_every):
            return None
    else:
        ledger.saw_following(consumer, name, version, now)
    return ledger.note(consumer, name, canonical_uri(parsed, name), version, now,
                       settings.touch_every)


def note_lookup(service: ServiceBase, consumer: str, parsed: ModelUri,
                record: VersionRecord) -> None:
    """Note a lookup's answer for ``consumer``, writing it when due. A failed write is
    logged and retried on the next lookup; the lookup's answer stands."""
    note = plan_note(service, consumer, parsed, record.name, record.version)
    if note is not None:
        write_due(service, note)


def write_due(service: ServiceBase, note: Note) -> None:
    try:
        write_note(service, note)
    except Exception:  # noqa: BLE001 - the lookup already has its answer
        log.warning("could not record consumer %s of %s", note.consumer, note.uri,
                    exc_info=True)


def write_note(service: ServiceBase, note: Note) -> None:
    """Write one report; a change of version may complete a stage's convergence."""
    try:
        with service._write() as tx:
            model = models.find(tx, note.model)
            if model is None:  # deleted since the lookup
                return
            uri = note.uri if model.name == note.model else canonical_uri(
                parsed_uri(note.uri), model.name)  # a lookup by another letter case
            changed = ledger_rows.record(tx, model.id, note.consumer, uri, note.version,
                                         note.at)
            stage = stage_of(uri)
            if changed and stage is not None:
                announce_convergence(service, tx, model, stage)
    except BaseException:
        service.ledger.forget(note)
        raise


# ---- convergence ------------------------------------------------------------------------------


def announce_convergence(service: ServiceBase, tx: WriteTx, model: ModelRow, stage: str
                         ) -> None:
    """Record ``consumers_converged`` when every live consumer of ``stage`` serves its
    version, once per move of a version into the stage."""
    current = versions.newest_in_stage(tx, model.id, stage)
    if current is None:
        return
    reports = ledger_rows.reports(tx, model.id, model.name)
    names = converged_on(reports, stage, current, tx.now, service.policies.consumers)
    if names is None:
        return
    keys = models.keys_of(tx, model)
    moved = audit_log.last_seq(tx, keys, current, actions=MOVES, to_stage=stage)
    announced = audit_log.last_seq(tx, keys, current, actions=(events.CONSUMERS_CONVERGED,))
    if announced and announced > moved:
        return
    tx.record(events.NewEvent(
        events.CONSUMERS_CONVERGED, model.name, current,
        reason=f"every live consumer of {stage} serves v{current}",
        payload={"stage": stage, "consumers": names}), actor=CONSUMERS_ACTOR)


def after_moves(service: ServiceBase, tx: WriteTx, model: ModelRow, stages: set[str], *,
                consumers_seen: bool | None = None) -> None:
    """After versions moved: a stage whose consumers all serve its new version already
    (a rollback before anyone switched) converges at once. ``consumers_seen``: whether a
    consumer was seen lately, when the caller read it already (``versions.for_move``)."""
    if consumers_seen is None:
        consumers_seen = ledger_rows.has_reports(
            tx, model.id, live_since(tx.now, service.policies.consumers))
    if not consumers_seen:
        return
    for stage in sorted(stages):
        announce_convergence(service, tx, model, stage)


# ---- archive and delete ---------------------------------------------------------------------


def check_not_served(service: ServiceBase, tx: WriteTx, model: ModelRow, version: int | None,
                     *, action: str, force: bool, reason: str) -> None:
    """Refuse to ``action`` (archive, delete) a version live consumers serve — every
    version of the model when ``version`` is None (deleting the model) —, naming them;
    an owner may ``force`` it with a reason, recorded as its own event."""
    settings = service.policies.consumers
    reports = ledger_rows.reports(tx, model.id, model.name)
    served = sorted({r.version for r in reports} if version is None else {version})
    names = sorted({n for v in served for n in served_by(reports, v, tx.now, settings)})
    if not names:
        return
    if not force:
        live = [r for r in reports if r.consumer in names and r.version in served]
        shown = version if version is not None else max(r.version for r in live)
        raise refuse_served(model.name, shown, names, action, tx.now,
                            max(r.last_seen for r in live))
    reason = check_reason(reason, required=True)
    service._require(FORCE, model, needed=Role.OWNER,
                     what=f"{action} what live consumers still serve")
    tx.record(events.NewEvent(events.SERVED_VERSION_FORCED, model.name, version,
                              reason=reason, payload={"action": action, "consumers": names}))


def keep_served(service: ServiceBase, conn: Conn, model: ModelRow,
                decisions: list[RetentionDecision], now: datetime) -> list[RetentionDecision]:
    """Retention never purges a version a live consumer serves: such a decision is a keep."""
    if not any(d.purge for d in decisions):
        return decisions
    reports = ledger_rows.reports(conn, model.id, model.name)
    kept = []
    for decision in decisions:
        names = (served_by(reports, decision.version, now, service.policies.consumers)
                 if decision.purge else [])
        kept.append(replace(decision, purge=False, reason=f"kept: served by {', '.join(names)}")
                    if names else decision)
    return kept


