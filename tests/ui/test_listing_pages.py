"""The registry and audit pages filter in the database and page by keyset: following
their links reaches every match exactly once, however deep, and nothing else."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from charter.service import RegistryService

Get = Callable[[str], httpx.Response]


@pytest.fixture
def get(call: Callable[..., httpx.Response]) -> Get:
    def send(path: str) -> httpx.Response:
        response = call("GET", path)
        assert response.status_code == 200, response.text
        return response

    return send


def follow(get: Get, path: str, link: str, found: Callable[[str], list[Any]]
           ) -> list[list[Any]]:
    """What each page shows, following the link labelled ``link`` to the end."""
    pages = []
    while True:
        text = get(path).text
        pages.append(found(text))
        match = re.search(r'<a (?:rel="next" )?href="(/[^"]*)">' + re.escape(link), text)
        if match is None:
            return pages
        path = html.unescape(match.group(1))


def model_names(text: str) -> list[str]:
    return re.findall(r'<h2><a href="/models/[^"]+">([^<]+)</a></h2>', text)


def event_seqs(text: str) -> list[int]:
    return [int(seq) for seq in re.findall(r'<span title="hash [0-9a-f]+">(\d+)</span>', text)]


def test_registry_filters_by_tag_and_stage_page_through_every_match_once(
        service: RegistryService, get: Get) -> None:
    expected = []
    for index in range(60):
        name = f"p{index:02d}_fraud_scorer"
        service.create_model(name, tags={"team": f"t{index % 3}"})
        service.register(name, f"runs:/r{index}/model", run_id=f"r{index}")
        if index % 2 == 0:
            service.transition(name, 1, "Staging", reason="validated")
        if index % 3 == 1 and index % 2 == 0:
            expected.append(name)
    pages = follow(get, "/?tag=team%3Dt1&stage=Staging", "Next page", model_names)
    assert [len(page) for page in pages] == [10]
    assert pages[0] == expected
    staged = follow(get, "/?stage=staging", "Next page", model_names)
    assert [len(page) for page in staged] == [25, 5]
    assert sum(staged, []) == [f"p{i:02d}_fraud_scorer" for i in range(0, 60, 2)]
    tagged = follow(get, "/?tag=team&q=fraud", "Next page", model_names)
    assert sum(tagged, []) == [f"p{i:02d}_fraud_scorer" for i in range(60)]
    assert model_names(get("/?tag=team%3Dnobody").text) == []


def test_the_audit_page_reaches_every_event_of_a_model_older_and_newer(
        service: RegistryService, get: Get) -> None:
    service.register("fraud_scorer", "runs:/r0/model", run_id="r0")
    service.register("churn_ranker", "runs:/r1/model", run_id="r1")
    for round_ in range(60):
        service.set_model_tag("fraud_scorer", "round", str(round_))
        service.set_model_tag("churn_ranker", "round", str(round_))
    mine = [e.seq for e in service.events(after=0, limit=1000) if e.model == "fraud_scorer"]
    assert len(mine) == 62
    older = follow(get, "/audit?model=FRAUD_SCORER", "Older", event_seqs)
    assert [len(page) for page in older] == [50, 12]
    assert sum(older, []) == sorted(mine, reverse=True)
    newer = follow(get, f"/audit?model=fraud_scorer&after={mine[0] - 1}", "← Newer",
                   event_seqs)
    assert [len(page) for page in newer] == [50, 12]
    assert sorted(sum(newer, [])) == mine


def test_the_audit_page_filters_by_action_and_actor_in_the_database(
        service: RegistryService, get: Get) -> None:
    service.register("fraud_scorer", "runs:/r0/model", run_id="r0")
    service.transition("fraud_scorer", 1, "Staging", reason="validated")
    staged = [e.seq for e in service.events(after=0, limit=100) if e.action == "stage_changed"]
    assert event_seqs(get("/audit?action=stage_changed").text) == staged
    assert event_seqs(get("/audit?actor=EER").text) == list(range(len(
        service.events(after=0, limit=100)), 0, -1))
    assert event_seqs(get("/audit?actor=nobody").text) == []
