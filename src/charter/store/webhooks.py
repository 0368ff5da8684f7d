"""Webhooks: subscriptions, the outbox of deliveries written with the events, and the
delivery log. SQLAlchemy ORM, on the session of ``Database.read()``,
``Database.housekeeping()`` or a write transaction; none of it is a hot path.

``enqueue`` runs inside the write transaction that records the events (see
``Database.write``), so an event and its deliveries commit together or not at
all; nothing is sent before the commit. Workers ``claim`` due rows — on
PostgreSQL with ``FOR UPDATE SKIP LOCKED``, on SQLite inside the write turn —
by pushing ``next_attempt_at`` past a lease, send them outside any transaction,
then ``settle`` each with its outcome. A worker that dies between claim and
settle leaves the row to be retried when the lease runs out. Times may be given
aware or naive (UTC); they are stored naive.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from charter.domain.webhooks import (
    DEAD,
    DELIVERED,
    PENDING,
    AttemptRecord,
    DeliveryRecord,
    WebhookRecord,
    mask_secret,
    matches,
)
from charter.store import tables
from charter.store.driver import naive, utc
from charter.store.events import StoredEvent

if TYPE_CHECKING:
    from charter.store.database import WriteTx

MAX_ERROR = 2000


def session_of(conn: Session | WriteTx) -> Session:
    return conn if isinstance(conn, Session) else conn.session


# ---- subscriptions ------------------------------------------------------------------

def _record(row: tables.WebhookSubscription, secret: str = "") -> WebhookRecord:
    return WebhookRecord(row.id, row.url, tuple(e for e in row.events.split(",") if e),
                         row.description, row.active, mask_secret(row.secret), row.created_by,
                         utc(row.created_at), secret)


def subscribe(conn: Session | WriteTx, url: str, *, secret: str, events: Sequence[str],
              description: str, created_by: str, now: datetime, show_secret: bool
              ) -> WebhookRecord:
    """A new subscription; its record shows the secret whole only if ``show_secret``."""
    session = session_of(conn)
    row = tables.WebhookSubscription(
        url=url, secret=secret, events=",".join(events), description=description,
        active=True, created_by=created_by, created_at=naive(now))
    session.add(row)
    session.flush()
    _changes.seen = True
    return _record(row, secret if show_secret else "")


def subscriptions(conn: Session | WriteTx) -> list[WebhookRecord]:
    rows = session_of(conn).execute(select(tables.WebhookSubscription)
                                    .order_by(tables.WebhookSubscription.id)).scalars()
    return [_record(row) for row in rows]


def subscription(conn: Session | WriteTx, subscription_id: int) -> WebhookRecord | None:
    row = session_of(conn).get(tables.WebhookSubscription, subscription_id)
    return _record(row) if row is not None else None


def unsubscribe(conn: Session | WriteTx, subscription_id: int) -> None:
    """Remove the subscription; its pending deliveries and their log go with it."""
    session = session_of(conn)
    row = session.get(tables.WebhookSubscription, subscription_id)
    if row is not None:
        session.delete(row)
        _changes.seen = True


# ---- the delivery log ---------------------------------------------------------------

def _delivery(row: tables.WebhookOutbox, url: str, log: list[tables.WebhookDelivery]
              ) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id, uuid=row.uuid, webhook_id=row.subscription_id, url=url, action=row.action,
        event_seq=row.event_seq, model=row.model, status=row.status, attempts=row.attempts,
        created_at=utc(row.created_at),
        next_attempt_at=utc(row.next_attempt_at) if row.next_attempt_at else None,
        delivered_at=utc(row.delivered_at) if row.delivered_at else None,
        last_status_code=row.last_status_code, last_error=row.last_error,
        log=tuple(AttemptRecord(a.attempt, utc(a.at), a.status_code, a.ok, a.error,
                                a.duration_ms) for a in log))


def deliveries(conn: Session | WriteTx, *, subscription_id: int | None, status: str | None,
               limit: int) -> list[DeliveryRecord]:
    """The newest ``limit`` deliveries (of one subscription, in one status), each with its
    attempts."""
    session = session_of(conn)
    query = (select(tables.WebhookOutbox, tables.WebhookSubscription.url)
             .join(tables.WebhookSubscription,
                   tables.WebhookSubscription.id == tables.WebhookOutbox.subscription_id)
             .order_by(tables.WebhookOutbox.id.desc()).limit(limit))
    if subscription_id is not None:
        query = query.where(tables.WebhookOutbox.subscription_id == subscription_id)
    if status:
        query = query.where(tables.WebhookOutbox.status == status)
    rows = [(row, url) for row, url in session.execute(query).all()]
    logs = _attempts(session, [row.id for row, _ in rows])
    return [_delivery(row, url, logs.get(row.id, [])) for row, url in rows]


def outbox_counts(conn: Session | WriteTx) -> dict[str, int]:
    """How many outbox rows are in each status (pending, dead; delivered until pruned)."""
    session = session_of(conn)
    rows = session.execute(select(tables.WebhookOutbox.status, func.count())
                           .group_by(tables.WebhookOutbox.status)).all()
    counts = {PENDING: 0, DEAD: 0, DELIVERED: 0}
    counts.update({str(status): int(count) for status, count in rows})
    return counts


def delivery(conn: Session | WriteTx, outbox_id: int) -> DeliveryRecord | None:
    session = session_of(conn)
    row = session.get(tables.WebhookOutbox, outbox_id)
    if row is None:
        return None
    url = session.get_one(tables.WebhookSubscription, row.subscription_id).url
    return _delivery(row, url, _attempts(session, [row.id]).get(row.id, []))


def _attempts(session: Session, ids: list[int]) -> dict[int, list[tables.WebhookDelivery]]:
    found: dict[int, list[tables.WebhookDelivery]] = {}
    if ids:
        for attempt in session.execute(
                select(tables.WebhookDelivery).where(tables.WebhookDelivery.outbox_id.in_(ids))
                .order_by(tables.WebhookDelivery.id)).scalars():
            found.setdefault(attempt.outbox_id, []).append(attempt)
    return found


# ---- the outbox ---------------------------------------------------------------------

def event_body(row: StoredEvent) -> dict[str, Any]:
    """A recorded event as webhooks send it."""
    return {"seq": row.seq, "time": row.time, "actor": row.actor, "action": row.action,
            "model": row.model, "version": row.version, "from_stage": row.from_stage,
            "to_stage": row.to_stage, "reason": row.reason,
            "correlation_id": row.correlation_id, "payload": json.loads(row.payload),
            "hash": row.hash}


def _row(subscription_id: int, event: dict[str, Any], now: datetime) -> tables.WebhookOutbox:
    delivery_id = str(uuid.uuid4())
    body = json.dumps({"delivery": delivery_id, "webhook": subscription_id, "event": event},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return tables.WebhookOutbox(
        uuid=delivery_id, subscription_id=subscription_id, event_seq=event.get("seq"),
        action=event["action"], model=event.get("model") or "", body=body, status=PENDING,
        attempts=0, next_attempt_at=now, created_at=now, last_error="")


_ACTIVE_SUBSCRIPTIONS = (select(tables.WebhookSubscription.id, tables.WebhookSubscription.events)
                         .where(tables.WebhookSubscription.active.is_(True)))
# The same in plain SQL: a group commit reads it with the chain head (events.lock_head_then).
ACTIVE = "SELECT id, events FROM webhook_subscriptions WHERE active"

_changes = threading.local()  # whether this thread's batch added or removed a subscription


@contextmanager
def watching_subscriptions() -> Iterator[None]:
    """Within: ``subscribe`` and ``unsubscribe`` on this thread are noted, so ``enqueue``
    does not trust subscriptions read before them."""
    _changes.seen = False
    try:
        yield
    finally:
        _changes.seen = False


def enqueue(session: Session, events: Sequence[StoredEvent], now: datetime,
            active: Sequence[tuple[int, str]] | None = None) -> int:
    """One outbox row per event per active subscription whose filter matches; ``active``:
    the subscriptions as read already in this transaction (read here when None, or when
    one was added or removed since, ``watching_subscriptions``)."""
    now = naive(now)
    if active is None or getattr(_changes, "seen", False):
        # Core on the session's connection, not Session.execute: every write asks this,
        # and the ORM's statement handling was a fifth of a registration's CPU
        # (bench/README.md). Core does not autoflush: flushed first, a subscription added
        # or removed in this transaction is seen as it now is (nothing pending: a no-op).
        session.flush()
        active = [(id_, wanted) for id_, wanted
                  in session.connection().execute(_ACTIVE_SUBSCRIPTIONS)]
    if not active:
        return 0
    count = 0
    for event in events:
        body = event_body(event)
        for subscription_id, wanted in active:
            if matches(_filter(wanted), event.action):
                session.add(_row(subscription_id, body, now))
                count += 1
    return count


def enqueue_ping(conn: Session | WriteTx, subscription_id: int, actor: str, now: datetime,
                 time: str) -> int:
    """A test delivery: a ``ping`` event outside the audit chain (no seq); its outbox id."""
    session = session_of(conn)
    event: dict[str, Any] = {
        "seq": None, "time": time, "actor": actor, "action": "ping", "model": "",
        "version": None, "from_stage": None, "to_stage": None, "reason": "test delivery",
        "correlation_id": "", "payload": {}, "hash": ""}
    row = _row(subscription_id, event, naive(now))
    session.add(row)
    session.flush()
    return row.id


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
                                              tables.WebhookOutbox.next_attempt_at <= naive(now))
        .limit(1)).first() is not None


def claim(conn: Session | WriteTx, now: datetime, *, lease: timedelta, limit: int,
          skip_locked: bool, only: int | None = None) -> list[Claimed]:
    """Reserve up to ``limit`` due deliveries for ``lease``; ``only`` picks one row."""
    session, now = session_of(conn), naive(now)
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
        target = session.get_one(tables.WebhookSubscription, row.subscription_id)
        row.attempts += 1
        row.next_attempt_at = now + lease
        claimed.append(Claimed(row.id, row.uuid, target.url, target.secret,
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
    now = naive(now)
    row = session.get(tables.WebhookOutbox, claimed.id)
    if row is None:  # the subscription was removed while the request was in flight
        return DEAD
    session.add(tables.WebhookDelivery(
        outbox_id=claimed.id, attempt=claimed.attempt, at=now, status_code=outcome.status_code,
        ok=outcome.ok, error=outcome.error[:MAX_ERROR], duration_ms=outcome.duration_ms))
    row.last_status_code, row.last_error = outcome.status_code, outcome.error[:MAX_ERROR]
    if outcome.ok:
        row.status, row.delivered_at, row.next_attempt_at = DELIVERED, now, None
    elif retry_in is None:
        row.status, row.next_attempt_at = DEAD, None
    else:
        row.next_attempt_at = now + retry_in
    session.flush()
    return row.status


def requeue(conn: Session | WriteTx, outbox_id: int, now: datetime) -> bool:
    """Give a dead (or delivered) delivery a fresh set of attempts; False if there is none."""
    row = session_of(conn).get(tables.WebhookOutbox, outbox_id)
    if row is not None:
        row.status, row.attempts, row.next_attempt_at = PENDING, 0, naive(now)
    return row is not None


def prune(session: Session, before: datetime) -> int:
    """Forget delivered rows (and their attempt logs) settled before ``before``."""
    result = session.execute(delete(tables.WebhookOutbox).where(
        tables.WebhookOutbox.status == DELIVERED,
        tables.WebhookOutbox.delivered_at < naive(before)))
    return int(getattr(result, "rowcount", 0) or 0)
