"""Filtered reads find their rows through an index: the plan of every statement a search,
a listing or an audit window runs never scans the versions or the events whole.

Each test records the SQL a real use case runs (the Reader passes it through
unchanged), checks the answer, then asks the same database for the plan of each
statement: SQLite's ``EXPLAIN QUERY PLAN`` (a ``SCAN`` of versions or events fails),
PostgreSQL's ``EXPLAIN (FORMAT JSON)`` with sequential scans, hash and merge joins
priced out, so the planner takes an index whenever one answers the query (a Seq Scan,
or an index walked without an index condition, fails). A table of a few rows would
otherwise be scanned whatever indexes it has; the registry of 100,000 versions these
plans are for is measured by bench/search_scale.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from charter.service import RegistryService
from charter.store import model_listing, name_suffixes
from charter.store import models as store_models
from charter.store.driver import Reader

WHOLE = ("versions", "events")
# Partial indexes: walking one whole reads only the rows its predicate keeps (the one
# Production version per model), not the table.
PARTIAL = ("one_production_per_model",)
Statements = list[tuple[str, list[Any]]]


@pytest.fixture
def populated(registry: RegistryService) -> RegistryService:
    for index, name in enumerate(("fraud_scorer", "churn_ranker", "search_ranker")):
        registry.create_model(name, tags={"team": f"t{index}", "owner": "@aiko"})
        for number in range(1, 4):
            registry.register(name, f"s3://bucket/{name}/{number}/model.pkl",
                              run_id=f"run{index}{number}",
                              tags={"team": f"t{index}", "commit": f"c{number}"})
        registry.transition(name, 2, "Staging", reason="validated")
    return registry


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[Statements]:
    seen: Statements = []
    original = Reader.all

    def record(self: Reader, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        seen.append((sql, list(params)))
        return original(self, sql, params)

    monkeypatch.setattr(Reader, "all", record)
    yield seen


def whole_scans(service: RegistryService, statements: Statements) -> list[str]:
    """What each statement's plan scans whole of versions or events (empty: nothing)."""
    assert statements, "the use case ran no recorded statement"
    found: list[str] = []
    with service.db.snapshot() as reader:
        postgres = reader.dialect == "postgresql"
        if postgres:
            for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
                reader.run(f"SET LOCAL {setting} = off")
        for sql, params in statements:
            if postgres:
                (plan,), = reader.all("EXPLAIN (FORMAT JSON) " + sql, params)
                plan = json.loads(plan) if isinstance(plan, str) else plan
                found += [f"{sql[:80]}…: {scan}" for scan in _pg_scans(plan[0]["Plan"])]
            else:
                found += [f"{sql[:80]}…: {row[-1]}" for row in
                          reader.all("EXPLAIN QUERY PLAN " + sql, params)
                          if _sqlite_scan(str(row[-1]))]
    return found


def _sqlite_scan(detail: str) -> bool:
    words = detail.split()
    return words[0] == "SCAN" and words[1] in ("v", *WHOLE)


def _pg_scans(node: dict[str, Any]) -> list[str]:
    found = []
    if node.get("Relation Name") in WHOLE:
        kind = node["Node Type"]
        if kind == "Seq Scan" or (kind in ("Index Scan", "Index Only Scan")
                                  and "Index Cond" not in node
                                  and node.get("Index Name") not in PARTIAL):
            found.append(f"{kind} on {node['Relation Name']}")
    for child in node.get("Plans", []):
        found += _pg_scans(child)
    return found


def plans_of(service: RegistryService, recorded: Statements,
             call: Callable[[], Any]) -> tuple[Any, list[str]]:
    recorded.clear()
    answer = call()
    return answer, whole_scans(service, list(recorded))


VERSION_SHAPES = [
    ("name = 'fraud_scorer'", 3),
    ("name IN ('fraud_scorer', 'churn_ranker')", 6),
    ("name LIKE 'fraud%'", 3),
    ("name ILIKE 'FRAUD%'", 3),
    ("tags.team = 't1'", 3),
    ("tags.team LIKE 't1%'", 3),
    ("tags.team ILIKE 'T1'", 3),
    ("name = 'fraud_scorer' AND tags.commit = 'c2'", 1),
    ("name LIKE 'fraud%' AND tags.commit = 'c2'", 1),
    ("run_id = 'run12'", 1),
    ("run_id IN ('run12', 'run23')", 2),
    ("source_path = 's3://bucket/churn_ranker/3/model.pkl'", 1),
    ("name = 'churn_ranker' AND version_number > 1", 2),
    ("name = 'churn_ranker' AND version_number = 2", 1),
]
ORDERS = [None, ["version_number DESC"], ["creation_timestamp ASC"], ["name", "version_number"]]


@pytest.mark.parametrize("order_by", ORDERS, ids=str)
@pytest.mark.parametrize(("filter_string", "count"), VERSION_SHAPES, ids=[s for s, _ in
                                                                          VERSION_SHAPES])
def test_a_filtered_version_search_reads_no_version_or_event_whole(
        populated: RegistryService, recorded: Statements, filter_string: str, count: int,
        order_by: list[str] | None) -> None:
    page, scans = plans_of(populated, recorded, lambda: populated.search_versions(
        filter_string, order_by=order_by))
    assert len(page.items) == count
    assert scans == []


@pytest.mark.parametrize(("filter_string", "names"), [
    ("name = 'fraud_scorer'", ["fraud_scorer"]),
    ("name LIKE '%ranker'", ["churn_ranker", "search_ranker"]),
    ("tags.team = 't2'", ["search_ranker"]),
    ("tags.owner = '@aiko' AND name LIKE 'churn%'", ["churn_ranker"]),
])
def test_a_filtered_model_search_with_its_latest_versions_reads_no_version_whole(
        populated: RegistryService, recorded: Statements, filter_string: str,
        names: list[str]) -> None:
    page, scans = plans_of(populated, recorded,
                           lambda: populated.model_summaries(filter_string))
    assert [summary.model.name for summary in page.items] == names
    assert all({v.stage for v in summary.latest} == {"None", "Staging"}
               for summary in page.items)
    assert scans == []


def test_a_models_history_reads_its_events_by_index(populated: RegistryService,
                                                     recorded: Statements) -> None:
    events, scans = plans_of(populated, recorded,
                             lambda: populated.history("churn_ranker", limit=2))
    assert [e.action for e in events] == ["version_registered", "stage_changed"]
    assert scans == []


def test_the_plan_reader_sees_a_whole_scan_when_there_is_one(
        populated: RegistryService, recorded: Statements) -> None:
    """The check itself: a negated condition has to visit every version."""
    _, scans = plans_of(populated, recorded,
                        lambda: populated.search_versions("run_id != 'run12'"))
    assert scans


@pytest.mark.parametrize(("filters", "names"), [
    ({"tag": "team=t1"}, ["churn_ranker"]),
    ({"tag": "owner"}, ["churn_ranker", "fraud_scorer", "search_ranker"]),
    ({"stage": "Staging"}, ["churn_ranker", "fraud_scorer", "search_ranker"]),
    ({"stage": "Production"}, []),
    ({"name_like": "RANKER", "tag": "team=t2", "stage": "staging"}, ["search_ranker"]),
])
def test_the_model_listing_filters_by_tag_and_stage_without_reading_versions_whole(
        populated: RegistryService, recorded: Statements, filters: dict[str, str],
        names: list[str]) -> None:
    page, scans = plans_of(populated, recorded,
                           lambda: populated.list_models(**filters, max_results=2))
    assert [model.name for model in page.items] == names[:2]
    assert bool(page.next_token) == (len(names) > 2)
    assert scans == []
    if page.next_token:
        rest, scans = plans_of(populated, recorded, lambda: populated.list_models(
            **filters, max_results=2, page_token=page.next_token))
        assert [model.name for model in rest.items] == names[2:] and not rest.next_token
        assert scans == []


def _models_walked(service: RegistryService, statements: Statements) -> list[str]:
    """What each statement's plan walks whole of the models: SQLite's ``SCAN m`` (its
    name index in order counts), PostgreSQL's Seq Scan or condition-less index walk."""
    found: list[str] = []
    with service.db.snapshot() as reader:
        if reader.dialect == "postgresql":
            for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
                reader.run(f"SET LOCAL {setting} = off")
            for sql, params in statements:
                (plan,), = reader.all("EXPLAIN (FORMAT JSON) " + sql, params)
                plan = json.loads(plan) if isinstance(plan, str) else plan
                found += _pg_walks(plan[0]["Plan"], "models")
        else:
            for sql, params in statements:
                found += [str(row[-1]) for row in reader.all("EXPLAIN QUERY PLAN " + sql, params)
                          if str(row[-1]).startswith("SCAN m ")]
    return found


def _pg_walks(node: dict[str, Any], table: str) -> list[str]:
    found = []
    if node.get("Relation Name") == table and (
            node["Node Type"] == "Seq Scan" or "Index Cond" not in node):
        found.append(f"{node['Node Type']} on {table}")
    for child in node.get("Plans", []):
        found += _pg_walks(child, table)
    return found


@pytest.mark.parametrize(("name_like", "names"), [
    ("RANKER", ["churn_ranker", "search_ranker"]),
    ("_r", ["churn_ranker", "search_ranker"]),
    ("_", ["churn_ranker", "fraud_scorer"]),
    ("scorer", ["fraud_scorer"]),
    ("fraud%", []),
    ("zebra", []),
])
def test_the_listing_name_filter_reads_the_names_that_contain_it_not_every_model(
        populated: RegistryService, recorded: Statements, name_like: str,
        names: list[str]) -> None:
    """A substring is a range of the name suffixes' index (migration 0009): a walk over
    every model's name grew with the registry (bench/README.md)."""
    recorded.clear()
    page = populated.list_models(name_like=name_like, max_results=2)
    assert [model.name for model in page.items] == names
    assert _models_walked(populated, list(recorded)) == []


def test_a_name_filter_most_names_contain_walks_the_names_in_order_instead(
        populated: RegistryService, recorded: Statements,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A range that holds many suffixes would collect every match before sorting a page;
    the walk in name order stops after one. Both answer the same."""
    suffixes = populated.list_models(name_like="r", max_results=2)
    monkeypatch.setattr(name_suffixes, "DENSE_SUFFIXES", 2)
    recorded.clear()
    walked = populated.list_models(name_like="r", max_results=2)
    assert [m.name for m in walked.items] == [m.name for m in suffixes.items] == \
        ["churn_ranker", "fraud_scorer"]
    assert walked.next_token == suffixes.next_token != ""
    assert not any("model_name_suffixes s" in sql for sql, _ in recorded)


def test_the_name_filter_follows_a_rename_and_a_delete(populated: RegistryService) -> None:
    def named(text: str) -> list[str]:
        return [m.name for m in populated.list_models(name_like=text).items]

    populated.rename_model("churn_ranker", "churn_forecaster", reason="clearer")
    assert named("ranker") == ["search_ranker"]
    assert named("forecast") == ["churn_forecaster"]
    populated.transition("search_ranker", 2, "Archived", reason="retired")
    populated.delete_model("search_ranker", reason="gone")
    assert named("ranker") == []
    populated.create_model("ranker_two")
    assert named("ranker") == ["ranker_two"]


@pytest.mark.parametrize("filters", [
    {"model": "churn_ranker"}, {"model": "CHURN_RANKER", "before": 10},
    {"model": "churn_ranker", "after": 2}, {"action": "stage_changed"},
    {"action": "version_registered", "model": "fraud_scorer", "before": 100},
], ids=str)
def test_an_audit_window_of_a_model_or_an_action_reads_its_events_by_index(
        populated: RegistryService, recorded: Statements, filters: dict[str, Any]) -> None:
    everything = populated.events(after=0, limit=1000)
    window, scans = plans_of(populated, recorded,
                             lambda: populated.audit_events(**filters, limit=3))
    model, action = filters.get("model", "").lower(), filters.get("action")
    matching = [e.seq for e in everything if (not model or e.model == model)
                and (not action or e.action == action)
                and e.seq > filters.get("after", 0) and e.seq < filters.get("before", 10**6)]
    expected = matching[:3] if "after" in filters else matching[::-1][:3]
    assert [e.seq for e in window] == expected and expected
    assert scans == []


def test_a_tag_value_of_the_longest_kind_is_stored_indexed_and_found(
        populated: RegistryService) -> None:
    """PostgreSQL's B-tree entries hold ~2.7 kB: its index keeps the value's md5."""
    long = "é" * 5000  # 10,000 bytes of UTF-8
    populated.set_version_tag("fraud_scorer", 2, "notes", long)
    populated.set_model_tag("churn_ranker", "notes", long)
    found = populated.search_versions(f"tags.notes = '{long}'")
    assert [(v.name, v.version) for v in found.items] == [("fraud_scorer", 2)]
    assert [m.name for m in populated.list_models(tag=f"notes={long}").items] == [
        "churn_ranker"]
    assert populated.search_versions(f"tags.notes = '{long[:-1]}'").items == []


# --- the MLflow API's searches (briefs): a fixed number of statements per page ----------------

def quality(index: int) -> str:
    """quality_ba_scorer, quality_bb_scorer, …: names the naming policy accepts."""
    return f"quality_{chr(98 + index // 26)}{chr(97 + index % 26)}_scorer"


def _grow(service: RegistryService, count: int) -> None:
    """``count`` more models named q…, each with tags, two versions (one tagged), one in
    Production under an alias: every kind of extra a brief reads."""
    start = len(service.model_briefs("name LIKE 'q%'", max_results=1000).items)
    for index in range(start, start + count):
        name = quality(index)
        service.create_model(name, tags={"team": "t9", "owner": "@aiko"})
        service.register(name, f"s3://bucket/{name}/1/model.pkl", run_id=f"r{index}a")
        service.register(name, f"s3://bucket/{name}/2/model.pkl", run_id=f"r{index}b",
                         tags={"commit": f"c{index}"})
        service.transition(name, 1, "Staging", reason="validated")
        service.transition(name, 1, "Production", reason="validated")
        service.set_alias(name, "champion", 1)


@pytest.mark.parametrize("call", [
    lambda s: s.model_briefs("name LIKE 'quality%'", max_results=100),
    lambda s: s.model_briefs("tags.team = 't9'", max_results=100),
    lambda s: s.model_briefs("", max_results=100),
    lambda s: s.version_briefs("name LIKE 'quality%'"),
    lambda s: s.version_briefs("tags.commit LIKE 'c%'"),
], ids=["models LIKE", "models by tag", "models unfiltered", "versions LIKE",
        "versions by tag"])
def test_an_mlflow_search_page_runs_the_same_statements_for_2_or_20_models(
        populated: RegistryService, recorded_rows: Statements, call: Callable[..., Any],
        backend: str) -> None:
    """Models: the page, the tags and aliases, the newest versions per stage, their tags and
    aliases (4); versions: the page, their tags and aliases (2) — never one per item. On
    PostgreSQL one statement, the extras beside each row or inside the page's one JSON
    value (store/search.py)."""
    def statements() -> tuple[int, Statements]:
        recorded_rows.clear()
        answer = call(populated)
        return len(answer.items), list(recorded_rows)

    _grow(populated, 2)
    small, small_statements = statements()
    _grow(populated, 18)
    large, large_statements = statements()
    assert large >= small + 18
    assert len(large_statements) == len(small_statements) <= (
        1 if backend == "postgres" else 4)
    assert whole_scans(populated, large_statements) == []


@pytest.fixture
def recorded_rows(monkeypatch: pytest.MonkeyPatch, recorded: Statements) -> Statements:
    """``recorded``, with the statements read by ``Reader.one`` too (the point reads)."""
    original = Reader.one

    def record(self: Reader, sql: str, params: Any = ()) -> tuple[Any, ...] | None:
        recorded.append((sql, list(params)))
        return original(self, sql, params)

    monkeypatch.setattr(Reader, "one", record)
    return recorded


@pytest.mark.parametrize("call", [
    lambda s: s.model_brief(quality(1)),
    lambda s: s.latest_versions(quality(1), ["Production"]),
    lambda s: s.latest_versions(quality(1)),
    lambda s: s.get_version_by_alias(quality(1), "champion"),
    lambda s: s.get_version(quality(1), 2),
    lambda s: s.version_location(quality(1), 2),
], ids=["registered model", "latest in Production", "latest in every stage", "alias",
        "version", "download uri"])
def test_an_mlflow_point_read_is_one_statement_on_postgresql_that_reads_no_version_whole(
        populated: RegistryService, recorded_rows: Statements, call: Callable[..., Any],
        backend: str) -> None:
    """No transaction and one round trip on PostgreSQL (store/at_once.py), with the same
    answer as the reads SQLite runs."""
    _grow(populated, 3)
    populated.set_model_tag(quality(1), "note", "ünïcode ✓")
    recorded_rows.clear()
    answer = call(populated)
    assert answer
    if backend == "postgres":
        assert len(recorded_rows) == 1, recorded_rows
    assert whole_scans(populated, list(recorded_rows)) == []
    brief = populated.model_brief(quality(1))
    assert (brief.tags, brief.aliases) == ({"team": "t9", "owner": "@aiko",
                                            "note": "ünïcode ✓"}, {"champion": 1})
    assert [(v.version, v.stage, v.tags) for v in brief.latest] == [
        (2, "None", {"commit": "c1"}), (1, "Production", {})]
    assert [v.version for v in populated.latest_versions(quality(1))] == [2, 1]
    assert populated.get_version_by_alias(quality(1), "CHAMPION").aliases == ["champion"]


def test_an_mlflow_model_brief_carries_what_the_model_record_does(
        populated: RegistryService) -> None:
    _grow(populated, 3)
    populated.set_model_tag(quality(1), "note", "ünïcode ✓")
    summaries = populated.model_summaries("name LIKE 'quality%'").items
    briefs = populated.model_briefs("name LIKE 'quality%'").items
    assert [b.name for b in briefs] == [s.model.name for s in summaries]
    for brief, summary in zip(briefs, summaries, strict=True):
        model = summary.model
        assert (brief.description, brief.created_at, brief.updated_at, brief.tags,
                brief.aliases) == (model.description, model.created_at, model.updated_at,
                                   model.tags, model.aliases)
        assert [(v.version, v.stage, v.tags, v.aliases, v.created_at, v.updated_at,
                 v.source, v.run_id, v.status, v.model_id) for v in brief.latest] == \
            [(v.version, v.stage, v.tags, v.aliases, v.created_at, v.updated_at, v.source,
              v.run_id, v.status, v.model_id) for v in summary.latest]
    assert populated.model_brief(quality(2)).aliases == {"champion": 1}


def test_a_name_prefix_search_reads_the_names_under_the_prefix_only(
        populated: RegistryService, recorded_rows: Statements, backend: str) -> None:
    """``name LIKE 'fraud%'`` seeks a name_key index to the prefix instead of testing the
    pattern on every model; the match stays case-sensitive."""
    _grow(populated, 3)
    page, _ = plans_of(populated, recorded_rows,
                       lambda: populated.model_briefs("name LIKE 'quality_b%'"))
    assert [b.name for b in page.items] == [quality(i) for i in range(3)]
    assert populated.model_briefs("name LIKE 'Quality%'").items == []
    assert [b.name for b in populated.model_briefs("name ILIKE 'QUALITY%'").items] == \
        [quality(i) for i in range(3)]
    if backend == "sqlite":
        with populated.db.snapshot() as reader:
            sql, params = recorded_rows[0]
            plan = [str(row[-1]) for row in reader.all("EXPLAIN QUERY PLAN " + sql, params)]
        assert any(step.startswith("SEARCH m USING INDEX") and "name_key>?" in step
                   for step in plan), plan
    else:  # the range in "C", read from the index in that collation (migration 0010)
        with populated.db.snapshot() as reader:
            reader.run("SET LOCAL enable_seqscan = off")
            sql, params = recorded_rows[0]
            (found,), = reader.all("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = json.dumps(json.loads(found) if isinstance(found, str) else found)
        assert "ix_models_name_key_c" in plan and 'name_key)::text >= ' in plan, plan


# --- the MLflow point reads: one statement each, outside any transaction ----------------------

def _in_transaction(reader: Reader) -> bool:
    connection: Any = reader._cursor.connection  # type: ignore[attr-defined]
    if reader.dialect == "sqlite":
        return bool(connection.in_transaction)
    return not connection.autocommit


def test_an_mlflow_version_search_page_is_one_snapshot(
        populated: RegistryService, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page of ``model-versions/search`` is one statement on PostgreSQL, run as its own
    snapshot; on SQLite it is the page and then its tags and aliases, so both must run in
    one read transaction, or a change between them would tear the answer."""
    seen: list[bool] = []
    original_all, original_one = Reader.all, Reader.one

    def all_rows(self: Reader, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        seen.append(_in_transaction(self))
        return original_all(self, sql, params)

    def one_row(self: Reader, sql: str, params: Any = ()) -> tuple[Any, ...] | None:
        seen.append(_in_transaction(self))
        return original_one(self, sql, params)

    monkeypatch.setattr(Reader, "all", all_rows)
    monkeypatch.setattr(Reader, "one", one_row)
    page = populated.version_briefs("name = 'churn_ranker'")
    assert sorted(v.version for v in page.items) == [1, 2, 3]
    if populated.db.dialect == "postgresql":
        assert seen == [False]
    else:
        assert len(seen) >= 2 and all(seen), seen


def test_an_mlflow_point_read_is_one_statement_without_a_transaction(
        populated: RegistryService, monkeypatch: pytest.MonkeyPatch) -> None:
    """``model-versions/get`` and ``get-download-uri`` read the registry's generation (the
    answer cache's check) and the version with its extras: a statement each, run as its own
    snapshot — no BEGIN and ROLLBACK around them (two round trips on PostgreSQL, two
    calls into SQLite)."""
    seen: list[tuple[str, list[Any], bool]] = []
    original = Reader.one

    def one(self: Reader, sql: str, params: Any = ()) -> tuple[Any, ...] | None:
        seen.append((sql, list(params), _in_transaction(self)))
        return original(self, sql, params)

    monkeypatch.setattr(Reader, "one", one)
    before = populated.db.generation()
    version = populated.get_version("churn_ranker", 2)
    assert (version.name, version.version, version.stage) == ("churn_ranker", 2, "Staging")
    assert version.tags == {"team": "t1", "commit": "c2"}
    assert [in_transaction for _, _, in_transaction in seen] == [False, False]
    assert whole_scans(populated, [(sql, params) for sql, params, _ in seen]) == []
    assert before == populated.db.generation() > 0


def test_mlflow_latest_versions_are_one_statement_without_a_transaction(
        populated: RegistryService, recorded_rows: Statements, monkeypatch: pytest.MonkeyPatch
        ) -> None:
    """get-latest-versions (``models:/NAME/STAGE``): the newest version per stage asked for,
    with its extras, in one statement outside a transaction; the stages' order and repeats
    as asked. A name that is no model's, or stages that hold nothing, take the long way."""
    populated.transition("churn_ranker", 3, "Staging", reason="validated")
    populated.transition("churn_ranker", 3, "Production", reason="validated")
    transactions: list[bool] = []
    original_all, original_one = Reader.all, Reader.one

    def all_rows(self: Reader, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        transactions.append(_in_transaction(self))
        return original_all(self, sql, params)

    def one_row(self: Reader, sql: str, params: Any = ()) -> tuple[Any, ...] | None:
        transactions.append(_in_transaction(self))
        return original_one(self, sql, params)

    # SQLite reads the versions as rows, PostgreSQL the model with them as one row
    # (store/at_once.py): either way one statement.
    monkeypatch.setattr(Reader, "all", all_rows)
    monkeypatch.setattr(Reader, "one", one_row)
    recorded_rows.clear()
    found = populated.latest_versions("churn_ranker", ["Production", "Staging", "Production"])
    assert [(v.version, v.stage) for v in found] == [(3, "Production"), (2, "Staging"),
                                                     (3, "Production")]
    assert found[1].tags == {"team": "t1", "commit": "c2"}
    assert transactions == [False] and len(recorded_rows) == 1
    assert whole_scans(populated, list(recorded_rows)) == []
    newest = [(v.version, v.stage) for v in populated.latest_versions("churn_ranker")]
    assert newest == [(1, "None"), (2, "Staging"), (3, "Production")]

    assert populated.latest_versions("fraud_scorer", ["Archived"]) == []
    populated.rename_model("fraud_scorer", "fraud_ranker")
    assert [v.name for v in populated.latest_versions("fraud_scorer", ["Staging"])] == [
        "fraud_ranker"]


# An embedded SQLite registry runs one version at a time: PostgreSQL only.
@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_models_written_without_their_suffixes_are_found_on_postgresql(
        populated: RegistryService) -> None:
    # A replica still on an earlier version during a rolling upgrade creates and renames
    # models knowing nothing of model_name_suffixes: PostgreSQL's trigger writes them.
    assert populated.db.dialect == "postgresql"
    with populated.db.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO models (name, name_key, description, last_version, created_at, "
            "updated_at) VALUES ('ranker_legacy', 'ranker_legacy', '', 0, now(), now())")
        connection.exec_driver_sql("UPDATE models SET name = 'fraud_ranker', "
                                   "name_key = 'fraud_ranker' WHERE name_key = 'fraud_scorer'")

    def named(text: str) -> list[str]:
        return [m.name for m in populated.list_models(name_like=text).items]

    assert named("legacy") == ["ranker_legacy"]
    assert named("ranker") == ["churn_ranker", "fraud_ranker", "ranker_legacy",
                               "search_ranker"]
    assert named("scorer") == []


def test_the_name_filters_path_counts_only_the_models_the_caller_may_read(
        populated: RegistryService, recorded: Statements,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Two names contain "ranker"; a caller who may read one of them must get the path
    # that one name decides, or a listing's time would tell of names it cannot see.
    monkeypatch.setattr(name_suffixes, "DENSE_SUFFIXES", 2)
    with populated.db.snapshot() as reader:
        churn = store_models.find(reader, "churn_ranker")
        assert churn is not None
        for readable, ranged in (([churn.id], True), (None, False)):
            recorded.clear()
            rows = model_listing.page(reader, name_like="ranker", readable=readable, limit=10)
            assert any("model_name_suffixes s" in sql for sql, _ in recorded) is ranged
            assert [row.name for row in rows] == (["churn_ranker"] if readable else
                                                  ["churn_ranker", "search_ranker"])


@pytest.mark.parametrize("order_by", ORDERS, ids=str)
def test_a_brief_page_is_in_the_order_and_pages_a_record_search_gives(
        populated: RegistryService, order_by: list[str] | None) -> None:
    """The MLflow searches' pages (on PostgreSQL one JSON value, ordered by the page's sort
    keys carried beside each row) hold what the record searches' pages hold, in that order,
    page after page."""
    _grow(populated, 3)

    def pages(search: Callable[..., Any], filter_string: str, key: Callable[[Any], Any],
              size: int, orders: list[str] | None) -> list[list[Any]]:
        found, token = [], ""
        while True:
            page = search(filter_string, max_results=size, order_by=orders, page_token=token)
            found.append([key(item) for item in page.items])
            token = page.next_token
            if not token:
                return found

    def version(item: Any) -> tuple[str, int]:
        return (item.name, item.version)

    for filter_string in ("", "name LIKE 'quality%'", "tags.team = 't1'"):
        assert pages(populated.version_briefs, filter_string, version, 2, order_by) == \
            pages(populated.search_versions, filter_string, version, 2, order_by)
    model_orders = {None: None, "['version_number DESC']": ["name DESC"],
                    "['creation_timestamp ASC']": ["creation_timestamp ASC"],
                    "['name', 'version_number']": ["last_updated_timestamp DESC"]}
    for filter_string in ("", "name LIKE 'q%'", "tags.team = 't9'"):
        orders = model_orders[str(order_by) if order_by else None]
        assert pages(populated.model_briefs, filter_string, lambda m: m.name, 2, orders) == \
            pages(populated.search_models, filter_string, lambda m: m.name, 2, orders)


def test_a_first_page_search_keeps_one_plan_on_postgresql(
        populated: RegistryService, recorded_rows: Statements, backend: str) -> None:
    """An unknown OFFSET made PostgreSQL cost the prepared statement's one plan above a plan
    for the values at hand, so a model search by tag was planned anew on every run (0.9 ms
    of its 2.25); the first page names no OFFSET, and the one plan is kept. The search's own
    statement, prepared on a connection of its own, run as the server's reads run it."""
    if backend != "postgres":
        return  # SQLite plans every statement
    _grow(populated, 3)
    recorded_rows.clear()
    assert populated.model_briefs("tags.team = 't9'").items
    (sql, params), = recorded_rows
    url = populated.db.engine.url.set(drivername="postgresql").render_as_string(
        hide_password=False)
    with psycopg.connect(url, prepare_threshold=0, autocommit=True) as connection:
        for _ in range(10):
            connection.execute(sql.replace("?", "%s"), params).fetchall()
        plans = connection.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE %s", ["%string_agg(p.j%"]).fetchall()
    assert len(plans) == 1 and plans[0][0] > 0, plans