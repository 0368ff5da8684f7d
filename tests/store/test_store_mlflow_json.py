"""The MLflow model search's items as PostgreSQL writes them (store/mlflow_json.py) are
the shapes api/mlflow/shapes.py makes of the briefs: the same dicts, so the same bytes."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from charter.api.mlflow import shapes
from charter.service import RegistryService
from charter.store import mlflow_json
from charter.store.driver import Reader

ODD = 'quote " back \\ slash / nl \n tab \t é ✓ 😀 \u2028'
# Control characters the API refuses, as a row written before that rule may hold them.
CONTROL = "".join(chr(c) for c in range(1, 32)) + "\x7f"
SEARCHES = ["", "name LIKE 'shape%'", "name ILIKE '%ODD%'", "tags.team = 't1'",
            f"tags.note = '{ODD.replace(chr(39), '')}'"]


def _populate(registry: RegistryService) -> None:
    registry.create_model("shape_odd", description=ODD,
                          tags={"team": "t1", "b_key": "2", "a_key": "1", "note": ODD})
    for number in range(1, 5):
        registry.register("shape_odd", f"s3://bucket/odd/{number}", run_id=f"run-{number}",
                          description=ODD if number % 2 else "",
                          tags={"commit": f"c{number}", "z": ODD, "a": "first"},
                          model_id="m-logged-7" if number == 4 else "")
    registry.transition("shape_odd", 1, "Staging")
    registry.transition("shape_odd", 1, "Production")
    registry.transition("shape_odd", 2, "Staging")
    registry.transition("shape_odd", 3, "Staging")
    registry.transition("shape_odd", 3, "Archived")  # a newest version in each stage
    registry.set_alias("shape_odd", "champion", 1)
    registry.set_alias("shape_odd", "challenger", 1)
    registry.set_alias("shape_odd", "beta", 3)
    registry.create_model("shape_empty", tags={"team": "t1"})  # no versions at all
    registry.create_model("other_plain")
    registry.register("other_plain", "s3://bucket/plain/1")
    with registry.db.engine.begin() as connection:  # MLflow's status names for each of ours
        for number, status in ((2, "PENDING"), (3, "SOMETHING_ELSE"), (4, "FAILED")):
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
        assert registry.model_shapes("") is None
        return
    for search in SEARCHES:
        for size in (1, 2, 100):
            written = registry.model_shapes(search, max_results=size)
            briefs = registry.model_briefs(search, max_results=size)
            assert written is not None and written.next_token == briefs.next_token
            expected = [shapes.registered_model(b, b.latest) for b in briefs.items]
            assert written.items == expected, search
            assert orjson.dumps(written.items) == orjson.dumps(expected)
    odd = registry.model_shapes("name = 'shape_odd'")
    assert odd is not None
    assert [(v["current_stage"], v["status"], v.get("model_id"))
            for v in odd.items[0]["latest_versions"]] == [
        ("None", "FAILED_REGISTRATION", "m-logged-7"), ("Staging", "PENDING_REGISTRATION", None),
        ("Production", "READY", None), ("Archived", "PENDING_REGISTRATION", None)]


def test_the_store_names_mlflow_statuses_as_the_shapes_do() -> None:
    assert mlflow_json.STATUS == shapes._STATUS
    assert shapes._STATUS.get("SOMETHING_ELSE", "PENDING_REGISTRATION") == \
        mlflow_json.OTHER_STATUS


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_prepared_model_search_by_tag_keeps_the_generic_plan(
        registry: RegistryService, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the page in a subquery the generic plan costs what a custom plan does, so a
    prepared tag search is not planned again on every run (0.3-0.55 ms each)."""
    _populate(registry)
    seen: list[tuple[str, list[Any]]] = []
    original = Reader.all

    def record(self: Reader, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        seen.append((sql, list(params)))
        return original(self, sql, params)

    monkeypatch.setattr(Reader, "all", record)
    assert registry.model_shapes("tags.team = 't1'") is not None
    (sql, params), = seen
    numbers = iter(range(1, len(params) + 1))
    prepared = re.sub(r"\?", lambda _: f"${next(numbers)}", sql)
    arguments = ", ".join(f"'{value}'" if isinstance(value, str) else str(value)
                          for value in params)
    with registry.db.engine.connect() as connection:
        connection.exec_driver_sql(f"PREPARE tag_search AS {prepared}")
        for _ in range(8):  # custom plans for the first five runs, then the choice
            connection.exec_driver_sql(f"EXECUTE tag_search ({arguments})").all()
        plan = "\n".join(row[0] for row in connection.exec_driver_sql(
            f"EXPLAIN EXECUTE tag_search ({arguments})"))
    assert "$1" in plan, plan
