"""A miss's "did you mean": still a hint in a registry of many models, at a bounded cost.

Reading and comparing every name cost each miss 14 ms of the server's CPU at 2,000 models
(store/models.py ``hint_candidates``); past ``HINT_EVERY_NAME`` models a miss compares a
bounded set of names, found by index ranges, that still holds the name a slip came from.
"""

from __future__ import annotations

from typing import Any

import pytest

from charter.domain.errors import NotFound
from charter.service import RegistryService
from charter.store import models as store_models


def scorer(index: int) -> str:
    """quality_ba_scorer, quality_bb_scorer, …: names the naming policy accepts."""
    return f"quality_{chr(98 + index // 26)}{chr(97 + index % 26)}_scorer"


COUNT = store_models.HINT_EVERY_NAME + 60


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
    close = store_models.difflib.get_close_matches

    def counted(word: str, possibilities: Any, *args: Any, **kwargs: Any) -> Any:
        compared.append(len(possibilities))
        return close(word, possibilities, *args, **kwargs)

    monkeypatch.setattr(store_models.difflib, "get_close_matches", counted)
    with pytest.raises(NotFound) as missed:
        many.get_model(asked)
    assert missed.value.code == "model.not_found"
    assert repr(meant) in missed.value.hint, missed.value.hint
    assert compared and compared[0] <= 4 * store_models.HINT_EACH < COUNT


def test_a_miss_in_a_small_registry_compares_every_name(registry: RegistryService,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    for index in range(5):
        registry.create_model(scorer(index))
    compared: list[int] = []
    close = store_models.difflib.get_close_matches
    monkeypatch.setattr(store_models.difflib, "get_close_matches",
                        lambda word, names, *a, **k: compared.append(len(names)) or
                        close(word, names, *a, **k))
    with pytest.raises(NotFound) as missed:
        registry.get_model("xuality_bc_scorr")
    assert compared == [5] and "'quality_bc_scorer'" in missed.value.hint
