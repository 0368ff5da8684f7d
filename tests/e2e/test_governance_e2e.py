"""Gates, approvals, webhooks and the long-polled event feed against a real `charter serve`
configured by a charter.toml, with a real HTTP receiver on 127.0.0.1 that checks every
signature, fails on purpose, and outlives a server restart."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

import charter
from charter.domain.errors import Conflict, PermissionDenied
from charter.domain.webhooks import verify
from tests.e2e.server import running_server, wait_until

pytestmark = pytest.mark.e2e

SECRET = "e2e-shared-secret-0123456789"
CONFIG = """
[gates.Production]
required_tags = ["owner"]
checks = ["val_auc >= 0.85"]
approvals = 2

[models.churn_predictor.gates.Production]   # no gates for this one
required_tags = []
checks = []
approvals = 0

[webhooks]
poll_interval = 0.1
backoff_base = 0.2
backoff_max = 1.0
max_attempts = 6
timeout = 5
"""


# ---- a webhook receiver ------------------------------------------------------------------

@dataclass
class Received:
    delivery: str
    attempt: int
    action: str
    seq: int | None
    signed: bool
    answered: int


@dataclass
class Receiver:
    """Verifies each signature; ``answer`` decides the status for each request."""

    answer: Callable[[Received], int] = lambda _: 200
    log: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, body: bytes, headers) -> int:  # type: ignore[no-untyped-def]
        event = json.loads(body)["event"]
        item = Received(headers["X-Charter-Delivery"], int(headers["X-Charter-Attempt"]),
                        headers["X-Charter-Event"], event["seq"],
                        verify(SECRET, body, headers["X-Charter-Signature"]), 0)
        with self.lock:
            item.answered = self.answer(item) if item.signed else 401
            self.log.append(item)
        return item.answered

    def delivered(self) -> list[Received]:
        with self.lock:
            return [r for r in self.log if r.answered < 300]


@contextmanager
def receiving(receiver: Receiver) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = receiver.handle(body, self.headers)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def home(tmp_path) -> Path:
    (tmp_path / "charter.toml").write_text(CONFIG)
    return tmp_path


def as_(url: str, actor: str):  # type: ignore[no-untyped-def]
    return charter.connect(url, actor=actor)


# ---- gates and approvals over HTTP ---------------------------------------------------------

def test_a_served_registry_enforces_the_gates_of_its_config_file(home):
    with running_server(home) as url:
        ravi = as_(url, "ravi")
        ravi.register("fraud_detector", "s3://models/fraud/1",
                      tags={"owner": "@meera", "val_auc": "0.81"})
        ravi.transition("fraud_detector", 1, "Staging", reason="validated")
        report = ravi.check_gates("fraud_detector", 1, "Production")
        assert [(r.name, r.passed) for r in report.results] == [
            ("transition", True), ("tag:owner", True), ("check:val_auc >= 0.85", False),
            ("approvals:2", False), ("interface", True)]
        with pytest.raises(Conflict) as refused:
            ravi.transition("fraud_detector", 1, "Production", reason="ship")
        assert refused.value.code == "gate.failed"
        assert refused.value.details["report"] == report.to_dict()

        ravi.set_version_tag("fraud_detector", 1, "val_auc", "0.9")
        as_(url, "alice").request_approval("fraud_detector", 1, "Production", comment="ready")
        with pytest.raises(PermissionDenied):
            as_(url, "alice").approve("fraud_detector", 1, "Production")
        with pytest.raises(PermissionDenied):
            ravi.approve("fraud_detector", 1, "Production")          # the registrant
        as_(url, "bob").approve("fraud_detector", 1, "Production", comment="lgtm")
        with pytest.raises(Conflict):
            ravi.transition("fraud_detector", 1, "Production", reason="ship")
        as_(url, "carol").approve("fraud_detector", 1, "Production")
        assert ravi.transition("fraud_detector", 1, "Production", reason="ship").stage == \
            "Production"
        [record] = ravi.list_approvals("fraud_detector")
        assert [d.actor for d in record.decisions] == ["bob (unverified)", "carol (unverified)"]
        assert record.status == "stale"                 # the version has left Staging
        ravi.close()


# ---- webhooks --------------------------------------------------------------------------

def test_webhooks_are_signed_retried_and_logged(home):
    def fail_first_two(item: Received) -> int:
        return 500 if item.attempt <= 2 and item.action == "stage_changed" else 200

    receiver = Receiver(fail_first_two)
    with receiving(receiver) as hook_url, running_server(home) as url:
        admin = as_(url, "admin")
        hook = admin.add_webhook(hook_url, secret=SECRET,
                                 events_filter="version_registered,stage_changed")
        admin.register("search_ranker", "s3://models/search/1")
        admin.transition("search_ranker", 1, "Staging", reason="validated")
        wait_until(lambda: {r.action for r in receiver.delivered()} ==
                   {"version_registered", "stage_changed"})
        assert all(r.signed for r in receiver.log)
        stage = [r for r in receiver.log if r.action == "stage_changed"]
        assert [(r.attempt, r.answered) for r in stage] == [(1, 500), (2, 500), (3, 200)]
        assert len({r.delivery for r in stage}) == 1     # one delivery id across retries
        wait_until(lambda: all(d.status == "delivered" for d in admin.webhook_deliveries(hook.id)))
        by_action = {d.action: d for d in admin.webhook_deliveries(hook.id)}
        assert [a.status_code for a in by_action["stage_changed"].log] == [500, 500, 200]
        assert [a.status_code for a in by_action["version_registered"].log] == [200]
        ping = admin.test_webhook(hook.id)
        assert ping.status == "delivered" and ping.action == "ping"
        assert receiver.log[-1].action == "ping" and receiver.log[-1].signed
        admin.close()


def test_a_receiver_that_never_answers_well_is_dead_lettered_and_redelivered(home):
    healthy = threading.Event()
    receiver = Receiver(lambda item: 200 if healthy.is_set() else 503)
    with receiving(receiver) as hook_url, running_server(home) as url:
        admin = as_(url, "admin")
        hook = admin.add_webhook(hook_url, secret=SECRET, events_filter="version_registered")
        admin.register("search_ranker", "s3://models/search/1")
        wait_until(lambda: [d.status for d in admin.webhook_deliveries(hook.id)] == ["dead"])
        [dead] = admin.webhook_deliveries(hook.id)
        assert dead.attempts == 6 and dead.last_status_code == 503
        healthy.set()
        admin.redeliver(dead.id)
        wait_until(lambda: admin.webhook_deliveries(hook.id)[0].status == "delivered")
        admin.close()


def test_nothing_is_lost_when_the_server_stops_between_the_event_and_its_delivery(home):
    up = threading.Event()
    receiver = Receiver(lambda item: 200 if up.is_set() else 503)
    with receiving(receiver) as hook_url:
        with running_server(home) as url:
            admin = as_(url, "admin")
            admin.add_webhook(hook_url, secret=SECRET, events_filter="stage_changed,"
                              "version_registered,rolled_back")
            for n in range(3):
                admin.register("churn_predictor", f"s3://models/churn/{n}")
            admin.transition("churn_predictor", 1, "Staging", reason="validated")
            admin.transition("churn_predictor", 1, "Production", reason="ship")
            admin.transition("churn_predictor", 2, "Staging", reason="validated")
            admin.transition("churn_predictor", 2, "Production", archive_existing=True,
                             reason="better")
            admin.rollback("churn_predictor", reason="v2 misbehaves")
            wanted = {e.seq for e in admin.events(limit=1000)
                      if e.action in ("stage_changed", "version_registered", "rolled_back")}
            admin.close()
        assert not receiver.delivered()               # stopped before anything got through
        up.set()
        with running_server(home) as url:             # a new process, the same outbox
            wait_until(lambda: {r.seq for r in receiver.delivered()} == wanted)
    assert all(r.signed for r in receiver.log)
    assert len(wanted) == 10


# ---- the event feed, long-polled --------------------------------------------------------

def test_a_long_poll_returns_as_soon_as_an_event_arrives(home):
    with running_server(home) as url:
        registry = as_(url, "ravi")
        registry.register("fraud_detector", "s3://models/fraud/1")
        last = registry.events(limit=1000)[-1].seq
        with ThreadPoolExecutor(1) as pool:
            started = time.monotonic()
            waiting = pool.submit(registry.wait_for_events, after=last, wait=20)
            time.sleep(1.0)
            assert not waiting.done()
            health = httpx.get(f"{url}/healthz", timeout=2)   # the loop is not blocked
            assert health.status_code == 200
            registry.transition("fraud_detector", 1, "Staging", reason="validated")
            changed = time.monotonic()
            found = waiting.result(timeout=10)
        assert [e.action for e in found] == ["stage_changed"]
        assert time.monotonic() - changed < 2.0 and changed - started >= 1.0
        started = time.monotonic()
        assert registry.wait_for_events(after=found[-1].seq, wait=1) == []
        assert 0.9 <= time.monotonic() - started < 5
        body = httpx.get(f"{url}/api/v1/events", params={"after": 0, "wait": 61})
        assert body.status_code == 400
        registry.close()
