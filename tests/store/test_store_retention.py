"""Retention on a real database: a dry run by default, purges that keep the counter
and the audit tombstone, and blobs removed only when nothing else uses them."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import pytest

from charter.domain.access import Principal
from charter.domain.errors import NotFound, PermissionDenied

NAME = "fraud_detector"
TWO_DAYS = 2 * 86400


@pytest.fixture
def keep_one(tmp_path, make_registry):
    (tmp_path / "charter.toml").write_text("[retention]\nkeep_last = 1\n")
    return make_registry()


def archived_versions(registry, count: int, tmp_path, shared: bytes = b"") -> list[int]:
    """``count`` versions, each with its own file (and ``shared`` bytes, when given), each
    taken None -> Staging -> Archived."""
    numbers = []
    for n in range(count):
        folder = tmp_path / f"model-{n}"
        folder.mkdir()
        (folder / "weights.bin").write_bytes(f"weights {n}".encode() * 100)
        if shared:
            (folder / "vocab.txt").write_bytes(shared)
        version = registry.register(NAME, path=folder).version
        registry.transition(NAME, version, "Staging")
        registry.archive(NAME, version, reason="superseded")
        numbers.append(version)
    return numbers


def age_blobs(registry, seconds: int = TWO_DAYS) -> None:
    """Make every stored blob look written ``seconds`` ago (older than the purge grace)."""
    past = time.time() - seconds
    for info in list(registry.blobs.blobs()):
        os.utime(registry.blobs.path_of(info.digest), (past, past))


def digests_of(registry, version: int) -> set[str]:
    return {f.sha256 for f in registry.get_version(NAME, version).files}


def test_a_dry_run_lists_what_would_go_and_changes_nothing(keep_one, given, tmp_path):
    archived_versions(keep_one, 3, tmp_path)
    before = given.state()
    report = keep_one.retention()
    assert not report.applied
    assert [(d.version, d.purge) for d in report.decisions] == [(3, False), (2, True),
                                                                 (1, True)]
    assert report.decisions[1].reason == "purge: beyond the last 1 Archived versions"
    assert given.state() == before


def test_apply_purges_the_versions_and_keeps_the_counter_and_the_tombstone(
        keep_one, given, tmp_path):
    archived_versions(keep_one, 3, tmp_path)
    report = keep_one.retention(apply=True)
    assert report.applied and [d.version for d in report.purged] == [2, 1]
    assert [v.version for v in keep_one.list_versions(NAME)] == [3]
    with pytest.raises(NotFound):
        keep_one.get_version(NAME, 1)
    model = keep_one.get_model(NAME)
    assert model.last_version == 3
    assert keep_one.register(NAME, "s3://models/fraud/4").version == 4   # 1 and 2 stay retired
    purged = [e for e in keep_one.history(NAME) if e.action == "version_purged"]
    assert [(e.version, e.from_stage) for e in purged] == [(2, "Archived"), (1, "Archived")]
    assert purged[0].payload["policy"] == {"keep_last": 1, "max_age_days": None,
                                           "purge_ever_production": False}
    assert purged[0].reason.startswith("retention policy: purge:")
    assert keep_one.verify_audit().ok
    assert [e.action for e in keep_one.history(NAME, 1)] == [    # the tombstone stays
        "version_registered", "stage_changed", "stage_changed", "version_purged"]
    assert keep_one.retention(apply=True).purged == []            # idempotent


def test_a_purge_removes_blobs_no_other_version_uses(keep_one, tmp_path):
    versions = archived_versions(keep_one, 2, tmp_path, shared=b"shared vocabulary")
    own = digests_of(keep_one, 1) - digests_of(keep_one, 2)
    shared = digests_of(keep_one, 1) & digests_of(keep_one, 2)
    assert len(own) == 1 and len(shared) == 1 and versions == [1, 2]
    age_blobs(keep_one)
    report = keep_one.retention(apply=True)
    assert report.blobs_removed == 1
    assert not any(keep_one.blobs.exists(d) for d in own)
    assert all(keep_one.blobs.exists(d) for d in shared | digests_of(keep_one, 2))


def test_a_recently_written_blob_is_left_for_gc(keep_one, tmp_path):
    archived_versions(keep_one, 2, tmp_path)
    own = digests_of(keep_one, 1)
    report = keep_one.retention(apply=True)
    assert [d.version for d in report.purged] == [1] and report.blobs_removed == 0
    assert all(keep_one.blobs.exists(d) for d in own)


def test_never_the_rollback_target_or_a_former_production_version_by_default(
        tmp_path, make_registry):
    (tmp_path / "charter.toml").write_text("[retention]\nkeep_last = 0\n")
    registry = make_registry()
    for _ in range(4):
        registry.register(NAME, "s3://models/fraud/1")
    for version in (1, 2, 3):
        registry.transition(NAME, version, "Staging")
        registry.transition(NAME, version, "Production", archive_existing=True)
    registry.transition(NAME, 4, "Staging")
    registry.archive(NAME, 4, reason="rejected")
    reasons = {d.version: d.reason for d in registry.retention().decisions}
    assert reasons == {2: "kept: the rollback target",
                       1: "kept: it was in Production (purge_ever_production is off)",
                       4: reasons[4]}
    assert reasons[4].startswith("purge:")
    registry.set_alias(NAME, "challenger", 4)
    assert registry.retention().decisions[0].reason == "kept: alias @challenger points here"


def test_a_model_override_may_purge_former_production_versions(tmp_path, make_registry):
    (tmp_path / "charter.toml").write_text(
        "[retention]\nkeep_last = 5\n\n[models.fraud_detector.retention]\nkeep_last = 0\n"
        "purge_ever_production = true\n")
    registry = make_registry()
    for _ in range(3):
        registry.register(NAME, "s3://models/fraud/1")
    for version in (1, 2, 3):
        registry.transition(NAME, version, "Staging")
        registry.transition(NAME, version, "Production", archive_existing=True)
    report = registry.retention(apply=True, name=NAME)
    assert [d.version for d in report.purged] == [1]          # 2 is the rollback target
    assert registry.rollback(NAME, reason="v3 misbehaves").version == 2


def test_max_age_purges_by_time_archived_on_the_registry_clock(tmp_path, make_registry):
    (tmp_path / "charter.toml").write_text("[retention]\nmax_age_days = 30\n")
    registry = make_registry()
    from datetime import timedelta

    now = [datetime(2025, 1, 1, tzinfo=UTC)]
    registry.clock = lambda: now[0]
    for version in (1, 2):
        registry.register(NAME, "s3://models/fraud/1")
        registry.transition(NAME, version, "Staging")
        registry.archive(NAME, version, reason="old")
        now[0] += timedelta(days=20)
    assert [d.version for d in registry.retention().purged] == [1]   # 40 and 20 days ago


def test_only_admins_apply_retention(keep_one, tmp_path, given):
    archived_versions(keep_one, 2, tmp_path)
    reader = keep_one.as_principal(Principal("rita", user_id=3))
    before = given.state()
    with pytest.raises(PermissionDenied):
        reader.retention(apply=True)
    assert given.state() == before


def test_a_model_retention_rule_follows_the_model_through_a_rename(tmp_path, make_registry):
    (tmp_path / "charter.toml").write_text("[retention]\nkeep_last = 5\n\n"
                                           "[models.fraud_detector.retention]\nkeep_last = 1\n")
    registry = make_registry()
    archived_versions(registry, 3, tmp_path)
    registry.rename_model(NAME, "fraud_detection_binary", reason="naming review")
    report = registry.retention(name="fraud_detection_binary")
    assert [(d.version, d.purge) for d in report.decisions] == [(3, False), (2, True),
                                                                 (1, True)]
