"""Audit verification that scales: the verified prefix is remembered (seq and hash), so a
verify walks only the events after it; ``full`` walks everything (docs/governance.md)."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, text, update

from charter.store import events as audit_log
from charter.store import tables
from charter.store.triggers import drop_append_only_triggers

NAME = "fraud_detector"


def _as_attacker(registry, statement) -> None:
    with registry.db.engine.begin() as connection:
        drop_append_only_triggers(connection)
        connection.execute(statement)


def _head(registry) -> int:
    return registry.events(limit=1000)[-1].seq


@pytest.fixture
def verified(registry, given):
    """A registry with some history, verified once in full: the point is at its head."""
    given.versions(NAME, 3)
    given.moved(NAME, 1, "Production")
    report = registry.verify_audit(full=True)
    assert report.ok and report.verified_from == 0
    return registry


@pytest.fixture
def rows_read(monkeypatch):
    """How many event rows the audit walk fetched."""
    counted: list[int] = []
    original = audit_log.chain_rows

    def counting(conn, seq, limit):
        found = original(conn, seq, limit)
        counted.append(len(found))
        return found

    monkeypatch.setattr(audit_log, "chain_rows", counting)
    return counted


def test_a_verify_reads_only_the_events_after_the_remembered_point(verified, given, rows_read):
    registry = verified
    point = _head(registry)
    given.versions(NAME, 4)
    total = _head(registry)

    report = registry.verify_audit()

    assert report.ok
    assert (report.verified_from, report.events_checked) == (point, total)
    assert report.walked == total - point == sum(rows_read)
    assert registry.audit_verified().seq == total


def test_a_verify_with_nothing_new_reads_no_event_and_writes_nothing(verified, rows_read):
    before = verified.audit_verified()
    report = verified.verify_audit()
    assert report.ok and report.walked == 0 and sum(rows_read) == 0
    assert verified.audit_verified() == before


def test_full_walks_every_event_and_is_remembered_as_full(verified, given, rows_read):
    registry = verified
    given.versions(NAME, 2)
    total = _head(registry)
    report = registry.verify_audit(full=True)
    assert (report.ok, report.verified_from, report.walked) == (True, 0, total)
    assert sum(rows_read) == total
    point = registry.audit_verified()
    assert (point.seq, point.full_seq) == (total, total) and point.full_time == point.time


def test_an_old_event_rewritten_before_the_point_passes_a_verify_but_not_full(verified):
    # Documented: a verify trusts the prefix an earlier one proved; --full (and signed
    # checkpoints) catch a rewrite inside it.
    registry = verified
    _as_attacker(registry, update(tables.Event).where(tables.Event.seq == 2)
                 .values(reason="approved by the CTO"))

    assert registry.verify_audit().ok
    report = registry.verify_audit(full=True)
    assert (report.ok, report.first_bad_seq) == (False, 2)


def test_a_new_event_rewritten_after_the_point_is_caught(verified, given):
    registry = verified
    point = _head(registry)
    given.versions(NAME, 3)
    _as_attacker(registry, update(tables.Event).where(tables.Event.seq == point + 2)
                 .values(actor="someone-else"))

    report = registry.verify_audit()

    assert (report.ok, report.first_bad_seq, report.verified_from) == (False, point + 2, point)
    assert registry.audit_verified().seq == point  # a failed verify does not move it


def test_a_new_event_deleted_after_the_point_is_caught(verified, given):
    registry = verified
    point = _head(registry)
    given.versions(NAME, 3)
    _as_attacker(registry, delete(tables.Event).where(tables.Event.seq == point + 1))
    report = registry.verify_audit()
    assert (report.ok, report.first_bad_seq) == (False, point + 1)


def test_the_event_at_the_point_rewritten_makes_the_verify_walk_everything(verified, given):
    registry = verified
    point = _head(registry)
    given.versions(NAME, 1)
    _as_attacker(registry, update(tables.Event).where(tables.Event.seq == point)
                 .values(reason="edited"))

    report = registry.verify_audit()

    assert (report.ok, report.first_bad_seq, report.verified_from) == (False, point, 0)
    assert any(f"remembered at #{point}" in w for w in report.warnings)


def test_a_forged_point_is_not_trusted(verified, given):
    # Someone moves the point past events they altered: its hash does not match the event
    # stored at that seq, so the whole chain is walked and the altered event named.
    registry = verified
    given.versions(NAME, 2)
    head = _head(registry)
    _as_attacker(registry, update(tables.Event).where(tables.Event.seq == head - 1)
                 .values(reason="edited"))
    with registry.db.engine.begin() as connection:
        connection.execute(text("UPDATE audit_verified SET seq = :seq, hash = :hash"),
                           {"seq": head, "hash": "f" * 64})

    report = registry.verify_audit()

    assert (report.ok, report.first_bad_seq) == (False, head - 1)
    assert report.warnings


def test_a_point_beyond_the_head_is_not_trusted(verified):
    registry = verified
    with registry.db.engine.begin() as connection:
        connection.execute(text("UPDATE audit_verified SET seq = seq + 100"))
    report = registry.verify_audit()
    assert report.ok and report.verified_from == 0 and report.warnings


def test_a_verify_on_a_new_registry_walks_from_the_first_event(registry, given):
    assert registry.audit_verified().seq == 0
    given.versions(NAME, 2)
    report = registry.verify_audit()
    assert report.ok and report.verified_from == 0
    assert registry.audit_verified().seq == _head(registry)
