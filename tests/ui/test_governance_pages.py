"""Gates and approvals on the version page, and the webhook delivery log, in process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from charter.bootstrap import build_service
from charter.config import Settings
from charter.service import RegistryService
from tests.ui.forms import csrf_token

CONFIG = """
[gates.Production]
required_tags = ["owner"]
checks = ["val_auc >= 0.85"]
approvals = 1

[webhooks]
worker = false
"""
PAGE = "/models/fraud_detector/versions/1"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RegistryService]:
    (tmp_path / "charter.toml").write_text(CONFIG)
    registry = build_service(Settings.load({"home": tmp_path}, env={}), actor="ravi")
    registry.register("fraud_detector", "s3://models/fraud/1",
                      tags={"owner": "@meera", "val_auc": "0.81"})
    registry.transition("fraud_detector", 1, "Staging", reason="validated")
    yield registry
    registry.db.dispose()


def test_the_version_page_shows_every_gate_of_its_next_moves(call):
    page = call("GET", PAGE)
    assert page.status_code == 200
    assert "Gates and approvals" in page.text
    assert "check:val_auc &gt;= 0.85</code> — val_auc is 0.81; needs &gt;= 0.85" in page.text
    assert "<code>tag:owner</code> — owner = @meera" in page.text
    assert "Request approval for Production" in page.text


def test_approvals_are_requested_and_decided_from_the_version_page(call, service):
    token = csrf_token(call("GET", PAGE).text)
    asked = call("POST", PAGE + "/approvals", actor="alice",
                 data={"stage": "Production", "reason": "ready", "csrf_token": token})
    assert asked.status_code == 303
    page = call("GET", PAGE)
    assert "Approve or reject the move to Production" in page.text
    own = call("POST", PAGE + "/approvals/approve", actor="alice",
                data={"stage": "Production", "reason": "mine", "csrf_token": token})
    assert own.status_code == 403 and "approval.self_approval" in own.text
    ok = call("POST", PAGE + "/approvals/approve", actor="bob",
              data={"stage": "Production", "reason": "lgtm", "csrf_token": token})
    assert ok.status_code == 303
    [record] = service.list_approvals("fraud_detector")
    assert record.status == "approved" and record.approvers == ["bob (unverified)"]
    assert "bob (unverified)</span> approved: <q class=\"why\">lgtm</q>" in call("GET", PAGE).text


def test_the_webhooks_page_lists_subscriptions_and_the_delivery_log(call, service):
    hook = service.add_webhook("http://127.0.0.1:9/hook", secret="s" * 20,
                               events_filter="stage_changed")
    service.transition("fraud_detector", 1, "Archived", reason="rejected")
    page = call("GET", "/webhooks")
    assert page.status_code == 200
    assert "http://127.0.0.1:9/hook" in page.text and "ssss…" in page.text
    assert "s" * 20 not in page.text
    assert "stage_changed</code>" in page.text and "not tried yet" in page.text
    filtered = call("GET", f"/webhooks?webhook={hook.id}&status=dead")
    assert "No deliveries" in filtered.text
