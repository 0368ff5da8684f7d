"""The MLflow API's answers are the bytes Python's json would write for them.

The shapes are encoded by orjson (api/mlflow/shapes.py) for speed; MLflow's clients,
and any byte-level cache or signature in front of the registry, see what
``json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))`` wrote before: text
unescaped beyond JSON's own escapes, no spaces, keys in the shape's order.
"""

from __future__ import annotations

import json

from tests.api.test_mlflow_api import API, build_client

TEXT = 'line one\nline two\t"quoted" \\ back/slash é ✓ 😀 \u2028 \u00a0'


def same_as_json(response) -> bytes:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    expected = json.dumps(response.json(), ensure_ascii=False, separators=(",", ":"))
    assert response.content == expected.encode(), response.content
    return bytes(response.content)


def test_mlflow_answers_are_the_bytes_json_would_write(sqlite_database_url,  # type: ignore[no-untyped-def]
                                                       make_settings) -> None:
    service, client = build_client(make_settings(sqlite_database_url))
    with client:
        post = lambda path, **body: client.post(API + path, json=body)  # noqa: E731
        assert post("/registered-models/create", name="fraud_scorer", description=TEXT,
                    tags=[{"key": "note", "value": TEXT}]).status_code == 200
        for number in (1, 2):
            assert post("/model-versions/create", name="fraud_scorer",
                        source=f"s3://bucket/fraud/{number}", description=TEXT,
                        run_id="0123456789abcdef0123456789abcdef",
                        tags=[{"key": "note", "value": TEXT}]).status_code == 200
        assert post("/registered-models/alias", name="fraud_scorer", alias="champion",
                    version="2").status_code == 200
        answers = [
            client.get(API + "/registered-models/get", params={"name": "fraud_scorer"}),
            client.get(API + "/registered-models/search",
                       params={"filter": "name LIKE 'fraud%'"}),
            client.get(API + "/model-versions/search",
                       params={"filter": "name = 'fraud_scorer'"}),
            client.get(API + "/model-versions/get",
                       params={"name": "fraud_scorer", "version": "2"}),
        ]
        bodies = [same_as_json(answer) for answer in answers]
    service.db.dispose()
    written = json.dumps(TEXT, ensure_ascii=False)[1:-1].encode()  # \n, \t, \", \\ escaped
    assert all(written in body for body in bodies)
    assert "😀".encode() in bodies[1]  # written as UTF-8, not as \ud83d\ude00
