"""Consumers' pure rules: the name grammar, the settings, standing and convergence; and the
worker's ledger, which decides which lookups are written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from charter.domain import error_codes as codes
from charter.domain.consumers import (
    ConsumerReport,
    ConsumerSettings,
    check_consumer_name,
    converged_on,
    convergence,
    parse_consumer_settings,
    refuse_served,
    served_by,
    standing,
)
from charter.domain.errors import InvalidInput
from charter.service.consumer_ledger import ConsumerLedger

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
SETTINGS = ConsumerSettings()
PROD = "models:/fraud_detector/Production"


@pytest.mark.parametrize("name", [
    "checkout-api/eu", "batch-scorer", "a", "fraud-review/shadow/eu/1", "svc.v2_x/eu-west-1",
    "x" * 64, "/".join(["y" * 31] * 4)])
def test_good_consumer_names_pass(name):
    assert check_consumer_name(name) == name


@pytest.mark.parametrize(("name", "hint"), [
    ("Checkout-API/eu", "use 'checkout-api/eu'"),
    ("checkout api", "segments"),
    ("/eu", "use 'eu'"),
    ("eu/", "use 'eu'"),
    ("a//b", "segments"),
    ("a/b/c/d/e", "segments"),
    ("-svc", "segments"),
    ("svc-", "segments"),
    ("x" * 65, "segments"),
    ("x" * 129, "shorter"),
    ("", "name the deployment"),
    ("caf\u00e9", "segments"),
])
def test_bad_consumer_names_are_refused_with_the_rule(name, hint):
    with pytest.raises(InvalidInput) as refused:
        check_consumer_name(name)
    assert refused.value.code == codes.CONSUMER_INVALID
    assert hint in refused.value.hint


def test_settings_parse_durations_and_refuse_nonsense():
    assert parse_consumer_settings({}) == SETTINGS
    parsed = parse_consumer_settings({"consumers": {"expire_after": "2h", "touch_every": 30}})
    assert parsed == ConsumerSettings(timedelta(hours=2), timedelta(seconds=30))
    for bad in ({"expire_after": "1m", "touch_every": "5m"}, {"touch_every": 0},
                {"expire": "1h"}, {"expire_after": "soon"}):
        with pytest.raises(InvalidInput) as refused:
            parse_consumer_settings({"consumers": bad})
        assert refused.value.code == codes.CONFIG_INVALID


def report(consumer: str, version: int, *, ago: float = 0, uri: str = PROD) -> ConsumerReport:
    seen = NOW - timedelta(seconds=ago)
    return ConsumerReport(consumer, "fraud_detector", uri, version, seen, seen)


def test_standing_is_current_lagging_or_stale():
    assert standing(report("a", 2), 2, NOW, SETTINGS).status == "current"
    assert standing(report("a", 1), 2, NOW, SETTINGS).status == "lagging"
    stale = standing(report("a", 2, ago=86400), 2, NOW, SETTINGS)
    assert stale.status == "stale" and not stale.live


def test_convergence_needs_every_live_consumer_of_the_stage_on_its_version():
    reports = [report("eu", 2), report("us", 1), report("old", 1, ago=90000),
               report("pinned", 1, uri="models:/fraud_detector/1")]
    assert converged_on(reports, "Production", 2, NOW, SETTINGS) is None
    reports[1] = report("us", 2)
    assert converged_on(reports, "Production", 2, NOW, SETTINGS) == ["eu", "us"]
    assert converged_on([], "Production", 2, NOW, SETTINGS) is None
    records = [standing(r, 2 if "Production" in r.uri else 1, NOW, SETTINGS) for r in reports]
    (production,) = convergence(records)
    assert production.converged and production.current == ("eu", "us")


def test_a_served_version_is_refused_naming_its_live_consumers():
    reports = [report("eu", 1), report("pinned", 1, uri="models:/fraud_detector/1"),
               report("gone", 1, ago=90000), report("us", 2)]
    names = served_by(reports, 1, NOW, SETTINGS)
    assert names == ["eu", "pinned"]
    error = refuse_served("fraud_detector", 1, names, "archive", NOW, NOW)
    assert error.code == codes.VERSION_SERVED and "eu, pinned" in error.message
    assert "--force" in error.hint


def test_the_ledger_writes_changes_at_once_and_touches_repeats_at_most_every_interval():
    ledger = ConsumerLedger()
    every = timedelta(seconds=60)
    first = ledger.note("eu", "fraud_detector", PROD, 1, NOW, every)
    assert first is not None and first.change
    assert ledger.note("eu", "fraud_detector", PROD, 1, NOW + timedelta(seconds=59), every) is None
    touch = ledger.note("eu", "fraud_detector", PROD, 1, NOW + timedelta(seconds=60), every)
    assert touch is not None and not touch.change
    switched = ledger.note("eu", "fraud_detector", PROD, 2, NOW + timedelta(seconds=61), every)
    assert switched is not None and switched.change
    ledger.forget(switched)  # a failed write: the next lookup writes again
    assert ledger.note("eu", "fraud_detector", PROD, 2, NOW + timedelta(seconds=62), every)


def test_the_ledger_knows_a_number_lookup_follows_a_stage_lookup():
    ledger = ConsumerLedger()
    every = timedelta(seconds=60)
    ledger.saw_following("eu", "Fraud_Detector", 3, NOW)
    assert ledger.follows("eu", "fraud_detector", 3, NOW + timedelta(seconds=1), every)
    assert not ledger.follows("eu", "fraud_detector", 2, NOW, every)
    assert not ledger.follows("us", "fraud_detector", 3, NOW, every)
    assert not ledger.follows("eu", "fraud_detector", 3, NOW + every, every)
