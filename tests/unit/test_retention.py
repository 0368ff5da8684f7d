"""Retention selection: what a policy purges and why the rest stays, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from charter.config import Settings
from charter.domain.errors import InvalidInput
from charter.domain.retention import (
    ArchivedVersion,
    RetentionReport,
    RetentionRule,
    decide_purges,
    parse_retention_policy,
    rollback_target,
)

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def archived(version: int, days_ago: float, **extra) -> ArchivedVersion:
    return ArchivedVersion(version, NOW - timedelta(days=days_ago), **extra)


def purged(rule: RetentionRule, versions, rollback_to=None) -> list[int]:
    return sorted(d.version for d in decide_purges("fraud_detector", rule, versions,
                                            rollback_to=rollback_to, now=NOW) if d.purge)


VERSIONS = [archived(1, 400), archived(2, 200), archived(3, 100), archived(4, 30),
            archived(5, 2)]


def test_keep_last_n_purges_the_older_archived_versions():
    assert purged(RetentionRule(keep_last=2), VERSIONS) == [1, 2, 3]


def test_max_age_purges_versions_archived_longer_ago():
    assert purged(RetentionRule(max_age=timedelta(days=90)), VERSIONS) == [1, 2, 3]


def test_both_rules_purge_only_beyond_the_last_n_and_older_than_d():
    rule = RetentionRule(keep_last=4, max_age=timedelta(days=90))
    assert purged(rule, VERSIONS) == [1]
    rule = RetentionRule(keep_last=1, max_age=timedelta(days=150))
    assert purged(rule, VERSIONS) == [1, 2]


def test_no_rule_purges_nothing():
    decisions = decide_purges("m", RetentionRule(), VERSIONS, rollback_to=None, now=NOW)
    assert not any(d.purge for d in decisions)
    assert decisions[0].reason == "no retention rule applies to this model"


def test_the_rollback_target_and_aliased_versions_are_never_purged():
    versions = [archived(1, 400, aliases=("champion",)), archived(2, 300), archived(3, 200)]
    rule = RetentionRule(keep_last=0, purge_ever_production=True)
    assert purged(rule, versions, rollback_to=2) == [3]
    reasons = {d.version: d.reason for d in decide_purges("m", rule, versions, rollback_to=2,
                                                   now=NOW)}
    assert reasons[1] == "kept: alias @champion points here"
    assert reasons[2] == "kept: the rollback target"


def test_former_production_versions_stay_unless_the_policy_says_so():
    versions = [archived(1, 400, ever_production=True), archived(2, 300)]
    assert purged(RetentionRule(keep_last=0), versions) == [2]
    assert purged(RetentionRule(keep_last=0, purge_ever_production=True), versions) == [1, 2]


def test_keep_last_ranks_by_when_a_version_was_archived_not_by_its_number():
    versions = [archived(9, 300), archived(3, 1)]   # v3 archived after v9
    assert purged(RetentionRule(keep_last=1), versions) == [9]


def test_the_rollback_target_is_the_newest_former_production_version_still_archived():
    stages = {1: "Archived", 2: "Archived", 3: "Staging", 4: "Production"}
    assert rollback_target(4, stages, [1, 2, 3, 4]) == 2
    assert rollback_target(4, {**stages, 2: "Staging"}, [1, 2, 3, 4]) == 1
    assert rollback_target(None, stages, []) is None


def test_a_report_round_trips_and_counts_purges():
    decisions = tuple(decide_purges("m", RetentionRule(keep_last=3), VERSIONS, rollback_to=None,
                             now=NOW))
    report = RetentionReport(False, decisions)
    assert RetentionReport.from_dict(report.to_dict()) == report
    assert report.to_dict()["purge_count"] == 2


def test_retention_is_read_from_a_config_file_with_model_overrides(tmp_path):
    (tmp_path / "charter.toml").write_text(
        "[retention]\nkeep_last = 5\nmax_age_days = 90\n\n"
        "[models.fraud_detector.retention]\nkeep_last = 10\npurge_ever_production = true\n")
    policy = parse_retention_policy(Settings.load({"home": tmp_path}, env={}).extra)
    assert policy.for_model("search_ranker") == RetentionRule(5, timedelta(days=90))
    assert policy.for_model("FRAUD_DETECTOR") == RetentionRule(10, timedelta(days=90), True)


@pytest.mark.parametrize("section", [
    {"keep": 3}, {"keep_last": -1}, {"keep_last": "3"}, {"max_age_days": "90d"},
    {"purge_ever_production": "yes"},
])
def test_a_bad_retention_config_fails_fast(section):
    with pytest.raises(InvalidInput):
        parse_retention_policy({"retention": section})
