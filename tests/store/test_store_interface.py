"""A version's interface on a real database: where it comes from (explicit, an MLmodel
among the files, an MLflow tag), set once, compared by ``diff_versions``, and the gate
that keeps Production's interface — with an owner's audited acceptance of a break."""

from __future__ import annotations

import json

import pytest

from charter.domain import error_codes as codes
from charter.domain.errors import Conflict, InvalidInput

NAME = "fraud_detector"

V1 = {"inputs": [{"name": "amount", "type": "double"},
                 {"name": "country", "type": "string"}],
      "outputs": [{"name": "score", "type": "double"}]}
# Drops "country": what callers of V1 send is no longer accepted.
BREAKING = {"inputs": [{"name": "amount", "type": "double"}],
            "outputs": [{"name": "score", "type": "double"}]}
# Adds an optional input and an output: callers of V1 keep working.
COMPATIBLE = {"inputs": V1["inputs"] + [{"name": "channel", "type": "string",
                                         "required": False}],
              "outputs": V1["outputs"] + [{"name": "reason", "type": "string"}]}

MLMODEL = """\
artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
model_id: m-0123456789abcdef0123456789abcdef
signature:
  inputs: '[{"type": "double", "name": "amount", "required": true}, {"type": "string",
    "name": "country", "required": true}]'
  outputs: '[{"type": "double", "name": "score", "required": true}]'
  params: null
"""


def in_production(registry, interface) -> int:
    version = registry.register(NAME, "s3://models/fraud/1", interface=interface).version
    registry.transition(NAME, version, "Staging", reason="validated")
    registry.transition(NAME, version, "Production", reason="launch")
    return version


def staged(registry, interface) -> int:
    version = registry.register(NAME, "s3://models/fraud/2", interface=interface).version
    registry.transition(NAME, version, "Staging", reason="validated")
    return version


def test_an_explicit_interface_is_stored_and_read_back(registry):
    version = registry.register(NAME, "s3://models/fraud/1", interface=V1).version
    found = registry.get_interface(NAME, version)
    assert found.origin == "explicit"
    assert found.interface.to_dict()["inputs"][1] == {"name": "country", "type": "string",
                                                      "required": True}
    assert registry.get_interface(NAME, version).interface == found.interface


def test_the_mlmodel_of_registered_files_declares_the_interface_and_model_id(registry,
                                                                           tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text(MLMODEL)
    (folder / "model.pkl").write_bytes(b"\x80\x04weights")
    record = registry.register(NAME, path=tmp_path)
    found = registry.get_interface(NAME, record.version)
    assert found.origin == "mlmodel"
    assert [s.name for s in found.interface.inputs] == ["amount", "country"]
    assert record.model_id == "m-0123456789abcdef0123456789abcdef"
    assert registry.get_version(NAME, record.version).model_id == record.model_id


def test_an_mlflow_signature_tag_declares_the_interface_once(registry):
    version = registry.register(NAME, "s3://models/fraud/1").version
    assert registry.get_interface(NAME, version).interface is None
    signature = {"inputs": json.dumps(V1["inputs"]), "outputs": json.dumps(V1["outputs"]),
                 "params": None}
    registry.set_version_tag(NAME, version, "mlflow.signature", json.dumps(signature))
    assert registry.get_interface(NAME, version).origin == "tag"
    registry.set_version_tag(NAME, version, "mlflow.signature", json.dumps(signature))  # same
    with pytest.raises(Conflict) as refused:
        registry.set_version_tag(NAME, version, "charter.interface", json.dumps(BREAKING))
    assert refused.value.code == codes.INTERFACE_ALREADY_SET
    assert "charter.interface" not in registry.get_version(NAME, version).tags
    actions = [e.action for e in registry.history(NAME)]
    assert actions.count("interface_set") == 1


def test_a_malformed_interface_is_refused_before_anything_is_written(registry, given):
    registry.register(NAME, "s3://models/fraud/1")
    before = given.state()
    with pytest.raises(InvalidInput) as refused:
        registry.register(NAME, "s3://models/fraud/2",
                          interface={"inputs": [{"name": "x", "type": "decimal"}]})
    assert refused.value.code == codes.INTERFACE_INVALID
    with pytest.raises(InvalidInput):
        registry.register(NAME, "s3://models/fraud/2", tags={"mlflow.signature": "{"})
    assert given.state() == before


def test_promoting_a_breaking_version_is_refused_with_the_diff(registry, given):
    in_production(registry, V1)
    candidate = staged(registry, BREAKING)
    before = given.state()
    with pytest.raises(Conflict) as refused:
        registry.transition(NAME, candidate, "Production", archive_existing=True)
    assert refused.value.code == codes.GATE_INTERFACE_BREAKING
    diff = refused.value.details["diff"]
    assert [(c["name"], c["what"], c["breaking"]) for c in diff["changes"]] == [
        ("country", "removed", True)]
    assert "--accept-breaking" in refused.value.hint
    # override_gates is for the other gates; it does not pass a breaking interface
    with pytest.raises(Conflict):
        registry.transition(NAME, candidate, "Production", archive_existing=True,
                            override_gates=True, reason="hotfix")
    assert given.state() == before


def test_an_owner_accepts_a_break_with_a_reason_audited_in_its_own_event(registry):
    live = in_production(registry, V1)
    candidate = staged(registry, BREAKING)
    moved = registry.transition(NAME, candidate, "Production", archive_existing=True,
                                accept_breaking="country is derived from the card now")
    assert moved.stage == "Production"
    accepted = [e for e in registry.history(NAME) if e.action == "interface_break_accepted"]
    assert len(accepted) == 1
    event = accepted[0]
    assert event.version == candidate and event.reason == "country is derived from the card now"
    assert event.payload["production"] == live and event.payload["consumers"] == []
    assert event.payload["diff"]["compatible"] is False


def test_a_break_accepted_names_the_live_consumers_of_the_model(registry):
    in_production(registry, V1)
    registry.resolve(f"models:/{NAME}/Production", consumer="checkout-api/eu")
    registry.report_consumer("batch-scorer", f"models:/{NAME}/Production")
    candidate = staged(registry, BREAKING)
    registry.transition(NAME, candidate, "Production", archive_existing=True,
                        accept_breaking="country is derived from the card now")
    [event] = [e for e in registry.history(NAME) if e.action == "interface_break_accepted"]
    assert event.payload["consumers"] == ["batch-scorer", "checkout-api/eu"]


def test_a_compatible_version_is_promoted_and_check_reports_the_gate(registry):
    in_production(registry, V1)
    candidate = staged(registry, COMPATIBLE)
    report = registry.check_gates(NAME, candidate, "Production")
    (result,) = [r for r in report.results if r.name == "interface"]
    assert result.passed and "2 compatible change(s)" in result.detail
    registry.transition(NAME, candidate, "Production", archive_existing=True)


def test_check_reports_a_breaking_interface_as_a_failed_gate(registry):
    in_production(registry, V1)
    candidate = staged(registry, BREAKING)
    report = registry.check_gates(NAME, candidate, "Production")
    (result,) = [r for r in report.results if r.name == "interface"]
    assert not result.passed and "country removed" in result.detail


def test_a_version_without_an_interface_is_not_judged(registry):
    in_production(registry, V1)
    candidate = staged(registry, None)
    registry.transition(NAME, candidate, "Production", archive_existing=True)


def test_interface_any_turns_the_gate_off(tmp_path, make_registry):
    (tmp_path / "charter.toml").write_text('[gates.Production]\ninterface = "any"\n')
    registry = make_registry()
    in_production(registry, V1)
    candidate = staged(registry, BREAKING)
    registry.transition(NAME, candidate, "Production", archive_existing=True)


def test_interface_compatible_can_gate_staging_too(tmp_path, make_registry):
    (tmp_path / "charter.toml").write_text('[gates.Staging]\ninterface = "compatible"\n')
    registry = make_registry()
    in_production(registry, V1)
    candidate = registry.register(NAME, "s3://models/fraud/2", interface=BREAKING).version
    with pytest.raises(Conflict) as refused:
        registry.transition(NAME, candidate, "Staging")
    assert refused.value.code == codes.GATE_INTERFACE_BREAKING


def test_diff_shows_interface_files_tags_and_descriptions(registry, tmp_path):
    first = tmp_path / "a"
    first.mkdir()
    (first / "MLmodel").write_text(MLMODEL)
    (first / "model.pkl").write_bytes(b"one")
    (first / "notes.txt").write_text("same")
    second = tmp_path / "b"
    second.mkdir()
    (second / "model.pkl").write_bytes(b"two")
    (second / "notes.txt").write_text("same")
    (second / "extra.json").write_text("{}")
    a = registry.register(NAME, path=first, description="first", tags={"team": "risk"})
    b = registry.register(NAME, path=second, description="second", interface=BREAKING,
                          tags={"team": "fraud", "owner": "meera"})
    diff = registry.diff_versions(NAME, a.version, b.version)
    assert diff.files.added == {"extra.json": b.file_at("extra.json").sha256}
    assert list(diff.files.removed) == ["MLmodel"]
    assert [c.key for c in diff.files.changed] == ["model.pkl"]
    assert diff.files.same == 1
    assert diff.tags.added == {"owner": "meera"}
    assert [(c.key, c.before, c.after) for c in diff.tags.changed] == [("team", "risk", "fraud")]
    assert diff.description == ("first", "second")
    assert [c.describe() for c in diff.interface.breaking] == [
        "input country removed: was string (breaking)"]
    data = diff.to_dict()
    assert data["interface"]["compatible"] is False and data["a"] == a.version


def test_model_id_is_checked(registry):
    with pytest.raises(InvalidInput) as refused:
        registry.register(NAME, "s3://models/fraud/1", model_id="m-1 2")
    assert refused.value.code == codes.MODEL_ID_INVALID
    assert registry.register(NAME, "s3://models/fraud/1", model_id="m-abc").model_id == "m-abc"
