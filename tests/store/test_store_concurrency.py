"""The invariants hold under concurrent clients, on SQLite and on PostgreSQL (DESIGN §2.4, §9).

Every race here is started by a ``threading.Barrier`` so the contenders really
do arrive together, and every wait is bounded: a deadlock fails the test
instead of hanging the suite.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from charter.domain.errors import CharterError, Conflict
from charter.store import tables

NAME = "fraud_detector"
SOURCE = "s3://models-bucket/fraud/model.pkl"
ROUNDS = 20  # for the archive_existing race; the other races run SHORT_ROUNDS
SHORT_ROUNDS = 5
PROMOTERS = 16
REGISTRANTS = 32
WAIT_S = 60  # the longest any one race may take before the test fails


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(REGISTRANTS, thread_name_prefix="contender") as executor:
        yield executor


def race(pool: ThreadPoolExecutor, work: Callable[[Any], Any], args: list[Any]
         ) -> list[Any]:
    """Run ``work(arg)`` for every arg at the same moment; results or CharterErrors, in order.

    Anything that is not a CharterError (a raw database error, a deadlock) propagates.
    """
    barrier = threading.Barrier(len(args), timeout=WAIT_S)

    def contender(arg: Any) -> Any:
        barrier.wait()
        try:
            return work(arg)
        except CharterError as err:
            return err

    futures = [pool.submit(contender, arg) for arg in args]
    return [future.result(timeout=WAIT_S) for future in futures]


def production_rows(registry) -> list[int]:
    """What the database holds, not what a service method says."""
    with registry.db.read() as session:
        return list(session.execute(
            select(tables.Version.version).join(tables.Model)
            .where(tables.Model.name_key == NAME, tables.Version.stage == "Production")
        ).scalars())


def staged(registry, count: int) -> list[int]:
    """``count`` new versions in Staging, set up one by one: serial writes are cheaper
    than contended ones on SQLite, whose busy handler backs off in sleeps."""
    versions = [registry.register(NAME, SOURCE).version for _ in range(count)]
    for version in versions:
        registry.transition(NAME, version, "Staging")
    return versions


def test_concurrent_promoters_with_archive_existing_leave_exactly_one_production(
        registry, pool):
    archived: set[int] = set()
    for _round in range(ROUNDS):
        candidates = staged(registry, PROMOTERS)

        results = race(pool, lambda v: registry.transition(
            NAME, v, "Production", archive_existing=True, reason="race"), candidates)

        assert [r.stage for r in results] == ["Production"] * PROMOTERS  # all serialised
        (winner,) = production_rows(registry)
        assert winner in candidates
        stages = registry.get_model(NAME).stages
        archived |= set(candidates) - {winner}
        assert set(stages["Archived"]) == archived
        archived.add(winner)  # the next round archives it
    assert registry.verify_audit().ok


def test_concurrent_promoters_without_archive_existing_exactly_one_wins(
        registry, pool):
    for _round in range(SHORT_ROUNDS):
        for live in production_rows(registry):
            registry.archive(NAME, live, reason="make room")
        candidates = staged(registry, PROMOTERS)

        results = race(pool, lambda v: registry.transition(
            NAME, v, "Production", reason="race"), candidates)

        winners = [r.version for r in results if not isinstance(r, CharterError)]
        losers = [r for r in results if isinstance(r, CharterError)]
        assert len(winners) == 1
        assert {(type(e), e.code) for e in losers} == {(Conflict, "stage.production_taken")}
        assert production_rows(registry) == winners
        still_staged = {v.version for v in registry.list_versions(NAME, stage="Staging")}
        assert set(candidates) & still_staged == set(candidates) - set(winners)
    assert registry.verify_audit().ok


def test_racing_release_jobs_with_a_precondition_exactly_one_wins(registry, given, pool):
    given.version_in(NAME, "Production")  # v1
    for _round in range(SHORT_ROUNDS):
        (current,) = production_rows(registry)
        candidates = staged(registry, PROMOTERS)

        results = race(pool, lambda v, expected=current: registry.transition(
            NAME, v, "Production", archive_existing=True, expect_production=expected,
            reason="release job"), candidates)

        winners = [r.version for r in results if not isinstance(r, CharterError)]
        assert len(winners) == 1
        assert {e.code for e in results if isinstance(e, CharterError)} == {
            "stage.precondition_failed"}
        assert production_rows(registry) == winners
        assert registry.get_version(NAME, current).stage == "Archived"
    assert registry.verify_audit().ok


def test_concurrent_registrations_of_one_name_get_every_number_once(registry, pool):
    for expected in (range(1, REGISTRANTS + 1), range(REGISTRANTS + 1, 2 * REGISTRANTS + 1)):
        results = race(pool, lambda i: registry.register(
            NAME, f"s3://models-bucket/fraud/{i}/model.pkl"), list(range(REGISTRANTS)))
        assert not [r for r in results if isinstance(r, CharterError)]
        assert sorted(r.version for r in results) == list(expected)

    model = registry.get_model(NAME)
    assert (model.last_version, model.version_count) == (2 * REGISTRANTS, 2 * REGISTRANTS)
    actions = Counter(e.action for e in registry.history(NAME))
    assert actions == {"model_created": 1, "version_registered": 2 * REGISTRANTS}
    assert registry.verify_audit().ok


def test_concurrent_creations_of_one_name_in_any_case_create_one_model(make_registry, pool):
    registry = make_registry(naming_mode="off")
    spellings = ["fraud_detector", "Fraud_Detector", "FRAUD_DETECTOR", "fraud_DETECTOR"] * 4

    results = race(pool, registry.create_model, spellings)

    created = [r for r in results if not isinstance(r, CharterError)]
    assert len(created) == 1
    assert {e.code for e in results if isinstance(e, CharterError)} == {"model.exists"}
    with registry.db.read() as session:
        assert session.execute(select(func.count()).select_from(tables.Model)).scalar_one() == 1


def test_event_times_never_go_backwards_along_the_chain(registry, given, pool):
    # As-of resolution replays the events with time <= as_of in sequence order, so an
    # event must never carry an earlier time than the one before it in the chain.
    given.versions(NAME, PROMOTERS)
    for round_ in range(SHORT_ROUNDS):
        race(pool, lambda v, value=str(round_): registry.set_version_tag(
            NAME, v, "round", value), list(range(1, PROMOTERS + 1)))
    feed = registry.events(limit=10_000)
    backwards = [(a.seq, b.seq) for a, b in zip(feed, feed[1:], strict=False)
                 if b.time < a.time]
    assert backwards == []


def test_readers_see_a_consistent_registry_while_writers_promote(registry, given, pool):
    # A read that spans several statements (verify_audit reads the events and then the
    # chain head; resolve reads the stages and then the version) must see one snapshot,
    # or it reports tampering / a non-Production version that never existed.
    given.version_in(NAME, "Production")
    candidates = staged(registry, 24)
    stop = threading.Event()
    findings: list[str] = []

    def reader() -> None:
        deadline = time.monotonic() + WAIT_S
        while not stop.is_set() and time.monotonic() < deadline:
            report = registry.verify_audit()
            if not report.ok:
                findings.append(f"verify_audit: {report}")
            resolved = registry.resolve(f"models:/{NAME}/Production").version
            if resolved.stage != "Production":
                findings.append(f"resolve Production gave v{resolved.version} "
                                f"in {resolved.stage}")

    readers = [pool.submit(reader) for _ in range(2)]
    try:
        for version in candidates:
            registry.transition(NAME, version, "Production", archive_existing=True)
    finally:
        stop.set()
        for future in readers:
            future.result(timeout=WAIT_S)
    assert findings == []


def test_concurrent_rollbacks_keep_exactly_one_production(registry, pool):
    for version in staged(registry, 4):  # v1..v4 each took Production in turn
        registry.transition(NAME, version, "Production", archive_existing=True)

    results = race(pool, lambda _: registry.rollback(NAME, reason="pager"), list(range(8)))

    # Serialised, they walk back v4 -> v3 -> v2 -> v1; the rest find nothing to restore.
    restored = [r.version for r in results if not isinstance(r, CharterError)]
    refused = [e.code for e in results if isinstance(e, CharterError)]
    assert sorted(restored) == [1, 2, 3]
    assert refused == ["rollback.no_target"] * 5
    assert production_rows(registry) == [1]
    rolled = [e for e in registry.history(NAME) if e.action == "rolled_back"]
    assert len(rolled) == 2 * len(restored)
    assert all(a.correlation_id == b.correlation_id for a, b in zip(rolled[::2], rolled[1::2],
                                                                   strict=True))
    assert registry.verify_audit().ok


def test_deleting_a_model_while_it_is_being_staged_never_loses_a_live_version(registry,
                                                                              pool):
    for _round in range(SHORT_ROUNDS * 2):
        registry.register(NAME, SOURCE)
        version = registry.get_model(NAME).last_version

        staged_result, deleted = race(pool, lambda job: job(), [
            lambda v=version: registry.transition(NAME, v, "Staging"),
            lambda: registry.delete_model(NAME, reason="retire"),
        ])

        if isinstance(deleted, CharterError):  # staging won: the model stays, live
            assert deleted.code == "model.not_deletable"
            assert registry.get_version(NAME, version).stage == "Staging"
            registry.archive(NAME, version)
            registry.delete_model(NAME, reason="retire")
        else:  # deleting won: there was nothing left to stage
            assert isinstance(staged_result, CharterError)
            assert staged_result.code == "model.not_found"
    assert registry.verify_audit().ok
