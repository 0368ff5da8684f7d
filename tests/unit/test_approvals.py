"""Four-eyes rules and staleness, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from charter.domain.approvals import (
    APPROVE,
    REJECT,
    ApprovalRecord,
    Decision,
    check_decider,
    facts,
    is_current,
    status_of,
)
from charter.domain.errors import Conflict, PermissionDenied

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def decided(actor: str, decision: str = APPROVE) -> Decision:
    return Decision(actor, decision, "", T0)


def decide(actor: str, decisions=(), registrant: str | None = "ravi",
           not_registrant: bool = True) -> None:
    check_decider(actor, requested_by="alice", registrant=registrant,
                  not_registrant=not_registrant, decisions=list(decisions),
                  subject="fraud_detector v3 -> Production")


def test_the_requester_cannot_approve_their_own_request():
    with pytest.raises(PermissionDenied) as raised:
        decide("alice")
    assert raised.value.code == "approval.self_approval"


def test_the_registrant_cannot_approve_unless_configured_otherwise():
    with pytest.raises(PermissionDenied) as raised:
        decide("ravi")
    assert raised.value.code == "approval.registrant"
    decide("ravi", not_registrant=False)


def test_each_person_decides_once_and_a_rejection_closes_the_request():
    with pytest.raises(Conflict) as raised:
        decide("bob", [decided("bob")])
    assert raised.value.code == "approval.already_decided"
    with pytest.raises(Conflict) as raised:
        decide("bob", [decided("carol", REJECT)])
    assert raised.value.code == "approval.rejected"
    decide("bob", [decided("carol")])


def test_an_approval_counts_only_while_the_version_stays_where_it_was():
    assert is_current(from_stage="Staging", stage_since=T0, stage="Staging",
                      stage_changed_at=T0)
    assert not is_current(from_stage="Staging", stage_since=T0, stage="Production",
                          stage_changed_at=T0 + timedelta(hours=1))
    # left Staging and came back: the same stage, a later arrival
    assert not is_current(from_stage="Staging", stage_since=T0, stage="Staging",
                          stage_changed_at=T0 + timedelta(hours=2))


def test_status_follows_the_decisions_and_the_number_required():
    two = [decided("bob"), decided("carol")]
    assert status_of(current=True, decisions=two[:1], required=2) == "pending"
    assert status_of(current=True, decisions=two, required=2) == "approved"
    assert status_of(current=True, decisions=two[:1], required=0) == "approved"
    assert status_of(current=True, decisions=[*two, decided("dan", REJECT)],
                     required=2) == "rejected"
    assert status_of(current=False, decisions=two, required=2) == "stale"


def test_gate_facts_come_from_the_current_request_only():
    assert not facts(None).requested
    state = facts([decided("bob"), decided("carol", REJECT)])
    assert state.requested and state.approvers == ("bob",) and state.rejected_by == ("carol",)


def test_a_record_round_trips_through_its_wire_form():
    record = ApprovalRecord(7, "fraud_detector", 3, "Staging", "Production", "alice", T0,
                            "ready", "pending", 2, (Decision("bob", APPROVE, "lgtm", T0),))
    assert ApprovalRecord.from_dict(record.to_dict()) == record
    assert record.to_dict()["approvals"] == 1
