"""Use cases of webhook subscriptions: add, list, remove, test, the delivery log.

Only admins manage subscriptions: the server POSTs to whatever URL one names,
so a subscription is a request the server makes on its creator's behalf (SSRF);
docs/governance.md. Adding and removing one are audit events (registry-wide,
model ""). The secret is stored as given because it must sign every delivery;
it is shown back only masked, except once when Charter generated it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session

from charter.domain import events
from charter.domain.errors import NotFound
from charter.domain.events import format_time
from charter.domain.records import EventRecord
from charter.domain.webhooks import (
    AttemptRecord,
    DeliveryRecord,
    WebhookRecord,
    check_secret,
    check_url,
    mask_secret,
    parse_event_filter,
    redact_url,
)
from charter.service.convert import naive, utc
from charter.service.delivery import DeliveryWorker
from charter.service.guard import GuardMixin
from charter.store import outbox, tables

MAX_LOG = 500
MAX_WAIT = 60.0        # seconds a long poll of the event feed may wait
POLL_INTERVAL = 0.5


def webhook_record(row: tables.WebhookSubscription, secret: str = "") -> WebhookRecord:
    return WebhookRecord(row.id, row.url, tuple(e for e in row.events.split(",") if e),
                         row.description, row.active, mask_secret(row.secret), row.created_by,
                         utc(row.created_at), secret)


def delivery_record(row: tables.WebhookOutbox, url: str,
                    log: list[tables.WebhookDelivery]) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id, uuid=row.uuid, webhook_id=row.subscription_id, url=url, action=row.action,
        event_seq=row.event_seq, model=row.model, status=row.status, attempts=row.attempts,
        created_at=utc(row.created_at),
        next_attempt_at=utc(row.next_attempt_at) if row.next_attempt_at else None,
        delivered_at=utc(row.delivered_at) if row.delivered_at else None,
        last_status_code=row.last_status_code, last_error=row.last_error,
        log=tuple(AttemptRecord(a.attempt, utc(a.at), a.status_code, a.ok, a.error,
                                a.duration_ms) for a in log))


def webhook_not_found(webhook_id: object) -> NotFound:
    return NotFound("webhook.not_found", f"There is no webhook {str(webhook_id)[:40]}",
                    "list them with `charter webhook list`", {"id": str(webhook_id)[:40]})


def parse_id(value: int | str, what: str = "webhook") -> int:
    text = str(value).strip().lstrip("#")
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**31:
        raise (webhook_not_found(value) if what == "webhook" else delivery_not_found(value))
    return int(text)


def delivery_not_found(delivery_id: object) -> NotFound:
    return NotFound("delivery.not_found", f"There is no delivery {str(delivery_id)[:40]}",
                    "list them with `charter webhook deliveries`", {"id": str(delivery_id)[:40]})


class WebhooksMixin(GuardMixin):
    def add_webhook(self, url: str, *, secret: str = "", events_filter: str | list[str] = "",
                    description: str = "") -> WebhookRecord:
        """Subscribe ``url`` to the events named (all when none); admins only."""
        self._require_admin("manage webhooks")
        url = check_url(url)
        wanted = parse_event_filter(events_filter)
        generated = not secret
        secret = secrets.token_hex(32) if generated else check_secret(secret)
        with self._write() as tx:
            row = tables.WebhookSubscription(
                url=url, secret=secret, events=",".join(wanted), description=description[:500],
                active=True, created_by=self.actor, created_at=naive(tx.now))
            tx.session.add(row)
            tx.session.flush()
            tx.record(events.NewEvent(events.WEBHOOK_CREATED, "", payload={
                "webhook": row.id, "url": redact_url(url), "events": list(wanted) or ["*"]}))
            return webhook_record(row, secret if generated else "")

    def list_webhooks(self) -> list[WebhookRecord]:
        self._require_admin("manage webhooks")
        with self._read() as session:
            rows = session.execute(select(tables.WebhookSubscription)
                                   .order_by(tables.WebhookSubscription.id)).scalars()
            return [webhook_record(r) for r in rows]

    def get_webhook(self, webhook_id: int | str) -> WebhookRecord:
        self._require_admin("manage webhooks")
        with self._read() as session:
            return webhook_record(self._subscription(session, webhook_id))

    def remove_webhook(self, webhook_id: int | str) -> None:
        """Unsubscribe; its pending deliveries and its delivery log go with it."""
        self._require_admin("manage webhooks")
        with self._write() as tx:
            row = self._subscription(tx.session, webhook_id)
            tx.session.delete(row)
            tx.record(events.NewEvent(events.WEBHOOK_DELETED, "", payload={
                "webhook": row.id, "url": redact_url(row.url)}))

    def _subscription(self, session: Session, webhook_id: int | str
                      ) -> tables.WebhookSubscription:
        row = session.get(tables.WebhookSubscription, parse_id(webhook_id))
        if row is None:
            raise webhook_not_found(webhook_id)
        return row

    def webhook_deliveries(self, webhook_id: int | str | None = None, *,
                           status: str | None = None, limit: int = 50) -> list[DeliveryRecord]:
        """The delivery log, newest first, each with its attempts."""
        self._require_admin("read the webhook delivery log")
        limit = max(1, min(int(limit), MAX_LOG))
        with self._read() as session:
            query = (select(tables.WebhookOutbox, tables.WebhookSubscription.url)
                     .join(tables.WebhookSubscription,
                           tables.WebhookSubscription.id == tables.WebhookOutbox.subscription_id)
                     .order_by(tables.WebhookOutbox.id.desc()).limit(limit))
            if webhook_id is not None:
                self._subscription(session, webhook_id)
                query = query.where(tables.WebhookOutbox.subscription_id == parse_id(webhook_id))
            if status:
                query = query.where(tables.WebhookOutbox.status == status)
            rows = list(session.execute(query).all())
            logs = self._attempts(session, [row.id for row, _ in rows])
            return [delivery_record(row, url, logs.get(row.id, [])) for row, url in rows]

    def _attempts(self, session: Session, ids: list[int]
                  ) -> dict[int, list[tables.WebhookDelivery]]:
        found: dict[int, list[tables.WebhookDelivery]] = {}
        if ids:
            for attempt in session.execute(
                    select(tables.WebhookDelivery).where(tables.WebhookDelivery.outbox_id.in_(ids))
                    .order_by(tables.WebhookDelivery.id)).scalars():
                found.setdefault(attempt.outbox_id, []).append(attempt)
        return found

    def test_webhook(self, webhook_id: int | str) -> DeliveryRecord:
        """Send a ``ping`` to the subscription now and answer how it went."""
        self._require_admin("manage webhooks")
        now = naive(self.clock())
        with self.db.housekeeping() as session:
            row = self._subscription(session, webhook_id)
            ping = outbox.enqueue_ping(session, row.id, self.actor, now, format_time(now))
            claimed = outbox.claim(session, now, lease=self.policies.webhooks.lease, limit=1,
                                   skip_locked=False, only=ping.id)
        with self._worker() as worker:
            worker.deliver(claimed)
        return self._delivery(ping.id)

    def redeliver(self, delivery_id: int | str) -> DeliveryRecord:
        """Give a dead (or delivered) delivery a fresh round of attempts."""
        self._require_admin("manage webhooks")
        with self.db.housekeeping() as session:
            if outbox.requeue(session, parse_id(delivery_id, "delivery"),
                              naive(self.clock())) is None:
                raise delivery_not_found(delivery_id)
        return self._delivery(parse_id(delivery_id, "delivery"))

    def deliver_webhooks(self, *, limit: int = 100) -> int:
        """Deliver what is due now, in this process (for embedded registries)."""
        self._require_admin("deliver webhooks")
        with self._worker() as worker:
            return worker.run_once(limit)

    def wait_for_events(self, *, after: int = 0, limit: int = 100,
                        wait: float = 30.0) -> list[EventRecord]:
        """The event feed for deployers that cannot receive webhooks: the events after
        ``after``, waiting up to ``wait`` seconds (at most 60) for one to arrive."""
        deadline = time.monotonic() + max(0.0, min(float(wait), MAX_WAIT))
        while True:
            found: list[EventRecord] = self.events(after=after, limit=limit)  # type: ignore[attr-defined]
            remaining = deadline - time.monotonic()
            if found or remaining <= 0:
                return found
            time.sleep(min(POLL_INTERVAL, remaining))

    @contextmanager
    def _worker(self) -> Iterator[DeliveryWorker]:
        worker = DeliveryWorker(self.db, self.policies.webhooks, clock=self.clock)
        try:
            yield worker
        finally:
            worker.close()

    def _delivery(self, outbox_id: int) -> DeliveryRecord:
        with self._read() as session:
            row = session.get(tables.WebhookOutbox, outbox_id)
            if row is None:
                raise delivery_not_found(outbox_id)
            url = session.get_one(tables.WebhookSubscription, row.subscription_id).url
            return delivery_record(row, url, self._attempts(session, [row.id]).get(row.id, []))
