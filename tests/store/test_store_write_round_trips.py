"""Round trips of a write on PostgreSQL, counted on the wire (libpq's protocol trace).

A write holds the chain head's row lock from ``SELECT … FOR UPDATE`` to COMMIT, and every
other writer of every replica waits that long (bench/README.md, PostgreSQL writes); each
round trip inside it is a wait on the network and on PostgreSQL's scheduling. These tests
pin how many a group commit of one MLflow-surface write takes, so a change that adds one
shows up here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import IO, Any

import psycopg
import pytest
from sqlalchemy import event

from charter.service import RegistryService

SOURCE = "s3://models-bucket/fraud/model.pkl"

pytestmark = pytest.mark.postgres


@pytest.fixture(params=["postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Wire:
    """The frontend's messages and the round trips (one ReadyForQuery each) of the
    connections the write engine lends out while ``on``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.on = False
        self._files: list[Path] = []
        self._threshold: int | None | bool = False  # False: no connection traced now
        self._file: IO[str] | None = None

    def lend(self, dbapi_connection: Any, *_args: object) -> None:
        if not self.on:
            return
        path = self.folder / f"wire{len(self._files)}.trace"
        self._files.append(path)
        self._threshold = dbapi_connection.prepare_threshold
        # Unprepared, every statement's text is on the wire; preparing one costs no round
        # trip of its own (psycopg sends Parse with the Bind), so the count is the same.
        dbapi_connection.prepare_threshold = None
        self._file = path.open("w")
        dbapi_connection.pgconn.trace(self._file.fileno())
        dbapi_connection.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)

    def give_back(self, dbapi_connection: Any, *_args: object) -> None:
        if self._threshold is not False:
            dbapi_connection.pgconn.untrace()
            assert self._file is not None
            self._file.close()
            dbapi_connection.prepare_threshold = self._threshold
            self._threshold = False

    def locked(self) -> tuple[int, list[str]]:
        """The round trips (one ReadyForQuery each) from the chain head's SELECT … FOR
        UPDATE to COMMIT, and the statements sent meanwhile."""
        lines = [fields for path in self._files for line in path.read_text().splitlines()
                 if len(fields := line.split("\t")) > 2]  # a statement's later lines: not
        start = next(i for i, line in enumerate(lines)
                     if line[0] == "F" and "FOR UPDATE" in line[-1])
        sent = [line[-1] for line in lines[start:]
                if line[0] == "F" and line[2] in ("Query", "Parse")]
        return sum(1 for line in lines[start:] if line[2] == "ReadyForQuery"), sent


@pytest.fixture
def wire(registry: RegistryService, tmp_path: Path) -> Iterator[Wire]:
    tracer = Wire(tmp_path)
    event.listen(registry.db.engine, "checkout", tracer.lend)
    event.listen(registry.db.engine, "checkin", tracer.give_back)
    yield tracer
    event.remove(registry.db.engine, "checkout", tracer.lend)
    event.remove(registry.db.engine, "checkin", tracer.give_back)


def batched_alone(registry: RegistryService, wire: Wire, call: Callable[[], object]) -> Any:
    """``call`` in a group commit of its own, its connection traced."""
    wire.on = True
    try:
        return registry.db.batched(call).result(timeout=30)
    finally:
        wire.on = False


def test_a_new_version_takes_four_round_trips_with_the_head_locked(
        registry: RegistryService, wire: Wire) -> None:
    registry.create_model("fraud_detector")
    registry.register("fraud_detector", SOURCE)

    record = batched_alone(registry, wire, lambda: registry.register(
        "fraud_detector", SOURCE, run_id="r2", create_model=False))

    assert record.version == 2
    assert record == registry.get_version("fraud_detector", 2)  # built, not read back
    # the head with the webhook subscriptions; the call's savepoint with the number taken
    # with its model (and whether it has allowed signers); the version with the batch's
    # events, inside the batch's savepoint; the head moved with COMMIT (the writes whose
    # answers nobody reads are held back and sent with the next statement:
    # store/held_writes.py). No RELEASE SAVEPOINT.
    round_trips, statements = wire.locked()
    assert round_trips == 4, "\n".join(statements)
    assert not any("RELEASE SAVEPOINT" in sql for sql in statements)


def test_a_stage_move_takes_four_round_trips_with_the_head_locked(
        registry: RegistryService, wire: Wire) -> None:
    registry.create_model("fraud_detector")
    registry.register("fraud_detector", SOURCE, tags={"team": "risk"})
    registry.set_alias("fraud_detector", "candidate", 1)

    record = batched_alone(registry, wire, lambda: registry.transition(
        "fraud_detector", 1, "Staging"))

    assert record.stage == "Staging"
    assert record == registry.get_version("fraud_detector", 1)  # built, not read back
    assert (record.tags, record.aliases) == ({"team": "risk"}, ["candidate"])
    # the head with the webhook subscriptions; the call's savepoint with the model, the
    # version with its tags, files and aliases, the one in Production and whether
    # consumers report in one statement; the stage set with the model touched and the
    # event; the head moved with COMMIT
    round_trips, statements = wire.locked()
    assert round_trips == 4, "\n".join(statements)


def submitted_together(registry: RegistryService, wire: Wire,
                       submits: Sequence[Callable[[], Future[Any]]]) -> list[Any]:
    """Calls submitted to the group commit (each ``submits`` item submits one) while its
    thread is held by another call, so they run in one batch; that batch's connection
    traced. A call that fails answers its error."""
    started, gate = threading.Event(), threading.Event()

    def hold() -> bool:
        started.set()
        return gate.wait(10)

    held = registry.db.batched(hold)
    assert started.wait(10)
    wire.on = True
    try:
        futures = [submit() for submit in submits]
        gate.set()
        held.result(timeout=30)
        return [future.exception(timeout=30) or future.result() for future in futures]
    finally:
        wire.on = False


def batched_together(registry: RegistryService, wire: Wire,
                     calls: list[Callable[[], object]]) -> list[Any]:
    """``calls`` in one group commit, that batch's connection traced; a call's error is
    raised."""
    answers = submitted_together(registry, wire,
                                 [partial(registry.db.batched, call) for call in calls])
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
    return answers


def test_writes_in_one_batch_share_one_savepoint_and_one_insert_of_their_events(
        registry: RegistryService, wire: Wire) -> None:
    registry.create_model("fraud_detector")

    def register() -> object:
        return registry.register("fraud_detector", SOURCE, create_model=False).version

    assert batched_together(registry, wire, [register, register, register]) == [1, 2, 3]
    # the head with the webhook subscriptions, 1 per write (its number, sent with the
    # batch's savepoint or the version before it), the last version with the batch's
    # events in one statement, the head moved with COMMIT
    round_trips, statements = wire.locked()
    assert sum("SAVEPOINT" in sql for sql in statements) == 1, "\n".join(statements)
    assert sum("INSERT INTO events" in sql for sql in statements) == 1
    assert round_trips == 1 + 3 * 1 + 2, "\n".join(statements)


def test_stage_moves_in_one_batch_take_one_round_trip_each(
        registry: RegistryService, wire: Wire) -> None:
    registry.create_model("fraud_detector")
    for _ in range(3):
        registry.register("fraud_detector", SOURCE, create_model=False)

    def move(version: int) -> Callable[[], object]:
        return lambda: registry.transition("fraud_detector", version, "Staging").stage

    assert batched_together(registry, wire, [move(1), move(2), move(3)]) == ["Staging"] * 3
    round_trips, statements = wire.locked()
    assert round_trips == 1 + 3 * 1 + 2, "\n".join(statements)
    assert [v.stage for v in registry.list_versions("fraud_detector")] == ["Staging"] * 3


def moved_together(registry: RegistryService, wire: Wire,
                   calls: list[tuple[str, int, str] | Callable[[], object]]) -> list[Any]:
    """Stage moves (model, version, stage) in one group commit, each submitted with its
    model and version as the MLflow route does, and other calls among them."""
    return submitted_together(registry, wire, [
        partial(registry.db.batched, registry.transition, c[0], c[1], c[2],
                move=(c[0], c[1])) if isinstance(c, tuple)
        else partial(registry.db.batched, c) for c in calls])


def test_stage_moves_named_to_the_batch_are_read_together(
        registry: RegistryService, wire: Wire) -> None:
    """Moves submitted with their model and version are read in one statement once the
    batch holds the head (store/moves.py ``read_ahead``): a batch of moves of distinct
    models takes 4 round trips whatever its size."""
    names = ["fraud_detector", "churn_scorer", "credit_ranker", "pricing_model"]
    for name in names:
        registry.create_model(name)
        registry.register(name, SOURCE, create_model=False, tags={"team": "risk"})

    records = moved_together(registry, wire, [(name, 1, "Staging") for name in names])
    assert [(r.name, r.version, r.stage, r.tags) for r in records] == [
        (name, 1, "Staging", {"team": "risk"}) for name in names]
    assert records == [registry.get_version(r.name, r.version) for r in records]
    # the head with the subscriptions; the moves read together; the held writes inside the
    # batch's savepoint; the head moved with COMMIT
    round_trips, statements = wire.locked()
    assert round_trips == 4, "\n".join(statements)


def test_a_move_after_a_change_to_its_model_in_the_batch_reads_it_again(
        registry: RegistryService, wire: Wire) -> None:
    """What was read ahead is used only while no earlier call of the batch can have
    changed the model: after a move of the same model, or after any other call, the
    move reads for itself."""
    registry.create_model("fraud_detector")
    registry.register("fraud_detector", SOURCE, create_model=False)

    def tag() -> object:
        registry.set_version_tag("fraud_detector", 1, "owner", "risk-team")
        return "tagged"

    # v1 to Staging, then to Production (an edge from Staging, not from None), then a
    # tag set by another call, then v1 archived: each answer is the model as it is then.
    answers = moved_together(registry, wire, [
        ("fraud_detector", 1, "Staging"), ("fraud_detector", 1, "Production"), tag,
        ("fraud_detector", 1, "Archived")])
    assert [getattr(a, "stage", a) for a in answers] == [
        "Staging", "Production", "tagged", "Archived"]
    assert answers[3].tags == {"owner": "risk-team"}
    assert answers[3] == registry.get_version("fraud_detector", 1)

    registry.create_model("churn_scorer")
    registry.register("churn_scorer", SOURCE, create_model=False)

    def alias() -> object:  # not a move: it could change any model
        registry.set_alias("churn_scorer", "candidate", 1)
        return "aliased"

    answers = moved_together(registry, wire, [alias, ("churn_scorer", 1, "Staging")])
    assert answers[0] == "aliased"
    assert (answers[1].stage, answers[1].aliases) == ("Staging", ["candidate"])


def test_a_move_by_a_former_name_makes_the_batch_read_that_model_again(
        registry: RegistryService, wire: Wire) -> None:
    """A model has several names: a move by a former name (not read ahead) may change any
    model, so a later move of the same model by its current name reads it again."""
    registry.create_model("churn_scorer")
    registry.register("churn_scorer", SOURCE, create_model=False)
    registry.register("churn_scorer", SOURCE, create_model=False)
    registry.transition("churn_scorer", 1, "Staging")
    registry.transition("churn_scorer", 2, "Staging")
    registry.rename_model("churn_scorer", "churn_ranker")

    answers = moved_together(registry, wire, [("churn_scorer", 1, "Production"),
                                              ("churn_ranker", 1, "Archived")])
    assert [(a.version, a.stage) for a in answers] == [(1, "Production"), (1, "Archived")]
    moved = [(e.version, e.from_stage, e.to_stage) for e in registry.history("churn_ranker")
             if e.action == "stage_changed"][-2:]
    assert moved == [(1, "Staging", "Production"), (1, "Production", "Archived")]
    assert registry.verify_audit().ok


def created_together(registry: RegistryService, wire: Wire,
                     calls: Sequence[str | Callable[[], object]]) -> list[Any]:
    """New versions of models (by name) in one group commit, each submitted with its model
    as the MLflow route does, and other calls among them."""
    register = partial(registry.register, create_model=False)
    return submitted_together(registry, wire, [
        partial(registry.db.batched, register, c, SOURCE, count=c) if isinstance(c, str)
        else partial(registry.db.batched, c) for c in calls])


def test_new_versions_named_to_the_batch_take_their_numbers_together(
        registry: RegistryService, wire: Wire) -> None:
    """New versions submitted with their model's name read their models in one statement
    once the batch holds the head (store/numbers.py): a batch of new versions of distinct
    models takes 4 round trips whatever its size, and each number is the model's counter
    plus one — a deleted version's number is not given out again."""
    names = ["fraud_detector", "churn_scorer", "credit_ranker", "pricing_model"]
    for name in names:
        registry.create_model(name)
        registry.register(name, SOURCE, create_model=False)
        registry.register(name, SOURCE, create_model=False)
    registry.transition("pricing_model", 2, "Staging")
    registry.transition("pricing_model", 2, "Archived")
    registry.delete_version("pricing_model", 2, reason="a bad upload")

    records = created_together(registry, wire, names)
    assert [(r.name, r.version) for r in records] == [
        ("fraud_detector", 3), ("churn_scorer", 3), ("credit_ranker", 3), ("pricing_model", 3)]
    assert records == [registry.get_version(r.name, r.version) for r in records]
    assert [registry.get_model(name).last_version for name in names] == [3, 3, 3, 3]
    # the head with the subscriptions; the models read together; the held writes inside
    # the batch's savepoint; the head moved with COMMIT
    round_trips, statements = wire.locked()
    assert round_trips == 4, "\n".join(statements)
    assert not any("RETURNING id, name" in sql for sql in statements)  # no take_next_number
    assert registry.verify_audit().ok


def test_a_new_version_after_a_change_to_its_model_in_the_batch_takes_its_number_itself(
        registry: RegistryService, wire: Wire) -> None:
    """What was read ahead is used only while no earlier call of the batch can have
    changed the model: a second new version of the same model, a version made by a call
    not read ahead, or a new version of a model the batch creates take their numbers by
    the statement — and every number is right."""
    registry.create_model("fraud_detector")
    registry.register("fraud_detector", SOURCE, create_model=False)
    registry.create_model("churn_scorer")

    def unannounced() -> object:  # not read ahead: it could change any model
        return registry.register("churn_scorer", SOURCE, create_model=False).version

    answers = created_together(registry, wire, [
        "fraud_detector", "fraud_detector", unannounced, "churn_scorer", "fraud_detector",
        "new_model"])
    assert [getattr(a, "version", a) for a in answers[:5]] == [2, 3, 1, 2, 4]
    # a name no model has: the call creates nothing (create_model is False) and is refused
    assert type(answers[5]).__name__ == "NotFound"
    assert [v.version for v in registry.list_versions("fraud_detector")] == [4, 3, 2, 1]
    assert [v.version for v in registry.list_versions("churn_scorer")] == [2, 1]
    assert registry.verify_audit().ok


def a_stale_read(registry: RegistryService) -> tuple[Any, ...]:
    """fraud_detector with versions 1 and 2 (3 deleted, its counter at 3), and a read of
    it as ``numbers.read_ahead`` gives one that says the counter is at 2: number 3,
    deleted, must not come back."""
    registry.create_model("fraud_detector")
    for _ in range(3):
        registry.register("fraud_detector", SOURCE, create_model=False)
    registry.transition("fraud_detector", 3, "Staging")
    registry.transition("fraud_detector", 3, "Archived")
    registry.delete_version("fraud_detector", 3, reason="a bad upload")
    with registry.db.engine.connect() as connection:
        row = connection.exec_driver_sql(
            "SELECT id, name, name_key, description, last_version, created_at, updated_at "
            "FROM models WHERE name_key = 'fraud_detector'").one()
    assert row[4] == 3
    return (*row[:4], 2, row[5], row[6], False)


def test_a_number_read_ahead_that_is_no_longer_true_fails_loudly_and_hands_out_nothing(
        registry: RegistryService, wire: Wire) -> None:
    """The UPDATE that counts a model up with a number read ahead is guarded: if the
    counter is not what was read, it fails (the column refuses NULL) rather than give a
    number out twice. Simulated by a call that offers itself a stale read."""
    from charter.store import numbers

    stale = a_stale_read(registry)

    def with_a_stale_read() -> object:
        numbers.offer("fraud_detector", stale)
        return registry.register("fraud_detector", SOURCE, create_model=False).version

    registry.create_model("churn_scorer")
    answers = created_together(registry, wire, ["churn_scorer", with_a_stale_read,
                                                "churn_scorer"])
    assert [getattr(a, "version", None) for a in answers] == [1, None, 2]
    assert isinstance(answers[1], Exception)
    assert [v.version for v in registry.list_versions("fraud_detector")] == [2, 1]
    assert registry.get_model("fraud_detector").last_version == 3
    assert registry.verify_audit().ok


def test_a_number_read_ahead_that_failed_its_guard_is_taken_again_by_the_statement(
        registry: RegistryService, wire: Wire) -> None:
    """A stale read seen only on the batch's first run: its guard fails the run, the calls
    run again each alone, and the new version then takes its number by the statement —
    the next one, not the deleted one the stale read pointed at."""
    from charter.store import models, numbers

    assert models.COLUMNS.replace("m.", "") in numbers._AHEAD.replace("m.", "")
    stale, runs = a_stale_read(registry), list[int]()

    def stale_once() -> object:
        if not runs:
            numbers.offer("fraud_detector", stale)
        runs.append(1)
        return registry.register("fraud_detector", SOURCE, create_model=False).version

    registry.create_model("churn_scorer")
    answers = created_together(registry, wire, ["churn_scorer", stale_once, "churn_scorer"])
    assert [getattr(a, "version", a) for a in answers] == [1, 4, 2]
    assert len(runs) == 2
    assert [v.version for v in registry.list_versions("fraud_detector")] == [4, 2, 1]
    assert registry.get_model("fraud_detector").last_version == 4
    assert registry.verify_audit().ok


def test_a_batch_that_starts_with_a_call_not_read_ahead_reads_nothing_ahead(
        registry: RegistryService, wire: Wire) -> None:
    """After a call that named nothing, every call reads for itself: a batch starting with
    one does not send a read-ahead it could not use."""
    for name in ("fraud_detector", "churn_scorer"):
        registry.create_model(name)

    def unannounced() -> object:
        registry.set_model_tag("fraud_detector", "team", "risk")
        return None

    answers = created_together(registry, wire, [unannounced, "fraud_detector",
                                                "churn_scorer"])
    assert [getattr(a, "version", a) for a in answers] == [None, 1, 1]
    _, statements = wire.locked()
    assert not any("ANY($1::text[])" in sql for sql in statements), "\n".join(statements)


def test_after_a_rerun_moves_still_use_what_was_read_for_them(
        registry: RegistryService, wire: Wire) -> None:
    """A batch run again call by call (one failed) takes new versions' numbers by the
    statement, but a move after them still uses what was read ahead for it."""
    for name in ("fraud_detector", "churn_scorer", "credit_ranker"):
        registry.create_model(name)
        registry.register(name, SOURCE, create_model=False)
    batched = registry.db.batched
    answers = submitted_together(registry, wire, [
        partial(batched, partial(registry.register, create_model=False), "fraud_detector",
                SOURCE, count="fraud_detector"),
        # refused (None → Archived is no edge): the batch runs again call by call
        partial(batched, registry.transition, "churn_scorer", 1, "Archived",
                move=("churn_scorer", 1)),
        partial(batched, registry.transition, "credit_ranker", 1, "Staging",
                move=("credit_ranker", 1))])
    assert answers[0].version == 2
    assert type(answers[1]).__name__ == "Conflict"
    assert answers[2].stage == "Staging"
    _, statements = wire.locked()
    # the move of credit_ranker read ahead, and not again by itself after the rerun
    alone = [sql for sql in statements if "AND v.version = $" in sql and "unnest" not in sql]
    assert not alone, "\n".join(statements)
