"""The MLflow searches' items as PostgreSQL writes them (store/mlflow_json.py) are the
shapes api/mlflow/shapes.py makes of the briefs: the same dicts, so the same bytes."""

from __future__ import annotations

import orjson
from sqlalchemy import text

from charter.api.mlflow import shapes
from charter.service import RegistryService
from charter.store import mlflow_json

ODD = 'quote " back \\ slash / nl \n tab \t é ✓ 😀 \u2028'
# Control characters the API refuses, as a row written before that rule may hold them.
CONTROL = "".join(chr(c) for c in range(1, 32)) + "\x7f"
SEARCHES = ["", "name LIKE 'shape%'", "name ILIKE '%ODD%'", "tags.team = 't1'",
            f"tags.note = '{ODD.replace(chr(39), '')}'"]
VERSION_SEARCHES = ["", "name = 'shape_odd'", "run_id = 'run-2'", "tags.commit LIKE 'c%'",
                    "version_number >= 2"]


def _populate(registry: RegistryService) -> None:
    registry.create_model("shape_odd", description=ODD,
                          tags={"team": "t1", "b_key": "2", "a_key": "1", "note": ODD})
    for number in range(1, 5):
        registry.register("shape_odd", f"s3://bucket/odd/{number}", run_id=f"run-{number}",
                          description=ODD if number % 2 else "",
                          tags={"commit": f"c{number}", "z": ODD, "a": "first"},
                          model_id="m-logged-7" if number == 3 else "")
    registry.transition("shape_odd", 1, "Staging")
    registry.transition("shape_odd", 1, "Production")
    registry.transition("shape_odd", 2, "Staging")
    registry.set_alias("shape_odd", "champion", 1)
    registry.set_alias("shape_odd", "challenger", 1)
    registry.set_alias("shape_odd", "beta", 3)
    registry.create_model("shape_empty", tags={"team": "t1"})  # no versions at all
    registry.create_model("other_plain")
    registry.register("other_plain", "s3://bucket/plain/1")
    with registry.db.engine.begin() as connection:  # MLflow's status names for each of ours
        for number, status in ((2, "PENDING"), (3, "FAILED"), (4, "SOMETHING_ELSE")):
            connection.execute(text(
                "UPDATE versions SET status = :status WHERE version = :number AND model_id = "
                "(SELECT id FROM models WHERE name = 'shape_odd')"),
                {"status": status, "number": number})
        connection.execute(text("UPDATE version_tags SET value = :value WHERE key = 'a'"),
                           {"value": CONTROL})
        connection.execute(text("UPDATE models SET description = :value "
                                "WHERE name = 'shape_empty'"), {"value": CONTROL})


def test_postgresql_writes_the_mlflow_shapes_of_the_briefs(registry: RegistryService,
                                                           backend: str) -> None:
    _populate(registry)
    if backend == "sqlite":  # the API shapes the briefs there
        assert registry.model_shapes("") is None and registry.version_shapes("") is None
        return
    for search in SEARCHES:
        for size in (1, 2, 100):
            written = registry.model_shapes(search, max_results=size)
            briefs = registry.model_briefs(search, max_results=size)
            assert written is not None and written.next_token == briefs.next_token
            expected = [shapes.registered_model(b, b.latest) for b in briefs.items]
            assert written.items == expected, search
            assert orjson.dumps(written.items) == orjson.dumps(expected)
    for search in VERSION_SEARCHES:
        for size in (1, 3, 100):
            found = registry.version_shapes(search, max_results=size)
            versions = registry.version_briefs(search, max_results=size)
            assert found is not None and found.next_token == versions.next_token
            expected = [shapes.model_version(v) for v in versions.items]
            assert found.items == expected, search
            assert orjson.dumps(found.items) == orjson.dumps(expected)
    everything = registry.version_shapes("name = 'shape_odd'")
    assert everything is not None
    assert {v["version"]: v["status"] for v in everything.items} == {
        "1": "READY", "2": "PENDING_REGISTRATION", "3": "FAILED_REGISTRATION",
        "4": "PENDING_REGISTRATION"}
    assert [v.get("model_id") for v in everything.items if v["version"] == "3"] == ["m-logged-7"]


def test_the_store_names_mlflow_statuses_as_the_shapes_do() -> None:
    assert mlflow_json.STATUS == shapes._STATUS
    assert shapes._STATUS.get("SOMETHING_ELSE", "PENDING_REGISTRATION") == \
        mlflow_json.OTHER_STATUS
