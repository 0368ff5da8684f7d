"""Webhook signatures, URLs, event filters and the retry schedule, without a network."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pytest

from charter.domain.errors import InvalidInput
from charter.domain.webhooks import (
    WebhookSettings,
    backoff,
    check_secret,
    check_url,
    known_actions,
    mask_secret,
    matches,
    parse_event_filter,
    parse_webhook_settings,
    redact_url,
    sign,
    verify,
)

SECRET = "s3cr3t-s3cr3t-s3cr3t"


def test_the_signature_is_the_hex_hmac_sha256_of_the_exact_body():
    body = b'{"event":{"seq":1}}'
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert sign(SECRET, body) == f"sha256={expected}"
    assert verify(SECRET, body, sign(SECRET, body))


def test_a_changed_body_or_another_secret_fails_verification():
    body = b'{"event":{"seq":1}}'
    header = sign(SECRET, body)
    assert not verify(SECRET, body + b" ", header)
    assert not verify("another-secret-entirely", body, header)
    assert not verify(SECRET, body, "")


def test_secrets_are_never_shown_back_in_full():
    assert mask_secret(SECRET) == "s3cr…"
    assert SECRET not in mask_secret(SECRET)
    with pytest.raises(InvalidInput):
        check_secret("short")


@pytest.mark.parametrize("url", ["https://deployer.internal/hook", "http://127.0.0.1:9000/x"])
def test_http_and_https_urls_are_accepted(url):
    assert check_url(url) == url


@pytest.mark.parametrize("url, code", [
    ("ftp://host/x", "webhook.url_invalid"),
    ("file:///etc/passwd", "webhook.url_invalid"),
    ("gopher://127.0.0.1:6379/_", "webhook.url_invalid"),
    ("https:///nohost", "webhook.url_invalid"),
    ("https://user:pw@host/x", "webhook.url_credentials"),
    ("https://host/a b", "webhook.url_invalid"),
    ("", "webhook.url_invalid"),
])
def test_other_urls_are_refused(url, code):
    with pytest.raises(InvalidInput) as raised:
        check_url(url)
    assert raised.value.code == code


def test_event_filters_name_known_actions_and_empty_means_all():
    assert parse_event_filter("stage_changed, rolled_back") == ("rolled_back", "stage_changed")
    assert parse_event_filter("*") == ()
    assert parse_event_filter(None) == ()
    with pytest.raises(InvalidInput) as raised:
        parse_event_filter("stage_change")
    assert "stage_changed" in raised.value.hint
    for action in ("version_registered", "stage_changed", "rolled_back", "alias_set",
                   "tag_set", "version_deleted", "model_deleted", "version_purged"):
        assert action in known_actions()


def test_a_filter_matches_its_actions_and_every_subscription_gets_pings():
    wanted = parse_event_filter("stage_changed")
    assert matches(wanted, "stage_changed")
    assert not matches(wanted, "tag_set")
    assert matches(wanted, "ping")
    assert matches((), "tag_set")


def test_backoff_doubles_from_the_base_up_to_the_cap():
    waits = [backoff(n, 5, 60) for n in range(1, 6)]
    assert waits == [timedelta(seconds=s) for s in (5, 10, 20, 40, 60)]


def test_webhook_settings_come_from_the_config_section():
    settings = parse_webhook_settings({"webhooks": {"max_attempts": 3, "backoff_base": 0.2,
                                                    "timeout": "2s"}})
    assert settings == WebhookSettings(max_attempts=3, backoff_base=0.2, timeout=2.0)
    with pytest.raises(InvalidInput):
        parse_webhook_settings({"webhooks": {"retries": 3}})
    with pytest.raises(InvalidInput):
        parse_webhook_settings({"webhooks": {"max_attempts": 0}})


def test_the_audit_trail_shows_a_webhook_url_without_its_path():
    assert redact_url("https://hooks.example.com/services/T0/B0/XXXX") == \
        "https://hooks.example.com/…"
    assert redact_url("http://127.0.0.1:9000/?token=abc") == "http://127.0.0.1:9000/…"
    assert redact_url("https://deployer.internal") == "https://deployer.internal"
