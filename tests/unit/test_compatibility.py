"""The interface and its compatibility rules, as a table of cases (domain.compatibility).

Each row: what callers use now (Production's interface), the candidate's, and whether
moving the candidate into Production breaks them."""

from __future__ import annotations

import json

import pytest

from charter.artifacts import mlmodel
from charter.domain import error_codes as codes
from charter.domain.compatibility import compare
from charter.domain.errors import InvalidInput
from charter.domain.gates import parse_gate_policy
from charter.domain.interface import parse_interface, parse_interface_text
from charter.domain.lifecycle import Stage


def col(name: str, kind: str = "double", required: bool = True) -> dict[str, object]:
    return {"name": name, "type": kind, "required": required}


def tensor(dtype: str, shape: list[int], name: str | None = None) -> dict[str, object]:
    spec: dict[str, object] = {"type": "tensor", "tensor-spec": {"dtype": dtype,
                                                                 "shape": shape}}
    if name is not None:
        spec["name"] = name
    return spec


def iface(inputs=(), outputs=(), params=()) -> dict[str, object]:
    return {"inputs": list(inputs), "outputs": list(outputs), "params": list(params)}


A, B = col("amount"), col("country", "string")
SCORE = col("score")
BASE = iface([A, B], [SCORE])

CASES = [
    # (case, current, candidate, breaking changes as (section, name, what))
    ("identical", BASE, BASE, []),
    ("input removed", BASE, iface([A], [SCORE]), [("inputs", "country", "removed")]),
    ("input retyped", BASE, iface([A, col("country", "long")], [SCORE]),
     [("inputs", "country", "retyped")]),
    ("input made required", iface([A, col("country", "string", False)], [SCORE]), BASE,
     [("inputs", "country", "required")]),
    ("input made optional", BASE, iface([A, col("country", "string", False)], [SCORE]), []),
    ("required input added", BASE, iface([A, B, col("channel", "string")], [SCORE]),
     [("inputs", "channel", "added")]),
    ("optional input added", BASE, iface([A, B, col("channel", "string", False)], [SCORE]),
     []),
    ("output removed", iface([A, B], [SCORE, col("reason", "string")]), BASE,
     [("outputs", "reason", "removed")]),
    ("output retyped", BASE, iface([A, B], [col("score", "float")]),
     [("outputs", "score", "retyped")]),
    ("output made optional", BASE, iface([A, B], [col("score", "double", False)]),
     [("outputs", "score", "optional")]),
    ("output added", BASE, iface([A, B], [SCORE, col("reason", "string")]), []),
    ("nested column type changed", iface([col("tags", "string")], [SCORE]),
     iface([{"name": "tags", "type": "array", "items": {"type": "string"}}], [SCORE]),
     [("inputs", "tags", "retyped")]),
    ("columns become tensors", BASE, iface([tensor("float64", [-1, 2])], [SCORE]),
     [("inputs", "*", "kind")]),
    ("tensor dtype changed", iface([tensor("float32", [-1, 4])]),
     iface([tensor("float64", [-1, 4])]), [("inputs", "#0", "retyped")]),
    ("tensor rank changed", iface([tensor("float32", [-1, 4])]),
     iface([tensor("float32", [-1, 2, 2])]), [("inputs", "#0", "reshaped")]),
    ("input dim fixed", iface([tensor("float32", [-1, 4])]),
     iface([tensor("float32", [32, 4])]), [("inputs", "#0", "reshaped")]),
    ("input dim resized", iface([tensor("float32", [-1, 4])]),
     iface([tensor("float32", [-1, 8])]), [("inputs", "#0", "reshaped")]),
    ("input dim widened", iface([tensor("float32", [-1, 4])]),
     iface([tensor("float32", [-1, -1])]), []),
    ("output dim widened", iface([], [tensor("float32", [-1, 10])]),
     iface([], [tensor("float32", [-1, -1])]), [("outputs", "#0", "reshaped")]),
    ("output dim fixed", iface([], [tensor("float32", [-1, -1])]),
     iface([], [tensor("float32", [-1, 10])]), []),
    ("named tensors matched by name", iface([tensor("float32", [-1], "a"),
                                             tensor("int64", [-1], "b")]),
     iface([tensor("int64", [-1], "b"), tensor("float32", [-1], "a")]), []),
    ("param removed", iface([A], [], [{"name": "k", "type": "long", "default": 3}]),
     iface([A]), [("params", "k", "removed")]),
    ("param retyped", iface([A], [], [{"name": "k", "type": "long", "default": 3}]),
     iface([A], [], [{"name": "k", "type": "double", "default": 3.0}]),
     [("params", "k", "retyped")]),
    ("param default changed", iface([A], [], [{"name": "k", "type": "long", "default": 3}]),
     iface([A], [], [{"name": "k", "type": "long", "default": 5}]), []),
    ("param added", iface([A]), iface([A], [], [{"name": "k", "type": "long",
                                                 "default": 3}]), []),
]


@pytest.mark.parametrize(("current", "candidate", "expected"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_compatibility_table(current, candidate, expected):
    diff = compare(parse_interface(current), parse_interface(candidate))
    assert [(c.section, c.name, c.what) for c in diff.breaking] == expected
    assert diff.compatible is (not expected)
    assert diff.known


def test_compatible_changes_are_listed_too():
    diff = compare(parse_interface(BASE),
                   parse_interface(iface([A, B, col("channel", "string", False)], [SCORE])))
    assert [(c.what, c.breaking) for c in diff.changes] == [("added", False)]
    assert diff.changes[0].describe() == "input channel added: string (optional) (compatible)"


def test_nothing_to_compare_when_either_side_declares_nothing():
    assert not compare(None, parse_interface(BASE)).known
    diff = compare(parse_interface(BASE), None)
    assert not diff.known and diff.compatible and "candidate" in diff.note


def test_mlflow_signature_dict_and_charter_form_are_the_same_interface():
    mlflow_form = {"inputs": json.dumps([A, B]), "outputs": json.dumps([SCORE]),
                   "params": None}
    assert parse_interface(mlflow_form) == parse_interface(BASE)
    round_trip = parse_interface_text(parse_interface(BASE).to_json())
    assert round_trip == parse_interface(BASE)


@pytest.mark.parametrize("bad", [
    [], {"inputs": "not json"}, {"inputs": [{"name": "x", "type": "decimal"}]},
    {"inputs": [col("x"), col("x")]}, {"inputs": [col("x"), tensor("float32", [-1])]},
    {"inputs": [tensor("float32", [-2])]}, {"outputs": [{"type": "tensor"}]}, {},
    {"inputs": [col("x")], "extra": 1}, {"params": [{"name": "k"}]},
])
def test_malformed_interfaces_are_refused(bad):
    with pytest.raises(InvalidInput) as refused:
        parse_interface(bad)
    assert refused.value.code == codes.INTERFACE_INVALID


def test_an_mlmodel_yields_its_signature_and_model_id():
    text = (b"flavors: {}\nmodel_id: m-42\nsignature:\n"
            b"  inputs: '[{\"type\": \"double\", \"name\": \"amount\"}]'\n"
            b"  outputs: null\n")
    read = mlmodel.parse(text)
    assert read.model_id == "m-42" and read.interface is not None
    assert read.interface.inputs[0].name == "amount"
    assert mlmodel.parse(b"flavors: [").interface is None       # not YAML: declares nothing
    assert mlmodel.find(["a/b/MLmodel", "MLmodel.txt", "x/MLmodel"]) == "x/MLmodel"


def test_the_interface_gate_is_on_for_production_unless_declared():
    default = parse_gate_policy({}).for_move("m", Stage.PRODUCTION)
    assert default.checks_interface(Stage.PRODUCTION)
    assert not default.checks_interface(Stage.STAGING)
    off = parse_gate_policy({"gates": {"Production": {"interface": "any"}}})
    assert not off.for_move("m", Stage.PRODUCTION).checks_interface(Stage.PRODUCTION)
    staging = parse_gate_policy({"gates": {"Staging": {"interface": "compatible"}}})
    assert staging.for_move("m", Stage.STAGING).checks_interface(Stage.STAGING)
    with pytest.raises(InvalidInput):
        parse_gate_policy({"gates": {"Production": {"interface": "strict"}}})


def test_the_tracking_server_is_asked_only_its_own_routes_for_a_source():
    from charter.artifacts.tracking import check_tracking_uri, mlmodel_location

    assert mlmodel_location("models:/m-abc123", "", "") == (
        "/ajax-api/2.0/mlflow/logged-models/m-abc123/artifacts/files",
        {"artifact_file_path": "MLmodel"})
    assert mlmodel_location("runs:/r1/model", "", "m-ff")[0].endswith("/m-ff/artifacts/files")
    assert mlmodel_location("runs:/r1/sub/model", "r1", "") == (
        "/get-artifact", {"run_id": "r1", "path": "sub/model/MLmodel"})
    # never an address, a traversal, or a source that names no run or logged model
    assert mlmodel_location("runs:/r1/../../etc", "", "") is None
    assert mlmodel_location("runs:/http:%2F%2Fevil/x", "", "") is None
    assert mlmodel_location("s3://bucket/model", "r1", "") is None
    assert mlmodel_location("models:/fraud_detector/Production", "", "") is None
    assert check_tracking_uri("http://mlflow:5000/") == "http://mlflow:5000"
    with pytest.raises(InvalidInput):
        check_tracking_uri("file:///tmp/mlruns")


def test_the_examples_in_docs_contracts_md_parse():
    """The interface JSON and the gates TOML of "The interface" are what the parsers take."""
    import re
    import tomllib
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "contracts.md").read_text()
    section = text.split("## The interface", 1)[1].split("\n## ", 1)[0]
    (example,) = re.findall(r"```json\n(.*?)```", section, re.DOTALL)
    assert [s.name for s in parse_interface_text(example).inputs] == ["amount", "country"]
    (gates,) = re.findall(r"```toml\n(.*?)```", section, re.DOTALL)
    policy = parse_gate_policy(tomllib.loads(gates))
    assert policy.for_move("m", Stage.STAGING).checks_interface(Stage.STAGING)
