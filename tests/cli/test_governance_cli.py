"""charter check / request-approval / approve / reject / approvals / retention / webhook,
in process against an embedded registry configured by a real charter.toml."""

from __future__ import annotations

import json
import os
import time

import pytest
from typer.testing import CliRunner

from charter.cli.main import app

STABLE_ENV = {"COLUMNS": "200", "NO_COLOR": "1"}   # wide and colourless, as tests/cli/conftest

GATES = """
[gates.Production]
required_tags = ["owner"]
checks = ["val_auc >= 0.85"]
approvals = 1

[retention]
keep_last = 1
"""


@pytest.fixture
def as_user(home, monkeypatch):
    """Run a command as a given CHARTER_ACTOR against ``home`` (with GATES)."""
    for key in [k for k in os.environ if k.startswith("CHARTER_")]:
        monkeypatch.delenv(key)
    home.mkdir(parents=True, exist_ok=True)
    (home / "charter.toml").write_text(GATES)
    runner = CliRunner()

    def invoke(actor: str, *args: str):
        return runner.invoke(app, ["--home", str(home), *args],
                             env={**STABLE_ENV, "CHARTER_ACTOR": actor})

    return invoke


def staged(as_user, val_auc: str) -> None:
    assert as_user("ravi", "register", "fraud_detector", "s3://models/fraud/1",
                   "--tag", "owner=@meera", "--tag", f"val_auc={val_auc}").exit_code == 0
    assert as_user("ravi", "promote", "fraud_detector", "1", "--to", "Staging",
                   "--reason", "validated").exit_code == 0


def test_check_prints_every_gate_and_exits_5_when_one_fails(as_user):
    staged(as_user, "0.81")
    result = as_user("ravi", "check", "fraud_detector", "1", "--to", "production")
    assert result.exit_code == 5
    rows = {line.split()[1]: line.split()[0] for line in result.stdout.splitlines()
            if line.startswith(("pass", "FAIL"))}
    assert rows == {"transition": "pass", "tag:owner": "pass", "check:val_auc": "FAIL",
                    "approvals:1": "FAIL", "interface": "pass"}
    assert "[gate.failed]" in result.stderr
    assert "val_auc must be >= 0.85 (it is 0.81)" in result.stderr


def test_a_refused_promotion_prints_the_same_report(as_user):
    staged(as_user, "0.81")
    result = as_user("ravi", "promote", "fraud_detector", "1", "--to", "Production",
                     "--reason", "ship")
    assert result.exit_code == 5
    assert "check:val_auc >= 0.85" in result.stdout and "FAIL" in result.stdout
    assert "[gate.failed]" in result.stderr


def test_the_four_eyes_flow_on_the_command_line(as_user):
    staged(as_user, "0.91")
    assert as_user("alice", "request-approval", "fraud_detector", "1", "--to", "Production",
                   "--comment", "ready").exit_code == 0
    own = as_user("alice", "approve", "fraud_detector", "1", "--to", "Production")
    assert own.exit_code == 6 and "[approval.self_approval]" in own.stderr
    ok = as_user("bob", "approve", "fraud_detector", "1", "--to", "Production",
                 "--comment", "lgtm")
    assert ok.exit_code == 0 and "approved" in ok.stdout
    listing = as_user("ravi", "approvals", "fraud_detector", "--json")
    [record] = json.loads(listing.stdout)
    assert record["status"] == "approved" and record["decisions"][0]["actor"] == "bob"
    assert as_user("ravi", "check", "fraud_detector", "1", "--to", "Production").exit_code == 0
    assert as_user("ravi", "promote", "fraud_detector", "1", "--to", "Production",
                   "--reason", "ship").exit_code == 0


def test_reject_needs_a_comment(as_user):
    staged(as_user, "0.91")
    as_user("alice", "request-approval", "fraud_detector", "1", "--to", "Production")
    assert as_user("bob", "reject", "fraud_detector", "1", "--to", "Production").exit_code == 2
    result = as_user("bob", "reject", "fraud_detector", "1", "--to", "Production",
                     "--comment", "recall dropped")
    assert result.exit_code == 0 and "rejected" in result.stdout


def test_override_gates_needs_a_reason_and_is_audited(as_user):
    staged(as_user, "0.5")
    result = as_user("olga", "promote", "fraud_detector", "1", "--to", "Production",
                     "--reason", "incident 4711", "--override-gates")
    assert result.exit_code == 0, result.stderr
    history = json.loads(as_user("olga", "history", "fraud_detector", "--json").stdout)
    assert [e["action"] for e in history][-2:] == ["gates_overridden", "stage_changed"]


def test_retention_is_a_dry_run_unless_applied(as_user):
    for _ in range(3):
        as_user("ravi", "register", "fraud_detector", "s3://models/fraud/1")
    for version in ("1", "2", "3"):
        as_user("ravi", "promote", "fraud_detector", version, "--to", "Staging", "--reason", "v")
        as_user("ravi", "archive", "fraud_detector", version, "--reason", "old")
        time.sleep(0.01)
    dry = as_user("ravi", "retention")
    assert dry.exit_code == 0 and "Dry run: 2 versions would be purged" in dry.stdout
    assert "v3" in as_user("ravi", "show", "fraud_detector").stdout
    applied = as_user("ravi", "retention", "--apply", "--json")
    assert [d["version"] for d in json.loads(applied.stdout)["decisions"] if d["purge"]] == \
        [2, 1]
    listing = as_user("ravi", "show", "fraud_detector", "--json")
    assert json.loads(listing.stdout)["last_version"] == 3


def test_webhook_commands_manage_subscriptions_and_show_the_log(as_user):
    added = as_user("admin", "webhook", "add", "http://127.0.0.1:9/hook",
                    "--events", "stage_changed,rolled_back", "--json")
    assert added.exit_code == 0, added.stderr
    hook = json.loads(added.stdout)
    assert len(hook["secret"]) == 64 and hook["events"] == ["rolled_back", "stage_changed"]
    listing = as_user("admin", "webhook", "list")
    assert "127.0.0.1:9/hook" in listing.stdout and hook["secret"] not in listing.stdout
    tested = as_user("admin", "webhook", "test", str(hook["id"]))
    assert tested.exit_code == 1 and "ping" in tested.stdout      # nothing listens on :9
    log = json.loads(as_user("admin", "webhook", "deliveries", str(hook["id"]), "--json").stdout)
    assert (log[0]["action"], log[0]["attempts"], log[0]["status"]) == ("ping", 1, "dead")
    assert "ConnectError" in log[0]["last_error"]
    bad = as_user("admin", "webhook", "add", "ftp://example.com/x")
    assert bad.exit_code == 3 and "[webhook.url_invalid]" in bad.stderr
    assert as_user("admin", "webhook", "rm", str(hook["id"])).exit_code == 0
    assert "No webhooks" in as_user("admin", "webhook", "list").stdout
