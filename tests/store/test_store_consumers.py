"""Consumers on a real database (SQLite and PostgreSQL): reports riding on resolve and
explicit ones, coalescing, expiry, convergence after a promotion and a rollback, and the
refusal to archive or delete a version a live consumer serves."""

from __future__ import annotations

from datetime import timedelta

import pytest

from charter.domain import error_codes as codes
from charter.domain.access import Principal, Role
from charter.domain.consumers import ConsumerSettings
from charter.domain.errors import Conflict, InvalidInput, PermissionDenied
from charter.domain.events import CONSUMERS_CONVERGED, SERVED_VERSION_FORCED
from charter.store import tables

PROD = "models:/fraud_detector/Production"


@pytest.fixture
def live(registry, given, clock):
    """fraud_detector v1 in Production, v2 in Staging."""
    given.versions("fraud_detector", 2)
    given.moved("fraud_detector", 1, "Production")
    given.moved("fraud_detector", 2, "Staging")
    return registry


def standing(registry, consumer, uri=PROD):
    view = registry.consumers("fraud_detector", include_stale=True)
    return next(c for c in view.consumers if c.consumer == consumer and c.uri == uri)


def converged_events(registry):
    return [e for e in registry.history("fraud_detector") if e.action == CONSUMERS_CONVERGED]


def test_resolve_with_a_consumer_records_what_it_was_answered(live, clock):
    live.resolve(PROD, consumer="checkout-api/eu")
    record = standing(live, "checkout-api/eu")
    assert (record.version, record.expected, record.status) == (1, 1, "current")
    assert record.last_seen == clock.now and record.since == clock.now


def test_an_explicit_report_may_name_an_older_version_than_the_uri_points_at(live):
    record = live.report_consumer("batch-scorer", PROD, version=2)
    assert (record.version, record.expected, record.status) == (2, 1, "lagging")


def test_a_bad_consumer_name_is_refused_before_anything_is_written(live, given):
    before = given.count(tables.ConsumerReport)
    for bad in ("Checkout-API/eu", "checkout api", "/eu", "a/b/c/d/e", "x" * 129, ""):
        with pytest.raises(InvalidInput) as refused:
            live.resolve(PROD, consumer=bad)
        assert refused.value.code == codes.CONSUMER_INVALID
    assert given.count(tables.ConsumerReport) == before


def test_repeats_of_the_same_version_are_coalesced_but_a_new_version_is_written_at_once(
        live, clock, given):
    touch = live.policies.consumers.touch_every
    live.resolve(PROD, consumer="checkout-api/eu")
    first = clock.now
    clock.advance(seconds=1)
    state = given.state()
    for _ in range(20):
        live.resolve(PROD, consumer="checkout-api/eu")
    assert standing(live, "checkout-api/eu").last_seen == first  # nothing written
    assert given.state().head == state.head
    clock.advance(seconds=touch.total_seconds())
    live.resolve(PROD, consumer="checkout-api/eu")
    assert standing(live, "checkout-api/eu").last_seen == clock.now  # touched
    live.transition("fraud_detector", 2, "Production", archive_existing=True, reason="better")
    clock.advance(seconds=1)
    live.resolve(PROD, consumer="checkout-api/eu")  # well within touch_every: still written
    record = standing(live, "checkout-api/eu")
    assert (record.version, record.since) == (2, clock.now)


def test_a_consumer_not_seen_within_expire_after_is_stale_and_blocks_nothing(
        make_registry, given, clock, registry):
    live = registry
    given.versions("fraud_detector", 2)
    given.moved("fraud_detector", 1, "Production")
    live.resolve(PROD, consumer="checkout-api/eu")
    expire = live.policies.consumers.expire_after
    clock.advance(seconds=expire.total_seconds() - 1)
    assert [c.consumer for c in live.consumers("fraud_detector").consumers] == ["checkout-api/eu"]
    clock.advance(seconds=2)
    assert live.consumers("fraud_detector").consumers == []
    assert standing(live, "checkout-api/eu").status == "stale"
    live.transition("fraud_detector", 1, "Archived", reason="retired")  # not refused


def test_expiry_is_configurable(make_registry, tmp_path):
    (tmp_path / "charter.toml").write_text(
        '[consumers]\nexpire_after = "2h"\ntouch_every = "5s"\n')
    registry = make_registry()
    assert registry.policies.consumers == ConsumerSettings(
        expire_after=timedelta(hours=2), touch_every=timedelta(seconds=5))


def test_convergence_after_a_rollback_with_two_consumers_one_lagging(live, clock):
    for consumer in ("checkout-api/eu", "checkout-api/us"):
        live.resolve(PROD, consumer=consumer)
    live.transition("fraud_detector", 2, "Production", archive_existing=True, reason="better")
    clock.advance(seconds=5)
    live.resolve(PROD, consumer="checkout-api/eu")   # switched to v2; us still on v1
    view = live.consumers("fraud_detector")
    (production,) = view.stages
    assert (production.version, production.current, production.lagging) == (
        2, ("checkout-api/eu",), ("checkout-api/us",))
    assert not production.converged
    seen = len(converged_events(live))

    live.rollback("fraud_detector", reason="v2 misbehaves")    # v1 back in Production
    (production,) = live.consumers("fraud_detector").stages
    assert (production.version, production.current, production.lagging) == (
        1, ("checkout-api/us",), ("checkout-api/eu",))
    assert len(converged_events(live)) == seen
    clock.advance(seconds=5)
    live.resolve(PROD, consumer="checkout-api/eu")   # back on v1: everyone serves it
    events = converged_events(live)
    assert len(events) == seen + 1
    assert events[-1].version == 1
    assert events[-1].payload == {"stage": "Production",
                                  "consumers": ["checkout-api/eu", "checkout-api/us"]}
    clock.advance(seconds=120)
    live.resolve(PROD, consumer="checkout-api/us")   # a touch announces nothing new
    live.report_consumer("checkout-api/eu", PROD)
    assert len(converged_events(live)) == seen + 1
    assert live.verify_audit().ok


def test_a_rollback_before_anyone_switched_converges_at_once(live, clock):
    for consumer in ("checkout-api/eu", "checkout-api/us"):
        live.resolve(PROD, consumer=consumer)
    before = len(converged_events(live))
    live.transition("fraud_detector", 2, "Production", archive_existing=True, reason="better")
    live.rollback("fraud_detector", reason="too early")
    events = converged_events(live)
    assert len(events) == before + 1 and events[-1].version == 1


def test_archiving_a_version_a_live_consumer_serves_is_refused_naming_it(live, given, clock):
    live.report_consumer("batch-scorer", "models:/fraud_detector/2")
    state = given.state()
    with pytest.raises(Conflict) as refused:
        live.archive("fraud_detector", 2, reason="replaced")
    assert refused.value.code == codes.VERSION_SERVED
    assert refused.value.details["consumers"] == ["batch-scorer"]
    assert "batch-scorer" in str(refused.value)
    assert given.state() == state


def test_an_owner_may_force_the_archive_with_a_reason_and_it_is_audited(live):
    live.report_consumer("batch-scorer", "models:/fraud_detector/2")
    with pytest.raises(InvalidInput):
        live.archive("fraud_detector", 2, force=True)          # no reason
    record = live.archive("fraud_detector", 2, reason="replaced", force=True)
    assert record.stage == "Archived"
    forced = [e for e in live.history("fraud_detector") if e.action == SERVED_VERSION_FORCED]
    assert forced[-1].payload == {"action": "archive", "consumers": ["batch-scorer"]}
    assert forced[-1].reason == "replaced"


def test_forcing_needs_the_owner_role(live, given):
    live.report_consumer("batch-scorer", "models:/fraud_detector/2")
    editor = live.as_principal(Principal(name="eve", user_id=7, registry_role=Role.MAINTAINER))
    with pytest.raises(PermissionDenied):
        editor.archive("fraud_detector", 2, reason="replaced", force=True)


def test_deleting_a_served_archived_version_is_refused(live, clock):
    live.transition("fraud_detector", 2, "Production", archive_existing=True, reason="better")
    live.report_consumer("checkout-api/eu", PROD, version=1)   # still runs v1 (Archived)
    with pytest.raises(Conflict) as refused:
        live.delete_version("fraud_detector", 1, reason="cleanup")
    assert refused.value.code == codes.VERSION_SERVED
    live.delete_version("fraud_detector", 1, reason="cleanup", force=True)


def test_the_version_a_number_uri_serves_after_a_stage_lookup_is_not_a_second_consumer(live):
    live.resolve(PROD, consumer="checkout-api/eu")
    live.resolve("models:/fraud_detector/1", consumer="checkout-api/eu")  # MLflow's follow-up
    assert [c.uri for c in live.consumers("fraud_detector").consumers] == [PROD]


def test_deleting_a_model_a_live_consumer_serves_is_refused_unless_forced(live):
    live.transition("fraud_detector", 1, "Archived", reason="retire")
    live.report_consumer("batch-scorer", "models:/fraud_detector/1")
    live.transition("fraud_detector", 2, "Archived", reason="retire", force=True)
    with pytest.raises(Conflict) as refused:
        live.delete_model("fraud_detector", reason="product retired")
    assert refused.value.details["consumers"] == ["batch-scorer"]
    live.delete_model("fraud_detector", reason="product retired", force=True)


def test_retention_keeps_a_version_a_live_consumer_serves(make_registry, tmp_path, clock,
                                                          registry, given):
    (tmp_path / "charter.toml").write_text("[retention]\nkeep_last = 0\n"
                                           "purge_ever_production = true\n")
    keeper = make_registry()
    keeper.clock = clock
    given.versions("fraud_detector", 3)
    for version in (1, 2):
        given.moved("fraud_detector", version, "Archived")
    keeper.report_consumer("batch-scorer", "models:/fraud_detector/1")
    decisions = {d.version: d for d in keeper.retention().decisions}
    assert not decisions[1].purge and decisions[1].reason == "kept: served by batch-scorer"
    assert decisions[2].purge
