"""The interface through the Python SDK, embedded and remote alike: declared by an
MLmodel among uploaded files or explicitly, compared by ``diff_versions``, and the
promotion gate with an owner's ``accept_breaking``."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from charter.domain import error_codes as codes
from charter.domain.errors import Conflict, InvalidInput
from charter.domain.naming import lint
from charter.domain.version_diff import VersionDiff

pytestmark = pytest.mark.e2e

ACTOR = "sdk-tester"
MLMODEL = """\
flavors:
  python_function: {loader_module: mlflow.sklearn}
model_id: m-00000000000000000000000000000001
signature:
  inputs: '[{"type": "double", "name": "amount", "required": true}, {"type": "string",
    "name": "country", "required": true}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]'
  params: '[{"name": "threshold", "type": "double", "default": 0.5, "shape": null}]'
"""
BREAKING = {"inputs": [{"name": "amount", "type": "double"}],
            "outputs": [{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}],
            "params": [{"name": "threshold", "type": "double", "default": 0.5}]}


@pytest.fixture
def name() -> str:
    """A name of its own per test (the remote server is shared), one the naming rules
    accept: a random hex suffix may end in digits, which reads as a version marker."""
    while True:
        candidate = f"fraud_detector_{uuid.uuid4().hex[:8]}"
        if not lint(candidate):
            return candidate


def model_folder(root: Path) -> Path:
    (root / "model").mkdir(parents=True)
    (root / "model" / "MLmodel").write_text(MLMODEL)
    (root / "model" / "model.pkl").write_bytes(b"weights-1")
    return root


def test_an_uploaded_mlmodel_declares_the_interface_and_the_gate_keeps_it(registry, name,
                                                                          tmp_path):
    first = registry.register(name, path=model_folder(tmp_path / "one"))
    assert first.model_id == "m-00000000000000000000000000000001"
    declared = registry.get_interface(name, first.version)
    assert declared.origin == "mlmodel"
    assert [p.name for p in declared.interface.params] == ["threshold"]
    for stage in ("Staging", "Production"):
        registry.transition(name, first.version, stage, reason="launch")

    second = registry.register(name, "s3://models/fraud/2", interface=BREAKING,
                               description="without country")
    registry.transition(name, second.version, "Staging", reason="validated")
    with pytest.raises(Conflict) as refused:
        registry.transition(name, second.version, "Production", archive_existing=True,
                            reason="launch v2")
    assert refused.value.code == codes.GATE_INTERFACE_BREAKING
    assert refused.value.details["diff"]["changes"][0]["name"] == "country"

    diff = registry.diff_versions(name, first.version, second.version)
    assert isinstance(diff, VersionDiff)
    assert [c.describe() for c in diff.interface.breaking] == [
        "input country removed: was string (breaking)"]
    assert list(diff.files.removed) == ["model/MLmodel", "model/model.pkl"]
    assert diff.description == ("", "without country")

    moved = registry.transition(name, second.version, "Production", archive_existing=True,
                                reason="launch v2", accept_breaking="country is dropped")
    assert moved.stage == "Production"
    (event,) = [e for e in registry.history(name) if e.action == "interface_break_accepted"]
    assert event.reason == "country is dropped" and event.payload["consumers"] == []


def test_set_interface_once_and_bad_interfaces_are_refused_alike(registry, name):
    version = registry.register(name, "s3://models/fraud/1", model_id="m-abc").version
    assert registry.get_interface(name, version).interface is None
    record = registry.set_interface(name, version, BREAKING)
    assert record.origin == "explicit" and record.interface.inputs[0].name == "amount"
    assert registry.set_interface(name, version, BREAKING) == record
    with pytest.raises(Conflict) as twice:
        registry.set_interface(name, version, {"inputs": [{"name": "x", "type": "long"}]})
    assert twice.value.code == codes.INTERFACE_ALREADY_SET
    with pytest.raises(InvalidInput) as bad:
        registry.register(name, "s3://models/fraud/2", interface={"inputs": "nope"})
    assert bad.value.code == codes.INTERFACE_INVALID
    assert registry.get_version(name, version).model_id == "m-abc"
