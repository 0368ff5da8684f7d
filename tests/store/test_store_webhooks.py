"""Webhooks on a real database: the outbox is written in the event's own transaction,
and workers claim, sign, retry and dead-letter deliveries (the receiver is an
in-process httpx transport here; tests/e2e has a real one)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from charter.domain import events
from charter.domain.access import Principal, Role
from charter.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from charter.domain.webhooks import WebhookSettings, verify
from charter.service.delivery import DeliveryWorker
from charter.store import tables

NAME = "fraud_detector"
SECRET = "a-shared-secret-of-some-length"
URL = "http://127.0.0.1:9/hook"


class Receiver:
    """Answers ``statuses`` in turn (then 200) and keeps what it was sent."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            status = self.statuses.pop(0) if self.statuses else 200
        return httpx.Response(status, text="ok" if status < 300 else "nope")

    def bodies(self) -> list[dict]:
        return [json.loads(r.content) for r in self.requests]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def worker_for(registry, receiver: Receiver, clock=None, **settings) -> DeliveryWorker:
    base = {"backoff_base": 10.0, "max_attempts": 3, **settings}
    return DeliveryWorker(registry.db, WebhookSettings(**base), clock=clock or registry.clock,
                          client=httpx.Client(transport=httpx.MockTransport(receiver)))


def outbox_rows(registry) -> list[tables.WebhookOutbox]:
    with registry.db.read() as session:
        return list(session.execute(select(tables.WebhookOutbox)
                                    .order_by(tables.WebhookOutbox.id)).scalars())


def count(registry, table) -> int:
    with registry.db.read() as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()


def test_only_admins_manage_webhooks(registry):
    reader = registry.as_principal(Principal("rita", user_id=3))
    with pytest.raises(PermissionDenied) as refused:
        reader.add_webhook(URL, secret=SECRET)
    assert refused.value.code == "access.admin_only"
    with pytest.raises(PermissionDenied):
        reader.list_webhooks()


@pytest.mark.parametrize("use_case", [
    lambda s, hook: s.get_webhook(hook), lambda s, hook: s.remove_webhook(hook),
    lambda s, hook: s.test_webhook(hook), lambda s, hook: s.redeliver(1),
    lambda s, hook: s.webhook_deliveries(hook), lambda s, hook: s.webhook_deliveries(),
    lambda s, hook: s.deliver_webhooks(),
], ids=["get", "remove", "test", "redeliver", "deliveries", "all_deliveries", "deliver"])
def test_every_webhook_use_case_refuses_a_non_admin_before_touching_anything(registry,
                                                                             use_case):
    hook = registry.add_webhook(URL, secret=SECRET).id
    registry.register(NAME, "s3://models-bucket/fraud/1")  # one delivery waiting
    before = [(r.id, r.status, r.attempts) for r in outbox_rows(registry)]
    owner_everywhere = registry.as_principal(Principal("olga", user_id=8,
                                                       registry_role=Role.OWNER))
    with pytest.raises(PermissionDenied) as refused:
        use_case(owner_everywhere, hook)
    assert refused.value.code == "access.admin_only"
    assert [(r.id, r.status, r.attempts) for r in outbox_rows(registry)] == before
    assert [w.id for w in registry.list_webhooks()] == [hook]


def test_a_subscription_shows_its_secret_masked_and_a_generated_one_once(registry):
    given = registry.add_webhook(URL, secret=SECRET, events_filter="stage_changed")
    assert given.secret == "" and given.secret_hint == "a-sh…"
    generated = registry.add_webhook(URL)
    assert len(generated.secret) == 64
    listed = registry.list_webhooks()
    assert [w.secret for w in listed] == ["", ""]
    assert SECRET not in json.dumps([w.to_dict() for w in listed])
    assert listed[0].events == ("stage_changed",) and listed[1].events == ()


def test_adding_and_removing_a_subscription_is_audited(registry):
    hook = registry.add_webhook(URL, secret=SECRET)
    registry.remove_webhook(hook.id)
    feed = registry.events()
    assert [(e.action, e.model, e.payload["url"]) for e in feed] == [   # path redacted
        ("webhook_created", "", "http://127.0.0.1:9/…"),
        ("webhook_deleted", "", "http://127.0.0.1:9/…")]
    with pytest.raises(NotFound):
        registry.get_webhook(hook.id)


def test_a_removed_subscription_is_not_sent_its_own_removal(registry):
    staying = registry.add_webhook(URL, secret=SECRET)
    leaving = registry.add_webhook(URL, secret=SECRET)
    registry.remove_webhook(leaving.id)
    # The removed one's deliveries went with it, and it was sent no word of its removal.
    assert [(r.subscription_id, r.action) for r in outbox_rows(registry)] == [
        (staying.id, "webhook_created"), (staying.id, "webhook_created"),
        (staying.id, "webhook_deleted")]
    assert [w.id for w in registry.list_webhooks()] == [staying.id]


def test_bad_urls_and_unknown_events_are_refused(registry):
    with pytest.raises(InvalidInput):
        registry.add_webhook("file:///etc/passwd", secret=SECRET)
    with pytest.raises(InvalidInput) as refused:
        registry.add_webhook(URL, secret=SECRET, events_filter="stage_change")
    assert refused.value.code == "webhook.events_unknown"


def test_each_event_writes_one_outbox_row_per_matching_subscription(registry):
    every = registry.add_webhook(URL, secret=SECRET)
    stages = registry.add_webhook(URL, secret=SECRET, events_filter=["stage_changed"])
    start = len(outbox_rows(registry))
    version = registry.register(NAME, "s3://models/fraud/1").version
    registry.transition(NAME, version, "Staging", reason="validated")
    rows = outbox_rows(registry)[start:]
    assert [(r.subscription_id, r.action) for r in rows] == [
        (every.id, "model_created"), (every.id, "version_registered"),
        (every.id, "stage_changed"), (stages.id, "stage_changed")]
    seqs = {e.action: e.seq for e in registry.history(NAME)}
    assert rows[1].event_seq == seqs["version_registered"]
    body = json.loads(rows[3].body)
    assert body["event"]["to_stage"] == "Staging" and body["event"]["reason"] == "validated"
    assert body["delivery"] == rows[3].uuid and body["webhook"] == stages.id


def test_a_refused_change_writes_neither_event_nor_delivery(registry, given):
    registry.add_webhook(URL, secret=SECRET)
    version = registry.register(NAME, "s3://models/fraud/1").version
    before = len(outbox_rows(registry))
    with pytest.raises(Conflict):
        registry.transition(NAME, version, "Production")
    assert len(outbox_rows(registry)) == before


def test_outbox_rows_commit_or_roll_back_with_their_events(registry):
    registry.add_webhook(URL, secret=SECRET)
    events_before, outbox_before = count(registry, tables.Event), len(outbox_rows(registry))
    with pytest.raises(RuntimeError), registry.db.write("tester", registry.clock) as tx:
        tx.record(events.NewEvent(events.TAG_SET, NAME, payload={"key": "k"}))
        raise RuntimeError("the use case failed after recording its event")
    assert count(registry, tables.Event) == events_before
    assert len(outbox_rows(registry)) == outbox_before
    with registry.db.write("tester", registry.clock) as tx:
        tx.record(events.NewEvent(events.TAG_SET, NAME, payload={"key": "k"}))
    assert len(outbox_rows(registry)) == outbox_before + 1


def test_the_worker_posts_signed_bodies_and_marks_them_delivered(registry):
    hook = registry.add_webhook(URL, secret=SECRET, events_filter="version_registered")
    registry.register(NAME, "s3://models/fraud/1")
    receiver = Receiver()
    assert worker_for(registry, receiver).run_once() == 1
    [request] = receiver.requests
    assert verify(SECRET, request.content, request.headers["X-Charter-Signature"])
    assert request.headers["X-Charter-Event"] == "version_registered"
    body = json.loads(request.content)
    assert request.headers["X-Charter-Delivery"] == body["delivery"]
    assert body["event"]["model"] == NAME and body["event"]["version"] == 1
    [delivery] = registry.webhook_deliveries(hook.id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == \
        ("delivered", 1, 200)
    assert [(a.attempt, a.ok) for a in delivery.log] == [(1, True)]
    assert worker_for(registry, receiver).run_once() == 0


def test_failures_are_retried_with_backoff_then_dead_lettered_and_can_be_redelivered(registry):
    clock = Clock()
    registry.clock = clock
    registry.add_webhook(URL, secret=SECRET, events_filter="version_registered")
    registry.register(NAME, "s3://models/fraud/1")
    receiver = Receiver(500, 503, 500, 502)
    worker = worker_for(registry, receiver, clock)
    assert worker.run_once() == 1                    # attempt 1 fails
    assert worker.run_once() == 0                    # not due for 10 s
    clock.now += timedelta(seconds=10)
    assert worker.run_once() == 1                    # attempt 2 fails; next in 20 s
    clock.now += timedelta(seconds=19)
    assert worker.run_once() == 0
    clock.now += timedelta(seconds=1)
    assert worker.run_once() == 1                    # attempt 3 of 3 fails: dead
    clock.now += timedelta(days=1)
    assert worker.run_once() == 0
    [delivery] = registry.webhook_deliveries(status="dead")
    assert delivery.attempts == 3 and delivery.last_status_code == 500
    assert [a.status_code for a in delivery.log] == [500, 503, 500]
    assert "HTTP 500" in delivery.last_error
    assert len({r.headers["X-Charter-Delivery"] for r in receiver.requests}) == 1
    assert registry.redeliver(delivery.id).status == "pending"
    assert worker.run_once() == 1                    # 502, retried later
    clock.now += timedelta(seconds=10)
    assert worker.run_once() == 1
    assert registry.webhook_deliveries()[0].status == "delivered"


def test_an_unreachable_receiver_is_a_failed_attempt_not_a_crash(registry):
    registry.add_webhook(URL, secret=SECRET)    # its own webhook_created event is delivered

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    worker = DeliveryWorker(registry.db, WebhookSettings(),
                            client=httpx.Client(transport=httpx.MockTransport(refuse)))
    assert worker.run_once() == 1
    [delivery] = registry.webhook_deliveries()
    assert delivery.status == "pending" and "ConnectError" in delivery.last_error


def test_a_crashed_worker_leaves_its_claim_to_be_retried_after_the_lease(registry):
    clock = Clock()
    registry.clock = clock
    registry.add_webhook(URL, secret=SECRET, events_filter="version_registered")
    registry.register(NAME, "s3://models/fraud/1")
    settings = WebhookSettings(timeout=5.0)
    from charter.store import webhooks

    with registry.db.housekeeping() as session:     # claimed, then the worker "dies"
        claimed = webhooks.claim(session, clock.now.replace(tzinfo=None), lease=settings.lease,
                                 limit=10, skip_locked=False)
    assert len(claimed) == 1
    receiver = Receiver()
    worker = worker_for(registry, receiver, clock, timeout=5.0)
    assert worker.run_once() == 0
    clock.now += settings.lease
    assert worker.run_once() == 1
    assert registry.webhook_deliveries()[0].attempts == 2


def test_concurrent_workers_deliver_each_row_exactly_once(registry):
    registry.add_webhook(URL, secret=SECRET, events_filter="model_created,version_registered")
    for _ in range(12):
        registry.register(NAME, "s3://models/fraud/1")
    receiver = Receiver()
    workers = [worker_for(registry, receiver, batch=3) for _ in range(4)]
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def drain(worker: DeliveryWorker) -> None:
        try:
            barrier.wait(timeout=30)
            for _ in range(50):
                if worker.run_once() == 0:
                    break
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and not any(t.is_alive() for t in threads)
    delivered = [b["delivery"] for b in receiver.bodies()]
    assert len(delivered) == len(set(delivered)) == 13   # 12 registrations + 1 model created
    assert {d.status for d in registry.webhook_deliveries(limit=100)} == {"delivered"}


def test_a_test_delivery_pings_the_receiver_at_once(registry, monkeypatch):
    hook = registry.add_webhook(URL, secret=SECRET, events_filter="stage_changed")
    receiver = Receiver()
    transport = httpx.MockTransport(receiver)
    real_client = httpx.Client
    monkeypatch.setattr(httpx, "Client", lambda **kw: real_client(transport=transport, **kw))
    result = registry.test_webhook(hook.id)
    assert result.status == "delivered" and result.action == "ping"
    [request] = receiver.requests
    assert request.headers["X-Charter-Event"] == "ping"
    assert verify(SECRET, request.content, request.headers["X-Charter-Signature"])


def test_old_delivered_rows_leave_the_log_and_dead_letters_stay(registry):
    clock = Clock()
    registry.clock = clock
    registry.add_webhook(URL, secret=SECRET, events_filter="version_registered")
    registry.register(NAME, "s3://models/fraud/1")
    registry.register(NAME, "s3://models/fraud/2")
    receiver = Receiver(503)                       # the first one fails for good
    worker = worker_for(registry, receiver, clock, max_attempts=1, keep_delivered=86400.0)
    assert worker.run_once() == 2
    assert sorted(d.status for d in registry.webhook_deliveries()) == ["dead", "delivered"]
    clock.now += timedelta(hours=23)
    assert worker.prune() == 0
    clock.now += timedelta(hours=2)
    assert worker.prune() == 1
    assert [d.status for d in registry.webhook_deliveries()] == ["dead"]


def test_a_subscription_removed_while_its_delivery_is_in_flight_is_settled_quietly(registry):
    hook = registry.add_webhook(URL, secret=SECRET, events_filter="version_registered")
    registry.register(NAME, "s3://models/fraud/1")

    def remove_then_answer(request: httpx.Request) -> httpx.Response:
        registry.remove_webhook(hook.id)
        return httpx.Response(200)

    worker = DeliveryWorker(registry.db, WebhookSettings(),
                            client=httpx.Client(transport=httpx.MockTransport(remove_then_answer)))
    assert worker.run_once() == 1
    assert registry.webhook_deliveries() == [] and count(registry, tables.WebhookDelivery) == 0
