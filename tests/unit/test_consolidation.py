"""Folding a legacy registry's names into products, and the plan file (no I/O)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from charter.domain.consolidation import (
    NEWEST_PRODUCTION_WINS,
    REFUSE,
    Plan,
    PlannedModel,
    SourceModel,
    SourceRegistry,
    SourceVersion,
    group_names,
    make_plan,
)
from charter.domain.errors import InvalidInput
from charter.domain.history import PastEvent, replay
from charter.domain.importing import import_reason, resolve_plan
from charter.domain.plan_file import plan_from_toml, plan_to_toml

URL = "http://mlflow:5000"
# The seed's "Not this chaos" list.
SEED_CHAOS = ["fraud_detector_v1", "fraud_detector_v2", "fraud_detector_final",
              "fraud_detector_really_final", "fraud_v3_xgboost", "fraud_oct_2024"]


def registry(*versions: tuple[str, int, int, str], aliases=None, tags=None,  # type: ignore[no-untyped-def]
             descriptions=None) -> SourceRegistry:
    """Versions as (name, version, created_ms, stage); a model per name, created first."""
    names = sorted({name for name, *_ in versions})
    models = tuple(SourceModel(name, min(c for n, _, c, _ in versions if n == name) - 1,
                               description=(descriptions or {}).get(name, ""),
                               tags=(tags or {}).get(name, {}),
                               aliases=(aliases or {}).get(name, {})) for name in names)
    return SourceRegistry(URL, models, tuple(
        SourceVersion(name, number, created, stage=stage, source=f"s3://bucket/{name}/{number}")
        for name, number, created, stage in versions))


def test_the_seeds_chaos_names_are_one_product_fraud_detector():
    assert group_names(SEED_CHAOS) == {"fraud_detector": sorted(SEED_CHAOS)}


def test_a_clean_name_in_use_stays_a_product_of_its_own():
    groups = group_names(["fraud", "fraud_v2", "fraud_detector_v1"])
    assert groups == {"fraud": ["fraud", "fraud_v2"], "fraud_detector": ["fraud_detector_v1"]}


def test_a_short_suggestion_matching_two_products_is_not_folded():
    groups = group_names(["fraud_oct_2024", "fraud_detector_v1", "fraud_scorer_v2"])
    assert set(groups) == {"fraud", "fraud_detector", "fraud_scorer"}


def test_a_name_with_no_usable_suggestion_is_kept_for_the_operator():
    plan = make_plan(registry(("my_model", 1, 10, "None")))
    (model,) = plan.models
    assert model.name == "my_model"
    assert any("rename this product before applying" in note for note in model.notes)


def test_versions_are_numbered_by_creation_time_across_old_names():
    plan = make_plan(registry(
        ("fraud_detector_v1", 1, 100, "None"), ("fraud_detector_v2", 1, 200, "None"),
        ("fraud_detector_v1", 2, 300, "None"), ("fraud_detector_final", 1, 400, "None"),
        ("fraud_oct_2024", 1, 500, "None")))
    (model,) = plan.models
    assert model.name == "fraud_detector"
    assert [(v.version, v.mlflow_name, v.mlflow_version) for v in model.versions or ()] == [
        (1, "fraud_detector_v1", 1), (2, "fraud_detector_v2", 1), (3, "fraud_detector_v1", 2),
        (4, "fraud_detector_final", 1), (5, "fraud_oct_2024", 1)]


def test_newest_production_wins_and_the_others_are_archived():
    plan = make_plan(registry(("fraud_detector_v1", 1, 100, "Production"),
                              ("fraud_detector_v2", 1, 200, "Production"),
                              ("fraud_detector_final", 1, 300, "Staging")))
    versions = plan.models[0].versions or ()
    assert [(v.stage, v.mlflow_stage) for v in versions] == [
        ("Archived", "Production"), ("Production", "Production"), ("Staging", "Staging")]
    assert versions[0].note == (f"{NEWEST_PRODUCTION_WINS}: v2 (fraud_detector_v2 v1) keeps "
                                "Production")


def test_the_refuse_rule_keeps_the_conflict_for_the_operator_and_apply_refuses_it():
    source = registry(("fraud_detector_v1", 1, 100, "Production"),
                      ("fraud_detector_v2", 1, 200, "Production"))
    plan = make_plan(source, rule=REFUSE)
    assert [v.stage for v in plan.models[0].versions or ()] == ["Production", "Production"]
    assert any(note.startswith("conflict: 2 versions") for note in plan.models[0].notes)
    with pytest.raises(InvalidInput) as refused:
        resolve_plan(plan, source)
    assert refused.value.code == "plan.conflict"
    # The operator picks one by editing the stage, and the plan applies.
    versions = plan.models[0].versions or ()
    edited = replace(plan, models=(replace(plan.models[0], versions=(
        replace(versions[0], stage="Archived"), versions[1])),))
    (model,), _ = resolve_plan(edited, source)
    assert [v.stage for v in model.versions] == ["Archived", "Production"]


def test_aliases_follow_their_versions_and_a_clash_goes_to_the_newer():
    plan = make_plan(registry(
        ("fraud_detector_v1", 1, 100, "None"), ("fraud_detector_v2", 1, 200, "None"),
        aliases={"fraud_detector_v1": {"champion": 1, "Production": 1},
                 "fraud_detector_v2": {"champion": 1, "challenger": 1}}))
    model = plan.models[0]
    assert model.aliases == {"champion": 2, "challenger": 2}
    assert any("alias champion" in n and "v2 keeps it" in n for n in model.notes)
    assert any("alias Production" in n and "dropped" in n for n in model.notes)


def test_model_tags_and_description_come_from_the_newest_source():
    plan = make_plan(registry(
        ("fraud_detector_v1", 1, 100, "None"), ("fraud_detector_v2", 1, 200, "None"),
        tags={"fraud_detector_v1": {"team": "risk", "owner": "ana"},
              "fraud_detector_v2": {"team": "risk-ml"}},
        descriptions={"fraud_detector_v1": "old", "fraud_detector_v2": "new"}))
    model = plan.models[0]
    assert model.tags == {"team": "risk-ml", "owner": "ana"}
    assert model.description == "new"


def test_an_algorithm_in_a_name_becomes_a_version_tag():
    plan = make_plan(registry(("fraud_detector_v1", 1, 100, "None"),
                              ("fraud_v3_xgboost", 1, 200, "None")))
    versions = plan.models[0].versions or ()
    assert [v.tags for v in versions] == [{}, {"algorithm": "xgboost"}]


def test_resolve_gives_each_version_its_origin_and_reason():
    source = registry(("fraud_detector_v1", 1, 100, "Production"),
                      ("fraud_detector_v2", 1, 200, "Production"), ("churn_lstm", 1, 50, "None"))
    models, left_out = resolve_plan(make_plan(source), source)
    fraud = next(m for m in models if m.name == "fraud_detector")
    assert fraud.redirects == {n: import_reason(URL, n)
                               for n in ("fraud_detector_v1", "fraud_detector_v2")}
    first = fraud.versions[0]
    assert first.reason == f"imported from MLflow {URL}: fraud_detector_v1 v1"
    assert first.origin["name"] == "fraud_detector_v1" and first.origin["version"] == 1
    assert first.origin["stage"] == "Production" and first.stage == "Archived"
    assert first.source == "s3://bucket/fraud_detector_v1/1"
    assert left_out == []


def test_a_version_added_since_planning_makes_the_plan_stale():
    before = registry(("fraud_detector_v1", 1, 100, "None"))
    plan = make_plan(before)
    after = registry(("fraud_detector_v1", 1, 100, "None"), ("fraud_detector_v1", 2, 150, "None"))
    with pytest.raises(InvalidInput) as stale:
        resolve_plan(plan, after)
    assert stale.value.code == "plan.stale" and "fraud_detector_v1 v2" in stale.value.message
    # Without explicit versions, the import numbers whatever is there now.
    derived = replace(plan, models=(replace(plan.models[0], versions=None, aliases=None),))
    (model,), _ = resolve_plan(derived, after)
    assert [v.version for v in model.versions] == [1, 2]


def test_moving_an_old_name_to_its_own_product_and_renumbering():
    source = registry(("fraud_detector_v1", 1, 100, "None"), ("fraud_oct_2024", 1, 200, "None"))
    plan = Plan(URL, NEWEST_PRODUCTION_WINS, (
        PlannedModel("fraud_detector", ("fraud_detector_v1",)),
        PlannedModel("fraud_monthly", ("fraud_oct_2024",))))
    models, _ = resolve_plan(plan, source)
    assert [(m.name, [v.origin["name"] for v in m.versions]) for m in models] == [
        ("fraud_detector", ["fraud_detector_v1"]), ("fraud_monthly", ["fraud_oct_2024"])]


@pytest.mark.parametrize("change, code", [
    (lambda p: replace(p, models=(*p.models, PlannedModel("other", ("fraud_detector_v1",)))),
     "plan.invalid"),
    (lambda p: replace(p, models=(replace(p.models[0], sources=("gone_v1",)),)), "plan.stale"),
    (lambda p: replace(p, models=(replace(p.models[0], aliases={"champion": 9}),)),
     "plan.invalid"),
    (lambda p: replace(p, models=(replace(p.models[0], versions=(
        replace((p.models[0].versions or ())[0], version=2),)),)), "plan.invalid"),
    (lambda p: replace(p, models=(replace(p.models[0], versions=(
        replace((p.models[0].versions or ())[0], stage="Live"),)),)), "stage.unknown"),
])
def test_a_broken_edit_is_refused_with_a_clear_code(change, code):
    source = registry(("fraud_detector_v1", 1, 100, "None"))
    with pytest.raises(InvalidInput) as refused:
        resolve_plan(change(make_plan(source)), source)
    assert refused.value.code == code


def test_an_old_name_no_uri_can_name_is_imported_without_a_redirect():
    source = registry(("fraud detector/v1", 1, 100, "None"), ("fraud_detector_v2", 1, 200, "None"))
    plan = make_plan(source)
    (model,) = plan.models
    assert model.sources == ("fraud detector/v1", "fraud_detector_v2")
    assert any("cannot be kept as a redirect" in note for note in model.notes)
    (imported,), _ = resolve_plan(plan, source)
    assert len(imported.versions) == 2 and list(imported.redirects) == ["fraud_detector_v2"]


def test_models_the_plan_leaves_out_are_reported():
    source = registry(("fraud_detector_v1", 1, 100, "None"), ("churn_lstm", 1, 100, "None"))
    plan = make_plan(source)
    trimmed = replace(plan, models=tuple(m for m in plan.models if m.name != "churn"))
    _, left_out = resolve_plan(trimmed, source)
    assert left_out == ["churn_lstm"]


# --- the plan file ---------------------------------------------------------------------


def test_the_plan_survives_a_toml_round_trip():
    source = registry(
        ("fraud_detector_v1", 1, 100, "Production"), ("fraud_detector_v2", 1, 200, "Production"),
        ("fraud_v3_xgboost", 1, 300, "None"), ("my_model", 1, 400, "None"),
        aliases={"fraud_detector_v2": {"champion": 1}},
        tags={"fraud_detector_v1": {"team": "risk", "mlflow.note/x y": 'say "hi"\nnext'}},
        descriptions={"fraud_detector_v2": "Scores payments — \t\x7f ünïcode \\ done"})
    plan = make_plan(source)
    assert plan_from_toml(plan_to_toml(plan)) == plan


def test_a_derived_plan_without_versions_survives_a_round_trip():
    plan = Plan(URL, REFUSE, (PlannedModel("fraud_detector", ("fraud_detector_v1",)),),
                not_imported=("x v1: status FAILED_REGISTRATION, not imported",))
    assert plan_from_toml(plan_to_toml(plan)) == plan


@pytest.mark.parametrize("text, fragment", [
    ("format = 2\nsource = 'x'\nconflict_rule = 'refuse'\n", "format 2"),
    ("format = 1\nsource = 'x'\nconflict_rule = 'coin_flip'\n", "coin_flip"),
    ("format = 1\nsource = 'x'\nconflict_rule = 'refuse'\nstages = 1\n", "unknown key"),
    ("format = 1\nsource = 'x'\nconflict_rule = 'refuse'\n[[model]]\nname = 'a'\n"
     "sources = 'a_v1'\n", "must be a list"),
    ("format = 1\nsource = 'x'\nconflict_rule = 'refuse'\n[[model]]\nname = 'a'\n"
     "sources = ['a_v1']\n[[model.versions]]\nversion = 1\nmlflow_name = 'a_v1'\n"
     "mlflow_version = 1\nstages = 'None'\n", "unknown key"),
    ("format = 1\nsource = 'x'\nconflict_rule = 'refuse'\n[[model]]\nname = 'a'\n"
     "sources = ['a_v1']\naliases = {champion = '1'}\n", "aliases.champion"),
    ("format = 1\nsource = [\n", "not valid TOML"),
])
def test_a_malformed_plan_file_is_refused(text, fragment):
    with pytest.raises(InvalidInput) as refused:
        plan_from_toml(text)
    assert refused.value.code == "plan.invalid" and fragment in refused.value.message


def test_the_written_plan_explains_how_to_apply_it():
    text = plan_to_toml(make_plan(registry(("fraud_detector_v1", 1, 100, "None"))))
    assert f"charter import mlflow --from {URL} --apply" in text
    assert "[[model.versions]]" in text and 'mlflow_name = "fraud_detector_v1"' in text


# --- imported versions in the history ---------------------------------------------------


def test_replaying_history_places_an_imported_version_in_its_stage():
    snapshot = replay([PastEvent("version_imported", 1, "Archived", {}),
                       PastEvent("version_imported", 2, "Production", {})])
    assert snapshot.stages == {1: "Archived", 2: "Production"}

