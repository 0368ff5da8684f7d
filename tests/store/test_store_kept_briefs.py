"""Model briefs kept on PostgreSQL (store/model_briefs.py): every change to what a brief
shows forgets it in the change's transaction, whoever writes the row; a search never shows
a forgotten brief; the refresher makes it again exactly as a search would, and never keeps
one older than the rows it was made of."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from tests.store.pg import libpq_url

from charter.bootstrap import build_service
from charter.config import Settings
from charter.service import RegistryService
from charter.service.base import utc_now
from charter.service.kept_briefs import BriefRefresher
from charter.store import model_briefs, models, versions
from charter.store.driver import Reader, reader_for

pytestmark = pytest.mark.postgres

FRAUD, CHURN = "fraud_detector", "churn_ranker"


@pytest.fixture
def service(postgres_database_url: str, make_settings: Callable[..., Settings]
            ) -> Iterator[RegistryService]:
    built = build_service(make_settings(postgres_database_url), actor="tester",
                          migrate=False)
    for name in (FRAUD, CHURN):
        built.create_model(name, tags={"team": "risk"})
        built.register(name, f"s3://bucket/{name}/1/model.pkl", run_id="r1",
                       tags={"commit": "c1"})
        built.register(name, f"s3://bucket/{name}/2/model.pkl", run_id="r2")
        built.transition(name, 1, "Staging", reason="validated")
        built.transition(name, 1, "Production", reason="validated")
        built.set_alias(name, "champion", 1)
    yield built
    built.db.dispose()


@pytest.fixture
def sql(postgres_database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """Another writer: plain SQL on a connection of its own (an older replica, psql)."""
    with psycopg.connect(libpq_url(postgres_database_url), autocommit=True) as connection:
        yield connection


def kept(service: RegistryService) -> dict[str, bool]:
    with service.db.snapshot() as reader:
        return {name: brief is not None
                for name, brief in reader.all("SELECT name, brief FROM models ORDER BY name")}


def refresh(service: RegistryService) -> int:
    with service.db.housekeeping() as session:
        return model_briefs.refresh(session, 100)


def assert_briefs_are_the_records(service: RegistryService) -> None:
    """What a search of models shows is what the model records say (the record path reads
    the tables, never a brief)."""
    summaries = service.model_summaries("", max_results=100).items
    briefs = service.model_briefs("", max_results=100).items
    assert [b.name for b in briefs] == [s.model.name for s in summaries]
    for brief, summary in zip(briefs, summaries, strict=True):
        model = summary.model
        assert (brief.description, brief.created_at, brief.updated_at, brief.tags,
                brief.aliases) == (model.description, model.created_at, model.updated_at,
                                   model.tags, model.aliases)
        assert [(v.version, v.stage, v.tags, v.aliases, v.created_at, v.updated_at,
                 v.source, v.run_id, v.status, v.description) for v in brief.latest] == \
            [(v.version, v.stage, v.tags, v.aliases, v.created_at, v.updated_at, v.source,
              v.run_id, v.status, v.description) for v in summary.latest]
        assert service.model_brief(brief.name) == brief


CHANGES: dict[str, Callable[[RegistryService], object]] = {
    "model tag set": lambda s: s.set_model_tag(FRAUD, "team", "fraud-ops"),
    "model tag deleted": lambda s: s.delete_model_tag(FRAUD, "team"),
    "alias set": lambda s: s.set_alias(FRAUD, "challenger", 2),
    "alias moved": lambda s: s.set_alias(FRAUD, "champion", 2),
    "alias deleted": lambda s: s.delete_alias(FRAUD, "champion"),
    "version registered": lambda s: s.register(FRAUD, "s3://bucket/f/3/model.pkl",
                                               tags={"commit": "c3"}),
    "version described": lambda s: s.update_version(FRAUD, 2, description="retrained"),
    "version tag set": lambda s: s.set_version_tag(FRAUD, 1, "commit", "c1-fixed"),
    "version tag deleted": lambda s: s.delete_version_tag(FRAUD, 1, "commit"),
    "version moved": lambda s: s.transition(FRAUD, 2, "Staging", reason="validated"),
    "production replaced": lambda s: (
        s.transition(FRAUD, 2, "Staging", reason="validated"),
        s.transition(FRAUD, 2, "Production", reason="validated", archive_existing=True)),
    "version deleted": lambda s: s.delete_version(FRAUD, 2, reason="superseded"),
    "model deleted": lambda s: s.delete_model(FRAUD, reason="retired"),
}
PREPARE: dict[str, Callable[[RegistryService], object]] = {  # before the brief is made
    "version deleted": lambda s: (s.transition(FRAUD, 2, "Staging", reason="tried"),
                                  s.transition(FRAUD, 2, "Archived", reason="superseded")),
    "model deleted": lambda s: s.transition(FRAUD, 1, "Archived", reason="retired"),
}


@pytest.mark.parametrize("kind", list(CHANGES))
def test_a_change_forgets_its_models_brief_and_a_refresh_makes_it_as_a_search_would(
        service: RegistryService, kind: str) -> None:
    PREPARE.get(kind, lambda s: None)(service)
    change = CHANGES[kind]
    assert refresh(service) == 2
    assert kept(service) == {CHURN: True, FRAUD: True}
    before = service.model_briefs(f"name = '{FRAUD}'").items
    change(service)
    assert kept(service).get(FRAUD) is not True, "the change left the old brief kept"
    assert kept(service)[CHURN], "a change to one model forgot another's brief"
    assert service.model_briefs(f"name = '{FRAUD}'").items != before  # shown as it is now
    assert_briefs_are_the_records(service)
    assert refresh(service) == (1 if FRAUD in kept(service) else 0)
    assert all(kept(service).values())
    assert_briefs_are_the_records(service)


def test_a_write_by_plain_sql_forgets_the_brief_too(
        service: RegistryService, sql: psycopg.Connection[Any]) -> None:
    refresh(service)
    sql.execute("UPDATE versions SET description = 'edited by hand' WHERE version = 1 "
                "AND model_id = (SELECT id FROM models WHERE name = %s)", (FRAUD,))
    assert kept(service) == {CHURN: True, FRAUD: False}
    (brief,) = service.model_briefs(f"name = '{FRAUD}'").items
    assert [v.description for v in brief.latest if v.version == 1] == ["edited by hand"]
    refresh(service)
    assert_briefs_are_the_records(service)


def test_a_refresh_skips_a_model_whose_writer_has_not_committed(
        service: RegistryService, postgres_database_url: str) -> None:
    with psycopg.connect(libpq_url(postgres_database_url)) as writer:
        writer.execute("INSERT INTO model_tags (model_id, key, value) "
                       "SELECT id, 'stage_gate', 'on' FROM models WHERE name = %s", (FRAUD,))
        assert refresh(service) == 1  # churn_ranker's; fraud_detector's writer holds it
        assert kept(service) == {CHURN: True, FRAUD: False}
        writer.commit()
    assert refresh(service) == 1
    assert service.model_briefs(f"name = '{FRAUD}'").items[0].tags == {
        "team": "risk", "stage_gate": "on"}
    assert_briefs_are_the_records(service)


def test_a_writer_that_waits_for_a_refresh_forgets_what_it_made(
        service: RegistryService, postgres_database_url: str) -> None:
    """The refresh has locked the model and makes its brief from a snapshot without the
    writer's row; the writer's forgetting waits for the refresh's commit, then forgets."""
    refresh(service)
    service.set_model_tag(FRAUD, "team", "fraud-ops")  # forgotten again
    url = libpq_url(postgres_database_url)
    with psycopg.connect(url) as refresher, psycopg.connect(url) as writer:
        locked = refresher.execute(
            "SELECT id FROM models WHERE brief IS NULL FOR NO KEY UPDATE SKIP LOCKED"
        ).fetchall()
        assert len(locked) == 1
        done = threading.Event()

        def write() -> None:
            writer.execute("INSERT INTO model_tags (model_id, key, value) VALUES (%s, %s, %s)",
                           (locked[0][0], "late", "yes"))
            writer.commit()
            done.set()

        thread = threading.Thread(target=write)
        thread.start()
        assert not done.wait(0.5), "the writer's trigger did not wait for the refresh's lock"
        refresher.execute(f"UPDATE models m SET brief = {model_briefs.MADE_BRIEF} "
                          "WHERE m.id = %s", (locked[0][0],))
        refresher.commit()
        thread.join(10)
        assert done.is_set()
    assert kept(service)[FRAUD] is False
    assert service.model_briefs(f"name = '{FRAUD}'").items[0].tags == {
        "team": "fraud-ops", "late": "yes"}


def test_the_refresher_waits_for_a_quiet_round_or_busy_every(
        service: RegistryService) -> None:
    now = [100.0]
    refresher = BriefRefresher(service.db, busy_every=5.0, clock=lambda: now[0])
    assert refresher.round() == 0  # the head moved since the last round (there was none)
    assert refresher.round() == 2  # a quiet round: made
    service.set_model_tag(FRAUD, "team", "a")
    assert refresher.round() == 0  # writes going on
    service.set_model_tag(FRAUD, "team", "b")
    now[0] += 4.9
    assert refresher.round() == 0
    service.set_model_tag(FRAUD, "team", "c")
    now[0] += 0.2  # 5.1 s since the last refresh: made although never quiet
    assert refresher.round() == 1
    assert refresher.round() == 0  # quiet now, and nothing forgotten since
    assert all(kept(service).values())
    assert_briefs_are_the_records(service)


def test_the_refresher_keeps_up_with_writes_and_stops(service: RegistryService) -> None:
    refresher = BriefRefresher(service.db, every=0.05)
    assert refresher.run_once() == 2
    assert refresher.run_once() == 0  # nothing changed: not looked for
    refresher.start()
    try:
        service.set_version_tag(CHURN, 2, "commit", "c2")
        deadline = threading.Event()
        for _ in range(100):
            if all(kept(service).values()):
                break
            deadline.wait(0.05)
        assert all(kept(service).values())
    finally:
        refresher.stop()
    assert not refresher._thread.is_alive()
    assert_briefs_are_the_records(service)


def _shown(versions: Any) -> list[tuple[Any, ...]]:
    """What MLflow's get-latest-versions shows of each version (api/mlflow/shapes.py)."""
    return [(v.name, v.version, v.stage, v.source, v.run_id, v.description, v.status,
             v.created_at, v.updated_at, v.tags, list(v.aliases), v.model_id)
            for v in versions]


@pytest.mark.parametrize("stages", [None, ["Production"], ["production", "None"],
                                    ["Staging", "Archived"]])
def test_latest_briefs_show_what_latest_versions_do_kept_or_not(
        service: RegistryService, stages: list[str] | None) -> None:
    service.transition(FRAUD, 2, "Staging", reason="validated")
    service.set_version_tag(FRAUD, 2, "commit", "c2")
    for _ in range(2):  # forgotten, then kept
        assert _shown(service.latest_briefs(FRAUD, stages)) == \
            _shown(service.latest_versions(FRAUD, stages))
        refresh(service)
    service.rename_model(FRAUD, "fraud_scorer", reason="clearer")  # a former name
    assert _shown(service.latest_briefs(FRAUD, stages)) == \
        _shown(service.latest_versions("fraud_scorer", stages))


def test_latest_briefs_refuse_as_latest_versions_do(service: RegistryService) -> None:
    for name, stages in (("no_such_model", None), (FRAUD, ["Retired"])):
        with pytest.raises(Exception) as briefly:
            service.latest_briefs(name, stages)
        with pytest.raises(Exception) as fully:
            service.latest_versions(name, stages)
        assert type(briefly.value) is type(fully.value)
        assert briefly.value.args == fully.value.args


# --- review findings (branch review) -------------------------------------------------


def test_a_brief_skipped_for_a_writer_that_rolled_back_is_made_again_without_another_write(
        service: RegistryService, postgres_database_url: str) -> None:
    """A refresh skips a model whose row a writer holds; if that writer rolls back, the
    chain head does not move, and the refresher must not take the registry for clean."""
    service.set_model_tag(FRAUD, "team", "fraud-ops")  # fraud_detector's brief forgotten
    refresher = BriefRefresher(service.db)
    with psycopg.connect(libpq_url(postgres_database_url)) as writer:
        # a writer in progress: its trigger holds the model's row (then it fails)
        writer.execute("INSERT INTO model_tags (model_id, key, value) "
                       "SELECT id, 'doomed', 'x' FROM models WHERE name = %s", (FRAUD,))
        assert refresher.run_once() == 1  # churn_ranker's only
        writer.rollback()
    assert kept(service) == {CHURN: True, FRAUD: False}
    for _ in range(3):  # the registry is idle from now on
        refresher.round()
    assert kept(service)[FRAUD], "fraud_detector's brief stays forgotten until a write"


def test_the_refresh_runs_at_read_committed_whatever_the_databases_default(
        postgres_database_url: str, make_settings: Callable[..., Settings]) -> None:
    """The protocol needs the UPDATE's snapshot taken after the locks (model_briefs.py):
    under a REPEATABLE READ default the snapshot is the lock statement's."""
    joiner = "&" if "?" in postgres_database_url else "?"
    url = (postgres_database_url + joiner
           + "options=-c%20default_transaction_isolation%3Drepeatable%5C%20read")
    built = build_service(make_settings(url), actor="tester", migrate=False)
    try:
        with built.db.housekeeping() as session:
            model_briefs.refresh(session, 100)
            level = reader_for(session).value("SHOW transaction_isolation")
        assert level == "read committed"
    finally:
        built.db.dispose()


# --- a transaction that forgot a model's brief says so (store/triggers.py) ---------------------

@pytest.fixture
def writer(service: RegistryService, postgres_database_url: str
           ) -> Iterator[tuple[psycopg.Connection[Any], Reader]]:
    """A transaction of the store's functions on a connection of the test's own, counting
    the trigger functions it calls (``_trigger_calls``); every brief kept before it."""
    refresh(service)
    with psycopg.connect(libpq_url(postgres_database_url)) as connection:
        connection.execute("SET track_functions = 'pl'")
        yield connection, Reader(connection, "postgresql")


def _trigger_calls(connection: psycopg.Connection[Any]) -> int:
    """Calls of the forgetting functions in this transaction so far."""
    found = connection.execute("SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions "
                               "WHERE funcname LIKE 'charter_forget_brief_%'").fetchone()
    return int(found[0]) if found else 0


def test_a_registration_forgets_the_brief_in_its_numbers_update_and_fires_no_trigger(
        service: RegistryService,
        writer: tuple[psycopg.Connection[Any], Reader]) -> None:
    connection, reader = writer
    taken = models.take_next_number(reader, FRAUD, utc_now())
    assert taken is not None
    versions.insert(reader, taken.model.id, taken.number, model_name=FRAUD, stage="None",
                    source="s3://bucket/f/3/model.pkl", run_id="r3", description="",
                    digest="", now=utc_now(), tags=[("commit", "c3"), ("team", "x")])
    assert _trigger_calls(connection) == 0
    models.set_tag(reader, taken.model.id, "owner", "@aiko")  # the model said forgotten
    assert _trigger_calls(connection) == 0
    versions.set_alias(reader, taken.model.id, "challenger", versions.id_of(
        reader, taken.model.id, 2))
    assert _trigger_calls(connection) == 0
    churn = models.get(reader, CHURN)[0]
    models.set_tag(reader, churn.id, "owner", "@aiko")  # another model: its trigger runs
    assert _trigger_calls(connection) == 1
    connection.commit()
    assert kept(service) == {CHURN: False, FRAUD: False}
    refresh(service)
    assert_briefs_are_the_records(service)


def test_a_savepoint_rolled_back_takes_back_what_its_transaction_said_it_forgot(
        service: RegistryService,
        writer: tuple[psycopg.Connection[Any], Reader]) -> None:
    connection, reader = writer
    connection.execute("SAVEPOINT call")
    assert models.take_next_number(reader, FRAUD, utc_now()) is not None
    connection.execute("ROLLBACK TO SAVEPOINT call")  # the brief is kept again, and …
    fraud = models.get(reader, FRAUD)[0]
    models.set_tag(reader, fraud.id, "owner", "@aiko")  # … this change forgets it
    connection.commit()
    assert kept(service)[FRAUD] is False
    assert service.model_briefs(f"name = '{FRAUD}'").items[0].tags["owner"] == "@aiko"


def test_a_stage_move_forgets_the_brief_with_its_models_time_and_fires_no_trigger(
        service: RegistryService,
        writer: tuple[psycopg.Connection[Any], Reader]) -> None:
    connection, reader = writer
    fraud = models.get(reader, FRAUD)[0]
    # as service.stages applies archive_existing: the one in Production out first (that
    # move touches the model), then the version in
    versions.set_stage(reader, fraud.id, 1, "Archived", utc_now(), touch_model=True)
    versions.set_stage(reader, fraud.id, 2, "Production", utc_now())
    assert _trigger_calls(connection) == 0
    connection.commit()
    assert kept(service) == {CHURN: True, FRAUD: False}
    assert [(v.version, v.stage) for v in service.model_briefs(
        f"name = '{FRAUD}'").items[0].latest] == [(2, "Production"), (1, "Archived")]
    refresh(service)
    assert_briefs_are_the_records(service)
