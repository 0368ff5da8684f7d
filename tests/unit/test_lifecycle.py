"""The stage lifecycle: DESIGN §2.3 (table), §2.4 (one Production), §2.5 (rollback), §2.6."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.domain.errors import Conflict, InvalidInput
from charter.domain.lifecycle import (
    ANY,
    DEFAULT_TABLE,
    STAGES,
    Stage,
    StageChange,
    TransitionTable,
    check_deletable,
    parse_stage,
    plan_rollback,
    plan_transition,
)

N, S, P, A = Stage.NONE, Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED

# DESIGN §2.3, copied cell by cell (rows: from, columns: to) so that a change to
# DEFAULT_TABLE cannot silently agree with itself.
DESIGN_TABLE = {
    N: {S: True, P: False, A: False},
    S: {P: True, A: True, N: False},
    P: {S: True, A: True, N: False},
    A: {S: False, P: False, N: False},
}
ALL_PAIRS = list(itertools.product(STAGES, STAGES))
stages = st.sampled_from(STAGES)


# --- stages -------------------------------------------------------------------------------

def test_stages_are_the_four_canonical_names_in_order():
    assert [s.value for s in STAGES] == ["None", "Staging", "Production", "Archived"]
    assert Stage.PRODUCTION == "Production" and f"{Stage.ARCHIVED}" == "Archived"


@pytest.mark.parametrize(
    "text, stage",
    [("production", P), ("PRODUCTION", P), ("Production", P), ("none", N), ("NONE", N),
     ("staging", S), ("ArChIvEd", A)],
)
def test_parse_stage_is_case_insensitive(text, stage):
    assert parse_stage(text) is stage


@pytest.mark.parametrize("text", ["", "prod", "Production ", " staging", "deleted", "latest", "1"])
def test_parse_stage_refuses_anything_else_and_names_the_stages(text):
    with pytest.raises(InvalidInput) as caught:
        parse_stage(text)
    assert caught.value.code == "stage.unknown"
    for stage in STAGES:
        assert stage.value in caught.value.hint


def test_parse_stage_refuses_non_text():
    with pytest.raises(InvalidInput):
        parse_stage(None)  # type: ignore[arg-type]


# --- the table ----------------------------------------------------------------------------

@pytest.mark.parametrize("from_stage, to_stage", ALL_PAIRS)
def test_default_table_agrees_with_design_for_every_pair(from_stage, to_stage):
    if from_stage == to_stage:
        with pytest.raises(Conflict) as caught:
            DEFAULT_TABLE.check(from_stage, to_stage)
        assert caught.value.code == "stage.unchanged"
    elif DESIGN_TABLE[from_stage][to_stage]:
        DEFAULT_TABLE.check(from_stage, to_stage)
    else:
        with pytest.raises(Conflict) as caught:
            DEFAULT_TABLE.check(from_stage, to_stage)
        assert caught.value.code == "stage.illegal_transition"
        assert caught.value.details["allowed"] == [
            s.value for s in STAGES if DESIGN_TABLE[from_stage].get(s)
        ]


def test_illegal_transition_message_and_hint_name_the_allowed_moves():
    with pytest.raises(Conflict) as caught:
        DEFAULT_TABLE.check(N, P, name="fraud_detector", version=3)
    err = caught.value
    assert err.message == "Version 3 of fraud_detector cannot move from None to Production"
    assert err.hint == "from None the allowed moves are: Staging"
    assert err.details == {"from": "None", "to": "Production", "allowed": ["Staging"]}


def test_archived_to_production_points_at_rollback():
    with pytest.raises(Conflict) as caught:
        DEFAULT_TABLE.check(A, P)
    assert "rollback" in caught.value.hint


def test_allowed_from_is_in_canonical_order():
    assert DEFAULT_TABLE.allowed_from(P) == [S, A]
    assert DEFAULT_TABLE.allowed_from(S) == [P, A]
    assert DEFAULT_TABLE.allowed_from(A) == []


configurable_edges = st.sets(
    st.sampled_from([(f, t) for f, t in ALL_PAIRS if f != t and (f, t) != (A, P)]), max_size=6
)


@settings(max_examples=50, deadline=None)
@given(extra=configurable_edges, case=st.sampled_from([str.lower, str.upper, str]))
def test_with_edges_adds_exactly_the_given_edges(extra, case):
    table = DEFAULT_TABLE.with_edges((case(f.value), case(t.value)) for f, t in extra)
    assert table.edges == DEFAULT_TABLE.edges | extra
    for from_stage, to_stage in ALL_PAIRS:
        expected = (from_stage, to_stage) in DEFAULT_TABLE.edges | extra
        try:
            table.check(from_stage, to_stage)
            allowed = True
        except Conflict:
            allowed = False
        assert allowed == expected


def test_with_edges_leaves_the_original_table_alone():
    table = DEFAULT_TABLE.with_edges([("None", "Archived")])
    table.check(N, A)
    with pytest.raises(Conflict):
        DEFAULT_TABLE.check(N, A)


@pytest.mark.parametrize(
    "edge", [("Archived", "Production"), ("Staging", "Staging"), ("None", "Deleted"), ("None",)]
)
def test_with_edges_refuses_bad_or_reserved_edges(edge):
    with pytest.raises(InvalidInput):
        DEFAULT_TABLE.with_edges([edge])


def test_table_is_data():
    table = TransitionTable(frozenset({(N, A)}))
    table.check(N, A)
    assert table.allowed_from(N) == [A]


# --- delete -------------------------------------------------------------------------------

@pytest.mark.parametrize("stage", [N, S, P])
def test_only_archived_versions_are_deletable(stage):
    with pytest.raises(Conflict) as caught:
        check_deletable(stage, name="fraud_detector", version=7)
    assert caught.value.code == "version.not_deletable"
    assert "archive it first" in caught.value.hint
    assert "7" in caught.value.message and stage.value in caught.value.message
    check_deletable(A, name="fraud_detector", version=7)


# --- plan_transition ----------------------------------------------------------------------

def plan(**overrides):
    args = dict(name="fraud_detector", version=43, current=S, target=P, production=None,
                archive_existing=False)
    args.update(overrides)
    return plan_transition(**args)


def test_promote_into_empty_production():
    assert plan() == [StageChange(43, S, P)]


def test_promote_refused_while_production_is_taken():
    with pytest.raises(Conflict) as caught:
        plan(production=12)
    err = caught.value
    assert err.code == "stage.production_taken"
    assert "v12" in err.message
    assert err.hint == "pass archive_existing=true to archive v12 in the same step, or roll back"


def test_promote_with_archive_existing_archives_the_old_version_first():
    assert plan(production=12, archive_existing=True) == [
        StageChange(12, P, A),
        StageChange(43, S, P),
    ]


def test_archive_existing_is_irrelevant_for_other_targets():
    assert plan(target=A, production=12, archive_existing=True) == [StageChange(43, S, A)]


def test_illegal_move_is_refused_before_production_is_considered():
    with pytest.raises(Conflict) as caught:
        plan(current=N, production=12, archive_existing=True)
    assert caught.value.code == "stage.illegal_transition"


def test_precondition_failure_names_both_versions():
    with pytest.raises(Conflict) as caught:
        plan(production=44, archive_existing=True, expect_production=42)
    err = caught.value
    assert err.code == "stage.precondition_failed"
    assert err.message == "Production of fraud_detector is v44, not v42 as expected"
    assert err.details == {"expected": 42, "actual": 44}


def test_precondition_is_checked_before_the_table():
    with pytest.raises(Conflict) as caught:
        plan(current=N, production=44, expect_production=42)
    assert caught.value.code == "stage.precondition_failed"


def test_precondition_none_means_production_must_be_empty():
    assert plan(expect_production=None) == [StageChange(43, S, P)]
    with pytest.raises(Conflict) as caught:
        plan(production=12, archive_existing=True, expect_production=None)
    assert "v12, not empty" in caught.value.message


def test_precondition_that_holds_lets_the_promotion_through():
    changes = plan(production=42, archive_existing=True, expect_production=42)
    assert changes == [StageChange(42, P, A), StageChange(43, S, P)]
    assert repr(ANY) == "ANY"


def test_configured_table_is_used():
    table = DEFAULT_TABLE.with_edges([("None", "Archived")])
    assert plan(current=N, target=A, table=table) == [StageChange(43, N, A)]


@st.composite
def registries(draw):
    """Versions 1..8 in any stage, at most one of them in Production."""
    registry = draw(st.dictionaries(st.integers(1, 8), st.sampled_from([N, S, A]), min_size=1))
    if draw(st.booleans()):
        registry[draw(st.sampled_from(sorted(registry)))] = P
    return registry


@settings(max_examples=50, deadline=None)
@given(
    registry=registries(),
    pick=st.integers(0, 7),
    target=stages,
    archive_existing=st.booleans(),
    expect=st.one_of(st.just(ANY), st.none(), st.integers(1, 8)),
)
def test_plan_transition_never_yields_two_production_versions(
    registry, pick, target, archive_existing, expect
):
    version = sorted(registry)[pick % len(registry)]
    production = next((v for v, s in registry.items() if s is P), None)
    try:
        changes = plan(version=version, current=registry[version], target=target,
                       production=production, archive_existing=archive_existing,
                       expect_production=expect)
    except Conflict:
        return
    after = dict(registry)
    for change in changes:
        assert after[change.version] is change.from_stage  # every change starts from the truth
        after[change.version] = change.to_stage
    assert list(after.values()).count(P) <= 1
    assert after[version] is target
    assert all(
        (c.from_stage, c.to_stage) in DEFAULT_TABLE.edges for c in changes
    )


# --- plan_rollback ------------------------------------------------------------------------

def test_rollback_restores_the_previous_production_version():
    changes = plan_rollback(
        name="fraud_detector", production=43, stages={41: A, 42: A, 43: P},
        production_history=[41, 42, 43],
    )
    assert changes == [StageChange(43, P, S), StageChange(42, A, P)]


def test_rollback_skips_predecessors_that_are_no_longer_archived():
    changes = plan_rollback(
        name="fraud_detector", production=43, stages={41: A, 42: S, 43: P},
        production_history=[41, 42, 43, 42, 43],
    )
    assert changes[1] == StageChange(41, A, P)


def test_rollback_without_production_is_refused():
    with pytest.raises(Conflict) as caught:
        plan_rollback(name="fraud_detector", production=None, stages={1: A},
                      production_history=[1])
    assert caught.value.code == "rollback.no_production"


def test_rollback_without_archived_predecessor_is_refused():
    with pytest.raises(Conflict) as caught:
        plan_rollback(name="fraud_detector", production=2, stages={1: S, 2: P, 3: A},
                      production_history=[1, 2])
    err = caught.value
    assert err.code == "rollback.no_target"
    assert "Archived" in err.hint and "Production" in err.hint


@settings(max_examples=50, deadline=None)
@given(
    registry=registries(),
    history=st.lists(st.integers(1, 10), max_size=12),
)
def test_rollback_swaps_exactly_production_and_one_archived_version(registry, history):
    production = next((v for v, s in registry.items() if s is P), None)
    try:
        changes = plan_rollback(name="m", production=production, stages=registry,
                                production_history=history)
    except Conflict as err:
        assert err.code in {"rollback.no_production", "rollback.no_target"}
        return
    demoted, restored = changes
    assert demoted == StageChange(production, P, S)
    assert restored.from_stage is A and restored.to_stage is P
    assert registry[restored.version] is A and restored.version in history
    assert restored.version != production
    later = history[len(history) - history[::-1].index(restored.version):]
    assert all(registry.get(v) is not A or v == production for v in later)
