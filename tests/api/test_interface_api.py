"""REST v1's interface routes in process: declare, read, compare, and the 409 that
explains a breaking promotion with the diff."""

from __future__ import annotations

from typing import Any

import pytest

API = "/api/v1"
MODEL = f"{API}/models/fraud_detector"
V1 = {"inputs": [{"name": "amount", "type": "double"}, {"name": "country", "type": "string"}],
      "outputs": [{"name": "score", "type": "double"}]}
V2 = {"inputs": [{"name": "amount", "type": "double"},
                 {"name": "country", "type": "long"}],
      "outputs": [{"name": "score", "type": "double"}]}


def ok(response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def register(client, source: str, **body: Any) -> int:
    return ok(client.post(f"{MODEL}/versions", json={"source": source, **body}), 201)["version"]


def move(client, version: int, stage: str, **body: Any):
    return client.post(f"{MODEL}/versions/{version}/transition",
                       json={"stage": stage, "reason": "release", **body})


def test_declare_read_and_diff_an_interface(client):
    first = register(client, "s3://models/fraud/1", interface=V1, model_id="m-1")
    second = register(client, "s3://models/fraud/2", tags={"team": "risk"})
    assert ok(client.get(f"{MODEL}/versions/{first}"))["model_id"] == "m-1"
    assert ok(client.get(f"{MODEL}/versions/{second}/interface"))["interface"] is None
    declared = ok(client.put(f"{MODEL}/versions/{second}/interface", json={"interface": V2}))
    assert declared["origin"] == "explicit"
    assert declared["interface"]["inputs"][1] == {"name": "country", "type": "long",
                                                  "required": True}
    diff = ok(client.get(f"{MODEL}/diff", params={"a": first, "b": f"v{second}"}))
    assert diff["interface"]["compatible"] is False
    assert [(c["name"], c["what"]) for c in diff["interface"]["changes"]] == [
        ("country", "retyped")]
    assert diff["tags"]["added"] == {"team": "risk"} and diff["description"] is None


def test_a_breaking_promotion_is_a_409_with_the_diff_until_accepted(client):
    first = register(client, "s3://models/fraud/1", interface=V1)
    second = register(client, "s3://models/fraud/2", interface=V2)
    for version, stage in ((first, "Staging"), (first, "Production"), (second, "Staging")):
        ok(move(client, version, stage))
    refused = move(client, second, "Production", archive_existing=True)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "gate.interface_breaking"
    assert error["details"]["production"] == first
    assert error["details"]["diff"]["changes"][0]["what"] == "retyped"
    assert "accept-breaking" in error["hint"]
    accepted = ok(move(client, second, "Production", archive_existing=True,
                       accept_breaking="country codes are numeric now"))
    assert accepted["stage"] == "Production"
    report = ok(client.get(f"{MODEL}/versions/{first}/gates", params={"stage": "Production"}))
    assert [r for r in report["results"] if r["name"] == "interface"][0]["passed"] is False


@pytest.mark.parametrize(("route", "body", "code"), [
    ("versions", {"source": "s3://models/fraud/1", "interface": {"inputs": "[{"}},
     "interface.invalid"),
    ("versions", {"source": "s3://models/fraud/1", "model_id": "m 1"}, "model_id.invalid"),
])
def test_bad_interfaces_are_400_in_the_envelope(client, route, body, code):
    answer = client.post(f"{MODEL}/{route}", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == code and error["message"] and error["hint"]


def test_an_interface_is_set_once(client):
    version = register(client, "s3://models/fraud/1", interface=V1)
    ok(client.put(f"{MODEL}/versions/{version}/interface", json={"interface": V1}))
    answer = client.put(f"{MODEL}/versions/{version}/interface", json={"interface": V2})
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "interface.already_set"
