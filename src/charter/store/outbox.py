"""The webhook outbox: rows written with the events, claimed and settled by workers.

``enqueue`` runs inside the write transaction that records the events (see
``Database.write``), so an event and its deliveries commit together or not at
all; nothing is sent before the commit. Workers ``claim`` due rows — on
PostgreSQL with ``FOR UPDATE SKIP LOCKED``, on SQLite inside the write turn —
by pushing ``next_attempt_at`` past a lease, send them outside any transaction,
then ``settle`` each with its outcome. A worker that dies between claim and
settle leaves the row to be retried when the lease runs out.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from charter.domain.webhooks import DEAD, DELIVERED, PENDING, matches
from charter.store import tables


def event_body(row: Any) -> dict[str, Any]:
    """A recorded event (an ORM row or ``database.RecordedEvent``) as webhooks send it."""
    return {"seq": row.seq, "time": row.time, "actor": row.actor, "action": row.action,
            "model": row.model, "version": row.version, "from_stage": row.from_stage,
            "to_stage": row.to_stage, "reason": row.reason,
            "correlation_id": row.correlation_id, "payload": json.loads(row.payload),
            "hash": row.hash}


def _row(subscription_id: int, event: dict[str, Any], now: datetime) -> tables.WebhookOutbox:
    delivery = str(uuid.uuid4())
    body = json.dumps({"delivery": delivery, "webhook": subscription_id, "event": event},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return tables.WebhookOutbox(
        uuid=delivery, subscription_id=subscription_id, event_seq=event.get("seq"),
        action=event["action"], model=event.get("model") or "", body=body, status=PENDING,
        attempts=0, next_attempt_at=now, created_at=now, last_error="")


_ACTIVE_SUBSCRIPTIONS = (select(tables.WebhookSubscription.id, tables.WebhookSubscription.events)
                         .where(tables.WebhookSubscription.active.is_(True)))


def enqueue(session: Session, events: Sequence[Any], now: datetime) -> int:
    """One outbox row per event per active subscription whose filter matches."""
    now = now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now
    subscriptions = session.execute(_ACTIVE_SUBSCRIPTIONS).all()
    if not subscriptions:
        return 0
    count = 0
    for event in events:
        body = event_body(event)
        for subscription_id, wanted in subscriptions:
            if matches(_filter(wanted), event.action):
                session.add(_row(subscription_id, body, now))
                count += 1
    return count


def enqueue_ping(session: Session, subscription_id: int, actor: str, now: datetime,
                 time: str) -> tables.WebhookOutbox:
    """A test delivery: a ``ping`` event outside the audit chain (no seq)."""
    event = {"seq": None, "time": time, "actor": actor, "action": "ping", "model": "",
             "version": None, "from_stage": None, "to_stage": None,
             "reason": "test delivery", "correlation_id": "", "payload": {}, "hash": ""}
    row = _row(subscription_id, event, now)
    session.add(row)
    session.flush()
    return row


def _filter(text: str) -> tuple[str, ...]:
    return tuple(a for a in text.split(",") if a)


@dataclass(frozen=True)
class Claimed:
    id: int
    uuid: str
    url: str
    secret: str
    action: str
    body: str
    attempt: int


def any_due(session: Session, now: datetime) -> bool:
    """A plain read: is anything due? (So an idle worker never takes the write turn.)"""
    return session.execute(
        select(tables.WebhookOutbox.id).where(tables.WebhookOutbox.status == PENDING,
                                              tables.WebhookOutbox.next_attempt_at <= now)
        .limit(1)).first() is not None


def claim(session: Session, now: datetime, *, lease: timedelta, limit: int,
          skip_locked: bool, only: int | None = None) -> list[Claimed]:
    """Reserve up to ``limit`` due deliveries for ``lease``; ``only`` picks one row."""
    query = (select(tables.WebhookOutbox)
             .where(tables.WebhookOutbox.status == PENDING,
                    tables.WebhookOutbox.next_attempt_at <= now)
             .order_by(tables.WebhookOutbox.next_attempt_at, tables.WebhookOutbox.id)
             .limit(limit))
    if only is not None:
        query = query.where(tables.WebhookOutbox.id == only)
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    rows = list(session.execute(query).scalars())
    claimed = []
    for row in rows:
        subscription = session.get_one(tables.WebhookSubscription, row.subscription_id)
        row.attempts += 1
        row.next_attempt_at = now + lease
        claimed.append(Claimed(row.id, row.uuid, subscription.url, subscription.secret,
                               row.action, row.body, row.attempts))
    session.flush()
    return claimed


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    error: str
    duration_ms: int


def settle(session: Session, claimed: Claimed, outcome: Outcome, now: datetime, *,
           retry_in: timedelta | None) -> str:
    """Log the attempt; mark the row delivered, due again after ``retry_in``, or dead."""
    row = session.get(tables.WebhookOutbox, claimed.id)
    if row is None:  # the subscription was removed while the request was in flight
        return DEAD
    session.add(tables.WebhookDelivery(
        outbox_id=claimed.id, attempt=claimed.attempt, at=now, status_code=outcome.status_code,
        ok=outcome.ok, error=outcome.error[:2000], duration_ms=outcome.duration_ms))
    row.last_status_code, row.last_error = outcome.status_code, outcome.error[:2000]
    if outcome.ok:
        row.status, row.delivered_at, row.next_attempt_at = DELIVERED, now, None
    elif retry_in is None:
        row.status, row.next_attempt_at = DEAD, None
    else:
        row.next_attempt_at = now + retry_in
    session.flush()
    return row.status


def requeue(session: Session, outbox_id: int, now: datetime) -> tables.WebhookOutbox | None:
    """Give a dead (or delivered) delivery a fresh set of attempts."""
    row = session.get(tables.WebhookOutbox, outbox_id)
    if row is not None:
        row.status, row.attempts, row.next_attempt_at = PENDING, 0, now
    return row


def prune(session: Session, before: datetime) -> int:
    """Forget delivered rows (and their attempt logs) settled before ``before``."""
    result = session.execute(delete(tables.WebhookOutbox).where(
        tables.WebhookOutbox.status == DELIVERED, tables.WebhookOutbox.delivered_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
