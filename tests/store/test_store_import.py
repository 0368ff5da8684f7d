"""Importing whole models through the service (``charter import mlflow --apply``).

An imported version is placed straight into its stage, with a ``version_imported``
event naming where it came from; the whole import is one transaction; old names
become redirects, and an old name's old numbers reach the versions they became.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from charter.domain.access import Principal, Role
from charter.domain.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from charter.domain.importing import ImportedModel, ImportedVersion

WHEN = datetime(2024, 10, 1, 12, 30, 15, 123456, tzinfo=UTC)


def imported_model(name: str, stages: list[str], *, redirects: tuple[str, ...] = (),
                   aliases: dict[str, int] | None = None,
                   origins: list[tuple[str, int]] | None = None) -> ImportedModel:
    """``origins``: the (old name, old number) of each version; by default the first
    redirect's (or the name's own) numbers, unchanged."""
    url = "http://mlflow:5000"
    origins = origins or [(redirects[0] if redirects else name, n)
                          for n in range(1, len(stages) + 1)]
    return ImportedModel(
        name=name, description="imported", tags={"team": "payments"}, aliases=aliases or {},
        created_at=WHEN,
        versions=tuple(ImportedVersion(
            version=number, stage=stage, source=f"s3://models-bucket/{name}/{number}",
            run_id="", description=f"old v{number}", tags={"origin": "mlflow"},
            created_at=WHEN, reason=f"imported from MLflow {url}: {old} v{old_number}",
            origin={"registry": "mlflow", "url": url, "name": old, "version": old_number})
            for number, (stage, (old, old_number)) in enumerate(zip(stages, origins, strict=True),
                                                                start=1)),
        redirects={old: f"imported from MLflow {url}: {old}" for old in redirects},
        reason=f"imported from MLflow {url}: {', '.join(redirects) or name}",
        origin={"registry": "mlflow", "url": url})


def test_import_places_versions_in_their_stages_with_origin_events(registry):
    (record,) = registry.import_models([imported_model(
        "payments_risk_model", ["Archived", "Production", "Staging"],
        redirects=("payments_v1",), aliases={"champion": 2})])
    assert record.stages == {"Production": [2], "Staging": [3], "Archived": [1]}
    assert (record.aliases, record.redirects) == ({"champion": 2}, ["payments_v1"])
    version = registry.get_version("payments_risk_model", 1)
    assert version.created_at == WHEN and version.tags == {"origin": "mlflow"}
    events = [e for e in registry.history("payments_risk_model")
              if e.action == "version_imported"]
    assert [(e.version, e.from_stage, e.to_stage) for e in events] == [
        (1, None, "Archived"), (2, None, "Production"), (3, None, "Staging")]
    assert events[0].payload["origin"]["name"] == "payments_v1"
    assert registry.resolve("models:/payments_v1/Production").version.version == 2
    assert registry.verify_audit().ok


def test_an_import_is_all_or_nothing(registry, given):
    before = given.state()
    with pytest.raises(InvalidInput) as refused:
        registry.import_models([imported_model("payments_risk_model", ["Production"]),
                                imported_model("fraud_detector", ["Production", "Production"])])
    assert refused.value.code == "import.conflict"
    with pytest.raises(InvalidInput) as bad_name:
        registry.import_models([imported_model("payments_risk_model", ["Production"]),
                                imported_model("fraud_detector_v2", ["None"])])
    assert bad_name.value.code == "name.invalid"
    assert bad_name.value.message.startswith("fraud_detector_v2: ")
    assert given.state() == before


def test_an_import_refuses_a_taken_name_or_an_old_name_in_use(registry, given):
    given.versions("fraud_detector")
    with pytest.raises(AlreadyExists):
        registry.import_models([imported_model("fraud_detector", ["None"])])
    with pytest.raises(AlreadyExists):
        registry.import_models([imported_model("payments_risk_model", ["None"],
                                               redirects=("fraud_detector",))])
    assert [m.name for m in registry.list_models().items] == ["fraud_detector"]


def test_an_import_refuses_a_retired_name(registry, given):
    given.versions("payments_risk_model")
    registry.delete_model("payments_risk_model", reason="retired")
    with pytest.raises(Conflict) as refused:
        registry.import_models([imported_model("payments_risk_model", ["None"])])
    assert refused.value.code == "name.retired"


def test_rollback_can_return_to_an_imported_production_version(registry):
    registry.import_models([imported_model("payments_risk_model", ["Production", "Staging"])])
    registry.transition("payments_risk_model", 2, "Production", archive_existing=True)
    assert registry.rollback("payments_risk_model", reason="regression").version == 1


def test_as_of_resolution_sees_imported_stages(registry):
    registry.import_models([imported_model("payments_risk_model", ["Archived", "Production"])])
    later = datetime(2100, 1, 1, tzinfo=UTC)
    assert registry.resolve("models:/payments_risk_model/Production",
                            as_of=later).version.version == 2


def test_add_redirect_is_audited_and_refuses_taken_and_retired_names(registry, given):
    given.versions("fraud_detector")
    given.versions("churn_predictor")
    record = registry.add_redirect("fraud_model", "fraud_detector", reason="old deploys")
    assert record.redirects == ["fraud_model"]
    assert registry.history("fraud_detector")[-1].action == "redirect_added"
    assert registry.resolve("models:/fraud_model/1").version.name == "fraud_detector"
    with pytest.raises(AlreadyExists):
        registry.add_redirect("churn_predictor", "fraud_detector", reason="x")
    registry.transition("churn_predictor", 1, "Staging")
    registry.transition("churn_predictor", 1, "Archived")
    registry.delete_model("churn_predictor", reason="gone")
    with pytest.raises(Conflict) as retired:
        registry.add_redirect("churn_predictor", "fraud_detector", reason="x")
    assert retired.value.code == "name.retired"


def test_a_folded_name_and_its_old_number_reach_the_version_it_became(registry):
    registry.import_models([imported_model(
        "payments_risk_model", ["None", "None", "None"], redirects=("payments_v1", "payments_v2"),
        origins=[("payments_v2", 1), ("payments_v1", 1), ("payments_v1", 2)])])
    assert registry.get_version("payments_v1", 1).version == 2
    assert registry.resolve("models:/payments_v2/1").version.version == 1
    moved = registry.transition("payments_v1", 2, "Staging", reason="validate")
    assert (moved.name, moved.version, moved.stage) == ("payments_risk_model", 3, "Staging")
    registry.set_version_tag("payments_v2", 1, "checked", "yes")
    assert registry.get_version("payments_risk_model", 1).tags["checked"] == "yes"
    with pytest.raises(NotFound) as missing:
        registry.resolve("models:/payments_v1/3")
    assert "payments_v1 had no version 3" in missing.value.message
    # A plain rename keeps its numbers.
    registry.rename_model("payments_risk_model", "payments_scorer")
    assert registry.get_version("payments_risk_model", 3).version == 3


def test_approvals_and_gate_checks_through_a_folded_name_reach_the_version_it_became(
        tmp_path, make_registry):
    # As a stage move does: payments_v1's version 2 became payments_risk_model's 3.
    (tmp_path / "charter.toml").write_text("[gates.Staging]\napprovals = 1\n")
    registry = make_registry(actor="ravi")
    registry.import_models([imported_model(
        "payments_risk_model", ["None", "None", "None"], redirects=("payments_v1", "payments_v2"),
        origins=[("payments_v2", 1), ("payments_v1", 1), ("payments_v1", 2)])])
    report = registry.check_gates("payments_v1", 2, "Staging")
    assert (report.name, report.version, report.passed) == ("payments_risk_model", 3, False)
    with pytest.raises(Conflict) as unasked:  # nothing requested yet, for v3
        registry.as_actor("erin").approve("payments_v1", 2, "Staging")
    assert "payments_risk_model v3 -> Staging" in unasked.value.message
    asked = registry.as_actor("alice").request_approval("payments_v1", 2, "Staging")
    assert (asked.name, asked.version, asked.status) == ("payments_risk_model", 3, "pending")
    assert [a.id for a in registry.list_approvals("payments_v1", 2)] == [asked.id]
    assert registry.list_approvals("payments_v2", 1) == []
    decided = registry.as_actor("erin").approve("payments_v1", 2, "Staging")
    assert (decided.id, decided.version, decided.approvers) == (asked.id, 3, ["erin"])
    (requested,) = [e for e in registry.history("payments_risk_model")
                    if e.action == "approval_requested"]
    assert requested.version == 3
    assert registry.check_gates("payments_v1", 2, "Staging").passed
    moved = registry.transition("payments_v1", 2, "Staging")
    assert (moved.version, moved.stage) == (3, "Staging")
    for asking in (lambda: registry.check_gates("payments_v1", 3, "Staging"),
                   lambda: registry.as_actor("alice").request_approval(
                       "payments_v1", 3, "Production"),
                   lambda: registry.as_actor("erin").reject("payments_v1", 3, "Staging",
                                                            comment="no")):
        with pytest.raises(NotFound) as missing:
            asking()
        assert "payments_v1 had no version 3" in missing.value.message


def test_deleting_through_a_folded_name_deletes_the_version_its_old_number_became(registry):
    registry.import_models([imported_model(
        "payments_risk_model", ["Archived", "Archived", "Archived"],
        redirects=("payments_v1", "payments_v2"),
        origins=[("payments_v2", 1), ("payments_v1", 1), ("payments_v1", 2)])])
    registry.delete_version("payments_v1", 1, reason="superseded")
    assert [v.version for v in registry.list_versions("payments_risk_model")] == [3, 1]
    (deleted,) = [e for e in registry.history("payments_risk_model")
                  if e.action == "version_deleted"]
    assert deleted.version == 2
    with pytest.raises(NotFound):
        registry.get_version("payments_v1", 1)
    assert registry.get_version("payments_v2", 1).version == 1


def test_only_an_admin_imports_models(registry, given):
    before = given.state()
    for principal in (Principal("rita", user_id=3),
                      Principal("olga", user_id=8, registry_role=Role.OWNER)):
        with pytest.raises(PermissionDenied) as refused:
            registry.as_principal(principal).import_models(
                [imported_model("payments_risk_model", ["Production"])])
        assert refused.value.code == "access.admin_only"
        assert "only an admin may import models" in refused.value.message
    assert given.state() == before
    registry.create_user("root", admin=True)
    root = registry.as_principal(
        registry.authenticate(registry.create_token("root").secret))
    (record,) = root.import_models([imported_model("payments_risk_model", ["Production"])])
    assert record.stages == {"Production": [1]}


def test_only_an_admin_adds_redirects(registry, given):
    given.versions("fraud_detector")
    before = given.state()
    owner = Principal("olga", user_id=8, registry_role=Role.OWNER)
    with pytest.raises(PermissionDenied) as refused:
        registry.as_principal(owner).add_redirect("fraud_model", "fraud_detector",
                                                  reason="old deploys")
    assert refused.value.code == "access.admin_only"
    assert given.state() == before
    assert registry.add_redirect("fraud_model", "fraud_detector",
                                 reason="old deploys").redirects == ["fraud_model"]
