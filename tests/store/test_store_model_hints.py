"""A miss's "did you mean": still a hint in a registry of many models, at a bounded cost.

Reading and comparing every name cost each miss 14 ms of the server's CPU at 2,000 models
(store/model_hints.py); past ``HINT_EVERY_NAME`` models a miss reads a bounded set of
names, found by index ranges — which still hold the name a slip came from — and rapidfuzz
scores them. On PostgreSQL the MLflow reads learn a former name and the candidates from
the statement that reads a hit.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from charter.domain.access import Principal, Role
from charter.domain.errors import NotFound
from charter.service import RegistryService
from charter.store import at_once, model_hints
from charter.store import models as store_models
from charter.store.driver import Reader, reader_for


def scorer(index: int) -> str:
    """quality_ba_scorer, quality_bb_scorer, …: names the naming policy accepts."""
    return f"quality_{chr(98 + index // 26)}{chr(97 + index % 26)}_scorer"


COUNT = model_hints.HINT_EVERY_NAME + 60


def create(registry: RegistryService, count: int) -> RegistryService:
    for index in range(count):
        registry.create_model(scorer(index))
    return registry


@pytest.fixture
def many(registry: RegistryService) -> RegistryService:
    return create(registry, COUNT)


def compared_counts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many candidates each hint scored (``model_hints.closest``)."""
    counts: list[int] = []
    closest = model_hints.closest

    def counted(name: str, candidates: Any) -> list[str]:
        counts.append(len(candidates))
        return closest(name, candidates)

    monkeypatch.setattr(model_hints, "closest", counted)
    return counts


@pytest.mark.parametrize("asked, meant", [
    ("quality_cd_scorr", "quality_cd_scorer"),    # late in the name: its neighbours
    ("xuality_cd_scorer", "quality_cd_scorer"),   # its first character
    ("qualxty_cd_scorer", "quality_cd_scorer"),   # early in it: its second half
    ("QUALITY_BA_SCORER_", "quality_ba_scorer"),  # past the first name in key order
    ("quality_hd_scorerx", "quality_hd_scorer"),  # past the last (index 159)
])
def test_a_miss_in_a_large_registry_still_names_what_was_meant(
        many: RegistryService, asked: str, meant: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    counts = compared_counts(monkeypatch)
    with pytest.raises(NotFound) as missed:
        many.get_model(asked)
    assert missed.value.code == "model.not_found"
    assert missed.value.hint.startswith(f"did you mean {meant!r}"), missed.value.hint
    assert counts and counts[0] <= 4 * model_hints.HINT_EACH < COUNT


@pytest.mark.parametrize("asked, meant", [
    ("xuality_bm_scorex", "quality_bm_scorer"),      # its first and last characters
    ("prod_quality_bm_scorer_v2", "quality_bm_scorer"),  # a word before and after
    ("quality_scorer_bm", "quality_bm_scorer"),      # words moved
    ("quality_bm", "quality_bm_scorer"),             # a word left out
])
def test_a_miss_in_a_small_registry_names_what_was_meant_first(
        registry: RegistryService, asked: str, meant: str) -> None:
    """Thirty models: every name a candidate; the one meant is the first hinted."""
    create(registry, 30)
    with pytest.raises(NotFound) as missed:
        registry.get_model(asked)
    assert missed.value.hint.startswith(f"did you mean {meant!r}"), missed.value.hint


@pytest.mark.parametrize("count, every", [
    (model_hints.HINT_EVERY_NAME, True), (model_hints.HINT_EVERY_NAME + 1, False)])
def test_every_name_is_a_candidate_up_to_the_limit_and_none_past_it(
        registry: RegistryService, count: int, every: bool) -> None:
    create(registry, count)
    with registry.db.read() as reader:
        candidates = model_hints.hint_candidates(reader, "quality_ba_scorr")
    if every:
        assert candidates == sorted(scorer(index) for index in range(count))
    else:
        assert "quality_ba_scorer" in candidates
        assert len(candidates) <= 4 * model_hints.HINT_EACH


def test_a_miss_among_no_names_hints_the_listing(registry: RegistryService) -> None:
    with pytest.raises(NotFound) as missed:
        registry.get_model("quality_ba_scorer")
    assert "charter ls" in missed.value.hint


def test_closest_puts_the_best_first_and_hints_short_names_as_difflib_did() -> None:
    names = ["fraud_detector", "fraud_scorer", "churn_forecast"]
    assert model_hints.closest("fraud_detecter", names)[0] == "fraud_detector"
    assert model_hints.closest("churn_forcast", names) == ["churn_forecast"]
    assert model_hints.closest("scorer_fraud", names)[0] == "fraud_scorer"  # words moved
    assert model_hints.closest("a", names) == []
    assert model_hints.closest("zzz_qqq", names) == []
    # a slip in a short name is hinted; a long name holding the short one is not
    assert model_hints.closest("a", ["ab", "abc", "alpha", "data"]) == ["ab"]
    assert model_hints.closest("gpu", ["xgboost_gpu_large_model", "gpt"]) == ["gpt"]
    assert model_hints.closest("abc", ["acb"]) == ["acb"]
    assert model_hints.closest("my-model", ["my_model"]) == ["my_model"]


def noting(calls: list[str], name: str, real: Any) -> Any:
    def noted(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return real(*args, **kwargs)
    return noted


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_model_miss_on_postgresql_is_told_by_the_statement_that_reads_a_hit(
        registry: RegistryService, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """registered-models/get's and get-latest-versions' miss: the one statement that reads
    a hit tells it too, the former name and the hint's candidates with it
    (``at_once.model_brief_or_miss``), not a second statement nor ``models.get`` in a read
    transaction; a former name still goes there, followed."""
    create(registry, 2)
    registry.rename_model(scorer(0), "quality_bb_scorer_next", reason="renamed")
    calls: list[str] = []
    for module, name in ((store_models, "get"), (model_hints, "hint_candidates"),
                         (at_once, "model_brief_or_miss")):
        monkeypatch.setattr(module, name, noting(calls, name, getattr(module, name)))
    statements = recording_statements(monkeypatch)

    with pytest.raises(NotFound) as missed:
        registry.model_brief("quality_bb_scorr")
    assert missed.value.hint.startswith("did you mean 'quality_bb_scorer'")
    assert calls == ["model_brief_or_miss"]
    assert len(statements) == 1
    calls.clear()
    statements.clear()
    with pytest.raises(NotFound) as missed:
        registry.latest_briefs("quality_bb_scorr")
    assert missed.value.hint.startswith("did you mean 'quality_bb_scorer'")
    assert (calls, len(statements)) == (["model_brief_or_miss"], 1)
    calls.clear()
    statements.clear()
    assert registry.model_brief(scorer(1)).name == scorer(1)
    assert (calls, len(statements)) == (["model_brief_or_miss"], 1)
    calls.clear()
    assert registry.model_brief(scorer(0)).name == "quality_bb_scorer_next"
    assert calls == ["model_brief_or_miss", "get"]


def recording_statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements read through ``Reader.all`` and ``Reader.one`` from now on."""
    statements: list[str] = []
    for method in ("all", "one"):
        real = getattr(Reader, method)

        def record(self: Reader, sql: str, params: Any = (), *, real: Any = real) -> Any:
            statements.append(sql)
            return real(self, sql, params)

        monkeypatch.setattr(Reader, method, record)
    return statements


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_hit_and_a_miss_read_in_one_statement_answer_as_the_long_way(
        many: RegistryService, backend: str) -> None:
    """``model_brief_or_miss`` against ``models.get`` (which follows a former name) and
    ``model_hints.hint_candidates``: a hit's row and brief, a miss's candidates (with and
    without a hint) and a former name. A hit's statement answers the brief's row alone:
    the miss's part does not run (its rows would follow it)."""
    many.rename_model(scorer(0), "quality_zz_scorer", reason="renamed")

    def long_way(reader: Reader, name: str, hint: bool) -> model_hints.Miss:
        try:
            _, former_name = store_models.get(reader, name)
        except NotFound:
            former_name = None
        return model_hints.Miss(former_name is not None,
                                model_hints.hint_candidates(reader, name) if hint else [])

    with many.db.read() as session:
        reader = reader_for(session)
        hit = at_once.model_brief_or_miss(reader, scorer(1), hint=True)
        assert not isinstance(hit, model_hints.Miss)
        assert hit[0] == store_models.get(reader, scorer(1))[0]
        assert hit[1].name == scorer(1)
        key = model_hints.name_key(scorer(1))
        for hint, params in ((True, model_hints.miss_params(scorer(1))), (False, [key])):
            assert len(reader.all(at_once._BRIEF_OR_MISS[hint], [key, *params, key])) == 1
        for name in ("quality_bb_scorr", scorer(0), "nothing_like_it_at_all"):
            for hint in (True, False):
                missed = at_once.model_brief_or_miss(reader, name, hint=hint)
                assert missed == long_way(reader, name, hint), (name, hint)
                assert missed.former == (name == scorer(0))
                assert bool(missed.candidates) == hint
    assert many.model_brief(scorer(1)) == hit[1]


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_caller_who_sees_only_some_models_gets_no_hint_and_none_is_read(
        registry: RegistryService, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    create(registry, 3)
    with registry.db.read() as read:
        model_id = store_models.get(read, scorer(1))[0].id
    reader = registry.as_principal(Principal(
        "alice", user_id=1, token_id=1, model_roles={model_id: Role.READER},
        model_keys={scorer(1): model_id}))
    calls: list[str] = []
    monkeypatch.setattr(model_hints, "candidate_params",
                        noting(calls, "candidate_params", model_hints.candidate_params))
    for read in (reader.model_brief, reader.latest_briefs):
        with pytest.raises(NotFound) as missed:
            read("quality_bb_scorr")
        assert "did you mean" not in missed.value.hint
    assert calls == []
    assert reader.model_brief(scorer(1)).name == scorer(1)


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_postgresql_keeps_one_generic_plan_for_the_miss(
        many: RegistryService, backend: str, database_url: str) -> None:
    """MISS and the brief-or-miss statements are prepared on the server's kept
    connections (at_once.py ``model_brief_or_miss``); a plan made for each miss again
    cost PostgreSQL 0.6 ms of its 0.8 per miss (the suffix ranges as IN (...): a generic
    plan reckoned sixteen lookups each, a plan for the values one)."""
    def brief_or_miss(name: str) -> list[object]:
        key = model_hints.name_key(name)
        return [key, *model_hints.miss_params(name), key]

    statements = {model_hints.MISS["postgresql"]: model_hints.miss_params,
                  at_once._BRIEF_OR_MISS[True]: brief_or_miss,
                  at_once._BRIEF_OR_MISS[False]: lambda name: [model_hints.name_key(name)] * 3}
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"),
                         autocommit=True) as connection:
        # a registry of a few thousand models (their suffixes by the table's trigger),
        # where a generic plan of IN (...) reckoned sixteen lookups a range: never kept
        connection.execute("INSERT INTO models (name, name_key, description, last_version, "
                           "created_at, updated_at) SELECT 'padding_' || n, 'padding_' || n, "
                           "'', 0, now(), now() FROM generate_series(1, 3000) n")
        connection.execute("ANALYZE")
        for statement, params in statements.items():
            for index in range(12):  # misses, and (the brief's statements) hits too
                name = scorer(index) if index % 3 == 0 else f"{scorer(index)}_gone"
                connection.execute(statement.replace("?", "%s"), params(name),
                                   prepare=True).fetchall()
        plans = connection.execute("SELECT generic_plans, custom_plans "
                                   "FROM pg_prepared_statements").fetchall()
    assert len(plans) == 3
    for generic, custom in plans:
        assert generic >= 6 and custom <= 6, plans
