"""The access-control commands on the server's machine (the embedded registry).

``charter user create`` is how the first admin is made; tokens are printed once,
alone on stdout; grants and revocations land in the model's history. Against a
server the same commands run with a token (tests/e2e/test_access_e2e.py).
"""

from __future__ import annotations

import json

from charter.domain.access import looks_like_token


def test_the_first_admin_and_its_token_are_made_on_the_servers_machine(cli):
    created = cli("user", "create", "alice", "--admin")
    assert created.exit_code == 0, created.output
    assert "Created admin alice" in created.stdout
    token = cli("token", "create", "--user", "alice", "--expires", "30d", "--note", "laptop")
    assert token.exit_code == 0, token.output
    assert looks_like_token(token.stdout.strip())  # alone on stdout: TOKEN=$(…) works
    listed = cli("token", "list", "--json")
    entries = json.loads(listed.stdout)
    assert [(t["user"], t["note"]) for t in entries] == [("alice", "laptop")]
    assert token.stdout.strip() not in listed.stdout
    assert entries[0]["prefix"] == token.stdout.strip()[:16] and entries[0]["expires_at"]


def test_a_token_needs_a_user_on_the_servers_machine(cli):
    result = cli("token", "create")
    assert result.exit_code == 3
    assert "token.user_required" in result.stderr and "--user" in result.stderr


def test_users_are_unique_and_listed_with_their_kind(cli):
    assert cli("user", "create", "ci-bot", "--service-account").exit_code == 0
    assert cli("user", "create", "sam").exit_code == 0
    again = cli("user", "create", "CI-Bot")
    assert again.exit_code == 5 and "user.exists" in again.stderr
    users = json.loads(cli("user", "list", "--json").stdout)
    assert [(u["name"], u["service_account"], u["admin"]) for u in users] == [
        ("ci-bot", True, False), ("sam", False, False)]
    bad = cli("user", "create", "../etc")
    assert bad.exit_code == 3 and "user.invalid" in bad.stderr


def test_grant_grants_and_revoke_are_audited(cli):
    cli("user", "create", "sam")
    cli("register", "fraud_detector", "s3://models/fraud/1")
    granted = cli("grant", "fraud_detector", "sam", "maintainer", "--reason", "release owner")
    assert granted.exit_code == 0 and "sam is now maintainer on fraud_detector" in granted.stdout
    grants = json.loads(cli("grants", "fraud_detector", "--json").stdout)
    assert [(g["user"], g["role"]) for g in grants] == [("sam", "maintainer")]
    assert cli("revoke", "fraud_detector", "sam", "--reason", "moved teams").exit_code == 0
    history = json.loads(cli("history", "fraud_detector", "--json").stdout)
    access = [(e["action"], e["actor"], e["reason"], e["payload"]) for e in history
              if e["action"].startswith("access_")]
    assert access == [
        ("access_granted", "ci-bot", "release owner",
         {"user": "sam", "role": "maintainer", "previous": None}),
        ("access_revoked", "ci-bot", "moved teams", {"user": "sam", "previous": "maintainer"}),
    ]
    again = cli("revoke", "fraud_detector", "sam")
    assert again.exit_code == 4 and "grant.not_found" in again.stderr


def test_registry_wide_grants_and_bad_roles(cli):
    cli("user", "create", "ci-bot")
    assert cli("grant", "*", "ci-bot", "reader").exit_code == 0
    listed = cli("grants").stdout
    assert "ci-bot" in listed and "reader" in listed and "*" in listed
    bad = cli("grant", "*", "ci-bot", "superuser")
    assert bad.exit_code == 3 and "role.unknown" in bad.stderr
    missing = cli("grant", "no_such_model", "ci-bot", "reader")
    assert missing.exit_code == 4 and "model.not_found" in missing.stderr


def test_revoking_a_token_shows_it_revoked(cli):
    cli("user", "create", "sam")
    cli("token", "create", "--user", "sam")
    token_id = json.loads(cli("token", "list", "--json").stdout)[0]["id"]
    revoked = cli("token", "revoke", str(token_id))
    assert revoked.exit_code == 0 and "Revoked token" in revoked.stdout
    assert "revoked" in cli("token", "list").stdout
    assert cli("token", "revoke", "999").exit_code == 4


def test_serve_beyond_loopback_without_auth_exits_before_listening(cli):
    for host in ("0.0.0.0", "::", "10.1.2.3", "charter.internal", ""):
        result = cli("serve", "--host", host, "--port", "1")
        assert result.exit_code == 3, (host, result.output)
        assert "auth.required_to_listen" in result.stderr
        assert "charter user create alice --admin" in result.stderr
