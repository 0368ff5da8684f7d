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

from charter.domain import error_codes as codes
from charter.domain import events
from charter.domain.errors import NotFound
from charter.domain.events import format_time
from charter.domain.records import EventRecord
from charter.domain.webhooks import (
    DeliveryRecord,
    WebhookRecord,
    check_secret,
    check_url,
    parse_event_filter,
    redact_url,
)
from charter.service.base import ServiceBase
from charter.service.delivery import DeliveryWorker
from charter.service.queries import event_feed
from charter.store import webhooks
from charter.store.database import OrmRead, WriteTx

MAX_LOG = 500
MAX_WAIT = 60.0        # seconds a long poll of the event feed may wait
POLL_INTERVAL = 0.5


def webhook_not_found(webhook_id: object) -> NotFound:
    return NotFound(codes.WEBHOOK_NOT_FOUND, f"There is no webhook {str(webhook_id)[:40]}",
                    "list them with `charter webhook list`", {"id": str(webhook_id)[:40]})


def parse_id(value: int | str, what: str = "webhook") -> int:
    text = str(value).strip().lstrip("#")
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**31:
        raise (webhook_not_found(value) if what == "webhook" else delivery_not_found(value))
    return int(text)


def delivery_not_found(delivery_id: object) -> NotFound:
    return NotFound(codes.DELIVERY_NOT_FOUND, f"There is no delivery {str(delivery_id)[:40]}",
                    "list them with `charter webhook deliveries`", {"id": str(delivery_id)[:40]})


class WebhooksMixin(ServiceBase):
    def add_webhook(self, url: str, *, secret: str = "", events_filter: str | list[str] = "",
                    description: str = "") -> WebhookRecord:
        """Subscribe ``url`` to the events named (all when none); admins only."""
        self._require_admin("manage webhooks")
        url = check_url(url)
        wanted = parse_event_filter(events_filter)
        generated = not secret
        secret = secrets.token_hex(32) if generated else check_secret(secret)
        with self._write() as tx:
            record = webhooks.subscribe(tx, url, secret=secret, events=wanted,
                                        description=description[:500], created_by=self.actor,
                                        now=tx.now, show_secret=generated)
            tx.record(events.NewEvent(events.WEBHOOK_CREATED, "", payload={
                "webhook": record.id, "url": redact_url(url), "events": list(wanted) or ["*"]}))
            return record

    def list_webhooks(self) -> list[WebhookRecord]:
        self._require_admin("manage webhooks")
        with self._read_session() as session:
            return webhooks.subscriptions(session)

    def get_webhook(self, webhook_id: int | str) -> WebhookRecord:
        self._require_admin("manage webhooks")
        with self._read_session() as session:
            return _subscription(session, webhook_id)

    def remove_webhook(self, webhook_id: int | str) -> None:
        """Unsubscribe; its pending deliveries and its delivery log go with it."""
        self._require_admin("manage webhooks")
        with self._write() as tx:
            record = _subscription(tx, webhook_id)
            webhooks.unsubscribe(tx, record.id)
            tx.record(events.NewEvent(events.WEBHOOK_DELETED, "", payload={
                "webhook": record.id, "url": redact_url(record.url)}))

    def webhook_deliveries(self, webhook_id: int | str | None = None, *,
                           status: str | None = None, limit: int = 50) -> list[DeliveryRecord]:
        """The delivery log, newest first, each with its attempts."""
        self._require_admin("read the webhook delivery log")
        limit = max(1, min(int(limit), MAX_LOG))
        with self._read_session() as session:
            subscription_id = (_subscription(session, webhook_id).id
                               if webhook_id is not None else None)
            return webhooks.deliveries(session, subscription_id=subscription_id,
                                       status=status or None, limit=limit)

    def outbox_counts(self) -> dict[str, int]:
        """Outbox rows by status (``pending``: the backlog, ``dead``: given up), for the
        server's metrics. Counts only, no content: the /metrics route checks its own right."""
        with self._read_session() as session:
            return webhooks.outbox_counts(session)

    def test_webhook(self, webhook_id: int | str) -> DeliveryRecord:
        """Send a ``ping`` to the subscription now and answer how it went."""
        self._require_admin("manage webhooks")
        now = self.clock()
        with self.db.housekeeping() as session:
            target = _subscription(session, webhook_id)
            ping = webhooks.enqueue_ping(session, target.id, self.actor, now, format_time(now))
            claimed = webhooks.claim(session, now, lease=self.policies.webhooks.lease,
                                     limit=1, skip_locked=False, only=ping)
        with self._worker() as worker:
            worker.deliver(claimed)
        return self._delivery(ping)

    def redeliver(self, delivery_id: int | str) -> DeliveryRecord:
        """Give a dead (or delivered) delivery a fresh round of attempts."""
        self._require_admin("manage webhooks")
        with self.db.housekeeping() as session:
            if not webhooks.requeue(session, parse_id(delivery_id, "delivery"), self.clock()):
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
            found = event_feed(self, after=after, limit=limit)
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
        with self._read_session() as session:
            found = webhooks.delivery(session, outbox_id)
        if found is None:
            raise delivery_not_found(outbox_id)
        return found


def _subscription(conn: OrmRead | WriteTx, webhook_id: int | str) -> WebhookRecord:
    found = webhooks.subscription(conn, parse_id(webhook_id))
    if found is None:
        raise webhook_not_found(webhook_id)
    return found
