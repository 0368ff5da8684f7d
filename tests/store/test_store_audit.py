"""The audit trail: an event for every change, append-only, hash-chained (DESIGN §2.7)."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from charter.domain.errors import CharterError
from charter.domain.events import (
    GENESIS_HASH,
    NewEvent,
    canonical_json,
    chain_hash,
    hashed_fields,
)
from charter.domain.records import AuditReport
from charter.store import tables
from charter.store.triggers import drop_append_only_triggers

NAME = "fraud_detector"


def test_every_change_appends_an_event(registry, tmp_path):
    registry.create_model(NAME, description="card fraud", reason="new product")
    registry.register(NAME, "s3://bucket/m1", reason="weekly retrain")
    registry.register(NAME, "s3://bucket/m2")
    registry.update_model(NAME, description="card and wire fraud")
    registry.update_version(NAME, 1, description="baseline")
    registry.set_model_tag(NAME, "team", "payments")
    registry.delete_model_tag(NAME, "team")
    registry.set_version_tag(NAME, 1, "algorithm", "xgboost")
    registry.delete_version_tag(NAME, 1, "algorithm")
    registry.set_alias(NAME, "champion", 1)
    registry.delete_alias(NAME, "champion")
    registry.transition(NAME, 1, "Staging")
    registry.transition(NAME, 1, "Production")
    registry.transition(NAME, 2, "Staging")
    registry.transition(NAME, 2, "Production", archive_existing=True)
    registry.rollback(NAME, reason="regression")
    registry.rename_model(NAME, "fraud_detection_binary", reason="catalogue")
    registry.transition("fraud_detection_binary", 1, "Archived")
    registry.transition("fraud_detection_binary", 2, "Archived")
    registry.delete_version("fraud_detection_binary", 2, reason="leaked labels")
    registry.delete_model("fraud_detection_binary", reason="product retired")

    feed = registry.events(limit=1000)
    assert [e.action for e in feed] == [
        "model_created", "version_registered", "version_registered", "model_updated",
        "version_updated", "tag_set", "tag_deleted", "tag_set", "tag_deleted", "alias_set",
        "alias_deleted", "stage_changed", "stage_changed", "stage_changed",
        "stage_changed", "stage_changed", "rolled_back", "rolled_back", "model_renamed",
        "stage_changed", "stage_changed", "version_deleted", "model_deleted"]
    assert [e.seq for e in feed] == list(range(1, len(feed) + 1))
    assert {e.actor for e in feed} == {"tester"}
    assert feed[0].prev_hash == GENESIS_HASH
    assert all(e.prev_hash == p.hash for p, e in zip(feed, feed[1:], strict=False))
    report = registry.verify_audit()
    assert (report.ok, report.events_checked, report.first_bad_seq) == (True, len(feed), None)


def test_refused_requests_append_no_event(registry, given):
    given.version_in(NAME, "Production")
    count = given.count(tables.Event)
    for attempt in (lambda: registry.transition(NAME, 1, "None"),
                    lambda: registry.delete_version(NAME, 1, reason="x"),
                    lambda: registry.set_alias(NAME, "production", 1),
                    lambda: registry.rollback(NAME, reason="x")):
        with pytest.raises(CharterError):  # each refusal has its own test; here: no event
            attempt()
    assert given.count(tables.Event) == count


def test_actor_is_recorded_per_registry_handle(registry, given):
    given.versions(NAME)
    registry.as_actor("release-bot").transition(NAME, 1, "Staging", reason="nightly")
    assert [e.actor for e in registry.history(NAME)][-1] == "release-bot"
    assert registry.actor == "tester"


@pytest.mark.parametrize("statement", [
    "UPDATE events SET reason = 'nothing to see' WHERE seq = 1",
    "DELETE FROM events WHERE seq = 1",
])
def test_events_cannot_be_updated_or_deleted_in_the_database(registry, given, statement):
    given.versions(NAME)
    before = given.state()
    with pytest.raises(DBAPIError, match="append-only"):
        with registry.db.engine.begin() as connection:
            connection.execute(text(statement))
    assert given.state() == before


WIPE = {"sqlite": "DELETE FROM events", "postgres": "TRUNCATE events CASCADE"}


def test_events_table_cannot_be_wiped(registry, given, backend):
    given.versions(NAME)
    before = given.state()
    with pytest.raises(DBAPIError, match="append-only"):
        with registry.db.engine.begin() as connection:
            connection.execute(text(WIPE[backend]))
    assert given.state() == before
    assert registry.verify_audit().ok


def _as_attacker(registry, statement) -> None:
    """Someone with database access drops the triggers and edits the events table."""
    with registry.db.engine.begin() as connection:
        drop_append_only_triggers(connection)
        connection.execute(statement)


def _event_seq(registry, action: str, version: int | None = None) -> int:
    with registry.db.read() as session:
        query = select(tables.Event.seq).where(tables.Event.action == action)
        if version is not None:
            query = query.where(tables.Event.version == version)
        return session.execute(query.order_by(tables.Event.seq)).scalars().first()


@pytest.fixture
def busy_history(registry, given):
    given.versions(NAME, 3)
    given.moved(NAME, 1, "Production")
    given.moved(NAME, 2, "Staging")
    registry.transition(NAME, 2, "Production", archive_existing=True,
                        reason="better recall on Q3 fraud")
    registry.set_alias(NAME, "champion", 2)
    assert registry.verify_audit().ok
    return registry


def test_rewriting_an_event_is_detected_at_that_event(busy_history):
    registry = busy_history
    seq = _event_seq(registry, "stage_changed", 2)
    _as_attacker(registry, update(tables.Event).where(tables.Event.seq == seq)
                 .values(reason="approved by the CTO"))

    report = registry.verify_audit(full=True)  # busy_history verified past it already

    assert (report.ok, report.first_bad_seq) == (False, seq)
    assert report.events_checked == seq - 1
    assert report.problem


@pytest.mark.parametrize("column, value", [
    ("actor", "someone-else"),
    ("time", "2020-01-01T00:00:00.000000Z"),
    ("to_stage", "Archived"),
    ("payload", '{"alias": "champion", "previous": 9}'),
])
def test_rewriting_any_hashed_field_is_detected(busy_history, column, value):
    registry = busy_history
    seq = _event_seq(registry, "alias_set")
    _as_attacker(registry, update(tables.Event).where(tables.Event.seq == seq)
                 .values({column: value}))
    report = registry.verify_audit()
    assert (report.ok, report.first_bad_seq) == (False, seq)


def test_deleting_an_event_from_the_middle_is_detected(busy_history):
    registry = busy_history
    seq = _event_seq(registry, "version_registered", 2)
    _as_attacker(registry, delete(tables.Event).where(tables.Event.seq == seq))
    report = registry.verify_audit(full=True)
    assert (report.ok, report.first_bad_seq) == (False, seq)


def test_deleting_the_newest_events_is_detected_through_the_chain_head(busy_history):
    registry = busy_history
    last = registry.events(limit=1000)[-1].seq
    _as_attacker(registry, delete(tables.Event).where(tables.Event.seq >= last - 1))
    report = registry.verify_audit()
    assert (report.ok, report.first_bad_seq) == (False, last - 1)


def test_chain_keeps_verifying_after_more_writes(busy_history, given):
    registry = busy_history
    given.versions(NAME, 3)
    registry.rollback(NAME, reason="regression")
    report = registry.verify_audit()
    assert report.ok and report.events_checked == len(registry.events(limit=1000))


def test_verification_walks_across_batch_boundaries(busy_history, given, monkeypatch):
    registry = busy_history
    monkeypatch.setattr("charter.service.checkpoints.AUDIT_BATCH", 4)
    given.versions(NAME, 6)
    total = len(registry.events(limit=1000))
    assert total > 12
    assert registry.verify_audit(full=True) == AuditReport(True, total)

    boundary = 9  # the first event of the third batch
    _as_attacker(registry, delete(tables.Event).where(tables.Event.seq == boundary))
    report = registry.verify_audit(full=True)
    assert (report.ok, report.first_bad_seq) == (False, boundary)


def test_a_forged_event_appended_without_the_chain_head_is_named(busy_history):
    # The attacker appends a well-formed event (correct prev_hash and hash) but cannot
    # move the chain head in the same breath: the forged event is the first bad one.
    registry = busy_history
    last = registry.events(limit=1000)[-1]
    forged = NewEvent("stage_changed", NAME, 3, "None", "Production", "hotfix", {})
    seq, time = last.seq + 1, "2099-01-01T00:00:00.000000Z"
    fields = hashed_fields(seq=seq, time=time, actor="tester", event=forged,
                           correlation_id="f" * 32)
    _as_attacker(registry, insert(tables.Event).values(
        seq=seq, time=time, actor="tester", action=forged.action, model=NAME,
        model_key=NAME, version=3, from_stage="None", to_stage="Production",
        reason="hotfix", correlation_id="f" * 32, payload=canonical_json({}),
        prev_hash=last.hash, hash=chain_hash(last.hash, fields)))

    report = registry.verify_audit()

    assert (report.ok, report.first_bad_seq) == (False, seq)
