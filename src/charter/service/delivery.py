"""The webhook delivery worker: claims due outbox rows, POSTs them signed, settles them.

It runs as a background thread inside ``charter serve`` (one per server process;
replicas share the outbox safely, see ``charter.store.webhooks``) and can be run
once by hand (``charter webhook deliver``). Delivery is at least once: a receiver
deduplicates by the ``X-Charter-Delivery`` id, which is the same on every retry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING

from charter._version import __version__
from charter.domain.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    PENDING,
    PING,
    SIGNATURE_HEADER,
    WebhookSettings,
    backoff,
    sign,
)
from charter.metrics import webhook_delivery
from charter.service.base import utc_now
from charter.store import webhooks
from charter.store.database import Database

if TYPE_CHECKING:  # httpx is imported when a delivery is first sent (see DeliveryWorker)
    import httpx

log = logging.getLogger("charter.webhooks")

SENDERS = 4
PRUNE_EVERY = 3600.0   # seconds between clean-ups of old delivered rows
MAX_PAUSE = 60.0       # the longest wait between passes after repeated failures
MAX_ERROR = 500


def headers_for(claimed: webhooks.Claimed) -> dict[str, str]:
    return {"Content-Type": "application/json", "User-Agent": f"charter-webhooks/{__version__}",
            SIGNATURE_HEADER: sign(claimed.secret, claimed.body.encode()),
            EVENT_HEADER: claimed.action, DELIVERY_HEADER: claimed.uuid,
            "X-Charter-Attempt": str(claimed.attempt)}


def post(client: httpx.Client, claimed: webhooks.Claimed, timeout: float) -> webhooks.Outcome:
    """One attempt: any 2xx is delivered; anything else (or no answer) is a failure."""
    import httpx

    started = time.monotonic()
    try:
        response = client.post(claimed.url, content=claimed.body.encode(),
                               headers=headers_for(claimed), timeout=timeout)
    except httpx.HTTPError as exc:
        return webhooks.Outcome(False, None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR],
                              _ms(started))
    if response.is_success:
        return webhooks.Outcome(True, response.status_code, "", _ms(started))
    return webhooks.Outcome(False, response.status_code,
                          f"HTTP {response.status_code}: {response.text[:200]}", _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


class DeliveryWorker:
    def __init__(self, db: Database, settings: WebhookSettings, *,
                 clock: Callable[[], datetime] = utc_now,
                 client: httpx.Client | None = None) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self._client = client
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def client(self) -> httpx.Client:
        # Made on the first delivery: a server without webhooks never imports httpx (with
        # the CLI libraries it pulls in, ~5 MB in every worker).
        if self._client is None:
            import httpx

            # Redirects are not followed: the subscription names the one place to POST to.
            self._client = httpx.Client(follow_redirects=False)
        return self._client

    def run_once(self, limit: int | None = None) -> int:
        """Deliver what is due now; answers how many deliveries were attempted."""
        with self.db.read() as session:
            if not webhooks.any_due(session, self.clock()):
                return 0
        with self.db.housekeeping() as session:
            claimed = webhooks.claim(session, self.clock(), lease=self.settings.lease,
                                   limit=limit or self.settings.batch,
                                   skip_locked=self.db.dialect == "postgresql")
        self.deliver(claimed)
        return len(claimed)

    def prune(self) -> int:
        """Forget deliveries delivered longer ago than ``keep_delivered``."""
        with self.db.housekeeping() as session:
            return webhooks.prune(session, self.clock() - self.settings.keep)

    def deliver(self, claimed: list[webhooks.Claimed]) -> list[str]:
        """Send claimed deliveries (a few at a time) and settle each; answers their statuses."""
        if not claimed:
            return []
        with ThreadPoolExecutor(min(SENDERS, len(claimed))) as pool:
            outcomes = list(pool.map(
                lambda c: post(self.client, c, self.settings.timeout), claimed))
        statuses = []
        with self.db.housekeeping() as session:
            now = self.clock()
            for item, outcome in zip(claimed, outcomes, strict=True):
                # a test ping is tried once: its answer is what the admin asked for
                retry = (backoff(item.attempt, self.settings.backoff_base,
                                 self.settings.backoff_max)
                         if item.attempt < self.settings.max_attempts and item.action != PING
                         else None)
                statuses.append(webhooks.settle(session, item, outcome, now, retry_in=retry))
                if not outcome.ok:
                    log.info("webhook delivery %s to %s failed (attempt %d): %s", item.uuid,
                             item.url, item.attempt, outcome.error)
        for status in statuses:  # settled and committed: charter_webhook_deliveries_total
            webhook_delivery("retrying" if status == PENDING else status)
        return statuses

    # --- the background thread -----------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="charter-webhooks",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _loop(self) -> None:
        pruned, failures = 0.0, 0
        while not self._stop.is_set():
            try:
                busy = self.run_once() > 0
                if time.monotonic() - pruned > PRUNE_EVERY:
                    pruned = time.monotonic()
                    self.prune()
                failures = 0
            except Exception:  # the database restarting must not end delivery for good
                failures += 1
                log.warning("webhook delivery pass failed (%d in a row); retrying", failures,
                            exc_info=failures == 1)
                busy = False
            if not busy:  # idle: the poll interval; failing: longer and longer, up to a minute
                self._stop.wait(min(MAX_PAUSE, self.settings.poll_interval * 2 ** failures))
