"""A miss's "did you mean": still a hint in a registry of many models, at a bounded cost.

Reading and comparing every name cost each miss 14 ms of the server's CPU at 2,000 models
(store/model_hints.py ``hint_candidates``, ``nearest``); past ``HINT_EVERY_NAME`` models a miss
reads a bounded set of names, found by index ranges, and difflib compares the
``HINT_COMPARED`` nearest of them — which still hold the name a slip came from.
"""

from __future__ import annotations

from typing import Any

import pytest

from charter.domain.errors import NotFound
from charter.service import RegistryService
from charter.store import model_hints
from charter.store import models as store_models


def scorer(index: int) -> str:
    """quality_ba_scorer, quality_bb_scorer, …: names the naming policy accepts."""
    return f"quality_{chr(98 + index // 26)}{chr(97 + index % 26)}_scorer"


COUNT = model_hints.HINT_EVERY_NAME + 60


@pytest.fixture
def many(registry: RegistryService) -> RegistryService:
    for index in range(COUNT):
        registry.create_model(scorer(index))
    return registry


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
    compared: list[int] = []
    close = model_hints.difflib.get_close_matches

    def counted(word: str, possibilities: Any, *args: Any, **kwargs: Any) -> Any:
        compared.append(len(possibilities))
        return close(word, possibilities, *args, **kwargs)

    monkeypatch.setattr(model_hints.difflib, "get_close_matches", counted)
    with pytest.raises(NotFound) as missed:
        many.get_model(asked)
    assert missed.value.code == "model.not_found"
    assert repr(meant) in missed.value.hint, missed.value.hint
    assert compared and compared[0] <= model_hints.HINT_COMPARED < COUNT


@pytest.mark.parametrize("asked, meant", [
    ("xuality_bm_scorex", "quality_bm_scorer"),      # its first and last characters
    ("prod_quality_bm_scorer_v2", "quality_bm_scorer"),  # a word before and after
    ("quality_scorer_bm", "quality_bm_scorer"),      # words moved
])
def test_a_miss_in_a_small_registry_still_names_what_was_meant(
        registry: RegistryService, asked: str, meant: str) -> None:
    """Thirty models: every name a candidate, the eight difflib compares chosen by the
    characters they share with the asked one in any order."""
    for index in range(30):
        registry.create_model(scorer(index))
    with pytest.raises(NotFound) as missed:
        registry.get_model(asked)
    assert repr(meant) in missed.value.hint, missed.value.hint


def test_a_miss_among_few_names_compares_every_name(registry: RegistryService,
                                                    monkeypatch: pytest.MonkeyPatch
                                                    ) -> None:
    for index in range(5):
        registry.create_model(scorer(index))
    compared: list[int] = []
    close = model_hints.difflib.get_close_matches
    monkeypatch.setattr(model_hints.difflib, "get_close_matches",
                        lambda word, names, *a, **k: compared.append(len(names)) or
                        close(word, names, *a, **k))
    with pytest.raises(NotFound) as missed:
        registry.get_model("xuality_bc_scorr")
    assert compared == [5] and "'quality_bc_scorer'" in missed.value.hint


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_miss_on_postgresql_is_refused_in_one_statement_reads(
        registry: RegistryService, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The MLflow reads' misses (registered-models/get, get-latest-versions) are told by
    one-statement reads, not by ``models.get`` in a read transaction; a former name still
    goes there and is followed."""
    registry.create_model("quality_ba_scorer")
    registry.rename_model("quality_ba_scorer", "quality_bb_scorer", reason="renamed")
    read_in_transaction: list[str] = []
    get = store_models.get

    def noted(conn: Any, name: str, **kwargs: Any) -> Any:
        read_in_transaction.append(name)
        return get(conn, name, **kwargs)

    monkeypatch.setattr(store_models, "get", noted)
    for read in (registry.model_brief, registry.latest_briefs):
        with pytest.raises(NotFound) as missed:
            read("quality_bb_scorr")
        assert "'quality_bb_scorer'" in missed.value.hint
    assert read_in_transaction == []
    assert registry.model_brief("quality_ba_scorer").name == "quality_bb_scorer"
    assert read_in_transaction == ["quality_ba_scorer"]
