"""Kept answers of the MLflow read calls (charter.api.mlflow.cache): served again while
the registry is unchanged, never after a change — made by this process or another.

Two apps over one database stand for two server workers (or replicas): each keeps
its own answers, and a write through one must show in the other's next read. An answer
is kept the second time its request is asked (the doorkeeper), so a request asked once
takes no memory.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest
from starlette.responses import Response

from charter.api.mlflow.cache import ENTRY_OVERHEAD, AnswerCache, Doorkeeper, Frequency, answer
from charter.bootstrap import build_service
from charter.domain.access import Principal, Role
from charter.server.app import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

API = "/api/2.0/mlflow"
SOURCE = "runs:/0123456789abcdef0123456789abcdef/model"


def worker(settings: Any) -> TestClient:
    return TestClient(create_app(build_service(settings, actor="test"), settings))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_workers(request, make_settings):  # type: ignore[no-untyped-def]
    url = request.getfixturevalue(f"{request.param}_database_url")
    settings = make_settings(url, naming_mode="off")
    return worker(settings), worker(settings)


def cache_of(client: TestClient):  # type: ignore[no-untyped-def]
    return client.app.state.answers  # type: ignore[attr-defined]


def get_version(client: TestClient, version: str = "1") -> dict[str, Any]:
    response = client.get(f"{API}/model-versions/get",
                          params={"name": "fraud_detector", "version": version})
    assert response.status_code == 200, response.text
    return response.json()["model_version"]


def test_an_unchanged_registry_answers_from_the_cache(two_workers) -> None:  # type: ignore[no-untyped-def]
    first, _ = two_workers
    first.post(f"{API}/registered-models/create", json={"name": "fraud_detector"})
    first.post(f"{API}/model-versions/create", json={"name": "fraud_detector", "source": SOURCE})
    cache = cache_of(first)
    assert get_version(first) == get_version(first)
    hits = cache.hits
    for _ in range(3):
        get_version(first)
    assert cache.hits == hits + 3


def test_a_change_in_another_worker_is_seen_at_once(two_workers) -> None:  # type: ignore[no-untyped-def]
    first, second = two_workers
    first.post(f"{API}/registered-models/create", json={"name": "fraud_detector"})
    first.post(f"{API}/model-versions/create", json={"name": "fraud_detector", "source": SOURCE})
    assert get_version(first)["current_stage"] == "None"
    get_version(first)  # now kept

    moved = second.post(f"{API}/model-versions/transition-stage",
                        json={"name": "fraud_detector", "version": "1", "stage": "Staging"})
    assert moved.status_code == 200, moved.text
    assert get_version(first)["current_stage"] == "Staging"

    second.post(f"{API}/model-versions/set-tag", json={"name": "fraud_detector",
                                                        "version": "1", "key": "team",
                                                        "value": "risk"})
    assert get_version(first)["tags"] == [{"key": "team", "value": "risk"}]
    search = first.get(f"{API}/registered-models/search",
                       params={"filter": "name LIKE 'fraud%'"})
    assert search.json()["registered_models"][0]["latest_versions"][0]["tags"] == [
        {"key": "team", "value": "risk"}]


def test_a_miss_is_kept_until_the_registry_changes(two_workers) -> None:  # type: ignore[no-untyped-def]
    # A name no model holds is a fact of the registry at its seq, as a found model is:
    # asked again, it is answered from memory (each answer stamped with its own request
    # id), and a model created anywhere is found at once.
    first, second = two_workers
    misses = [first.get(f"{API}/registered-models/get", params={"name": "fraud_detector"})
              for _ in range(4)]
    assert {m.status_code for m in misses} == {404}
    assert {m.json()["error_code"] for m in misses} == {"RESOURCE_DOES_NOT_EXIST"}
    assert {m.json()["charter_code"] for m in misses} == {"model.not_found"}
    assert len({m.json()["message"] for m in misses}) == 1
    ids = [m.json()["request_id"] for m in misses]
    assert len(set(ids)) == 4 and [m.headers["x-request-id"] for m in misses] == ids
    assert cache_of(first).hits == 2  # noted, kept, then served twice
    second.post(f"{API}/registered-models/create", json={"name": "fraud_detector"})
    found = first.get(f"{API}/registered-models/get", params={"name": "fraud_detector"})
    assert found.status_code == 200, found.text
    hits = cache_of(first).hits
    for _ in range(3):  # a version not yet registered: kept as well
        version = first.get(f"{API}/model-versions/get",
                            params={"name": "fraud_detector", "version": "1"})
        assert version.status_code == 404
    assert cache_of(first).hits == hits + 1
    second.post(f"{API}/model-versions/create", json={"name": "fraud_detector", "source": SOURCE})
    assert get_version(first)["version"] == "1"


def test_a_kept_miss_is_not_the_answer_to_a_request_read_from_its_body(two_workers) -> None:  # type: ignore[no-untyped-def]
    # A GET with a query string is read from it, a POST from its body: the same URL and
    # body asked both ways are two requests, kept apart.
    first, _ = two_workers
    first.post(f"{API}/registered-models/create", json={"name": "fraud_detector"})
    url = f"{API}/registered-models/get-latest-versions?name=churn_model"
    body = b'{"name": "fraud_detector"}'
    headers = {"content-type": "application/json"}
    for _ in range(3):
        assert first.request("GET", url, content=body, headers=headers).status_code == 404
    posted = first.request("POST", url, content=body, headers=headers)
    assert posted.status_code == 200, posted.text
    assert posted.json() == {"model_versions": []}


def test_refusals_other_than_a_miss_are_not_kept(two_workers) -> None:  # type: ignore[no-untyped-def]
    first, _ = two_workers
    for _ in range(3):
        bad = first.get(f"{API}/registered-models/search", params={"filter": "name ~ 'x'"})
        assert bad.status_code == 400, bad.text
    assert cache_of(first).stats()["stored"] == 0


def test_principals_with_a_partial_view_are_answered_afresh(sqlite_database_url,
                                                             make_settings) -> None:
    settings = make_settings(sqlite_database_url, naming_mode="off")
    service = build_service(settings, actor="test")
    service.create_model("fraud_detector")
    service.register("fraud_detector", SOURCE, create_model=False)
    reader = Principal(name="carol", user_id=7, model_roles={1: Role.READER},
                       model_keys={"fraud_detector": 1})
    assert not reader.sees_all
    cache = AnswerCache()
    acting = service.as_principal(reader)
    calls = []

    def compute() -> Response:
        calls.append(1)
        return Response(b"{}", media_type="application/json")

    for _ in range(3):
        asyncio.run(answer(cache, acting, "key", compute))
    assert len(calls) == 3 and cache.hits == 0
    for _ in range(3):  # the local admin sees every model: noted, kept, then served
        asyncio.run(answer(cache, service, "key", compute))
    assert len(calls) == 5 and cache.hits == 1


def test_the_cache_is_bounded_by_bytes_and_counts_what_it_does() -> None:
    entry = 2 + 1 + ENTRY_OVERHEAD  # a 2-byte body under a 1-character key
    cache = AnswerCache(max_bytes=3 * entry, admit_first_ask=True)
    for key in "abc":
        cache.put(key, 1, b"xx")
    cache.worth_checking("d")  # asked (as answer() notes each ask): more often than "a"
    cache.put("d", 1, b"xx")
    assert cache.get("a", 1) is None and cache.get("d", 1) == (b"xx", 200)
    cache.worth_checking("big")
    cache.put("big", 1, b"x" * 9)  # needs more room than one small entry frees
    assert cache.get("b", 1) is None and cache.get("c", 1) is None
    assert cache.get("big", 1) is not None
    assert cache.get("big", 2) is None  # another generation: not an answer any more
    assert cache.stats() == {"hits": 2, "misses": 4, "hit_rate": 0.3333, "stored": 5,
                             "first_asks": 0, "too_large": 0, "colder": 0, "evictions": 3,
                             "entries": 2, "bytes": entry + 9 + 3 + ENTRY_OVERHEAD,
                             "max_bytes": 3 * entry, "doorkeeper_slots": 0}


def test_an_answer_is_kept_only_once_its_request_is_asked_again() -> None:
    # Integer keys: their hashes are their values, so the four keys sit in four doorkeeper
    # slots in every run (strings are hashed with a per-process salt; three others share
    # a slot with "once" about one run in 340, and a key whose slot is taken is forgotten).
    cache, once = AnswerCache(max_bytes=1024 * 1024), 1000
    assert not cache.put(once, 1, b"{}")  # noted, not kept
    assert cache.get(once, 1) is None
    for key in (1, 2, 3):  # other keys between two asks of one: still recent
        cache.put(key, 1, b"{}")
    assert cache.put(once, 1, b"{}")  # asked again: kept
    assert cache.get(once, 1) == (b"{}", 200)
    # Held for an older generation: a changed registry's answer replaces it at once.
    assert cache.put(once, 2, b"[]") and cache.get(once, 2) == (b"[]", 200)
    stats = cache.stats()
    assert (stats["stored"], stats["first_asks"], stats["entries"]) == (2, 4, 1)
    assert stats["doorkeeper_slots"] == 1024


def test_requests_asked_once_take_no_memory_and_push_out_nothing() -> None:
    body = b"x" * 1000
    cache = AnswerCache(max_bytes=64 * 1024)
    cache.put("hot", 1, body)
    cache.put("hot", 1, body)
    for unique in range(10_000):  # a scan of one-off queries, 150 times the cache
        assert not cache.put(f"cold-{unique}", 1, body)
    assert cache.get("hot", 1) == (body, 200)
    stats = cache.stats()
    assert stats["entries"] == 1 and stats["evictions"] == 0
    assert stats["bytes"] == len(body) + 3 + ENTRY_OVERHEAD


def asked(cache: AnswerCache, key: str, generation: int = 1, body: bytes = b"x" * 100) -> bool:
    """One request as answer() makes it: noted; unless asked for the first time lately,
    served if held, else computed and offered; whether it was served from the cache."""
    if not cache.worth_checking(key):
        return False
    if cache.get(key, generation) is not None:
        return True
    cache.put(key, generation, body)
    return False


def test_a_scan_larger_than_the_cache_is_served_in_part_not_pushed_through() -> None:
    # 30 answers asked over and over in the same order, room for 10: least recently used
    # alone would push out each one just before it is asked again and serve none.
    # (No doorkeeper: two of 30 keys in one of its 1,024 slots would never be let in.)
    cache = AnswerCache(max_bytes=10 * (100 + 3 + ENTRY_OVERHEAD), admit_first_ask=True)
    keys = [f"k{n:02}" for n in range(30)]
    for key in keys:  # the first ten fill the cache
        asked(cache, key)
    served = [sum(asked(cache, key) for key in keys) for _ in range(5)]
    assert served == [10] * 5
    stats = cache.stats()
    assert stats["entries"] == 10 and stats["colder"] == 20 + 5 * 20
    assert stats["evictions"] == 0


def test_a_request_grown_popular_gets_in_and_an_older_registrys_answer_gives_way() -> None:
    cache = AnswerCache(max_bytes=3 * (100 + 3 + ENTRY_OVERHEAD), admit_first_ask=True)
    for key in ("k_a", "k_b", "k_c"):
        asked(cache, key)
        asked(cache, key)  # each asked twice, served once
    assert not asked(cache, "new") and cache.get("new", 1) is None  # asked once: colder
    for _ in range(2):
        asked(cache, "new")  # asked three times now, more than "k_a" (twice)
    assert cache.get("new", 1) is not None and cache.get("k_a", 1) is None
    # After a change (generation 2) the held answers are of the older registry: a request
    # asked once is kept in place of one of them.
    asked(cache, "later", generation=2)
    assert cache.get("later", 2) is not None and cache.get("k_b", 1) is None


def test_smaller_answers_asked_as_often_take_the_room_of_a_larger_one() -> None:
    # A kept answer saves about one computation an ask, whatever its size: a new request
    # whose answers are a tenth the size wins the bytes of a larger answer asked as often.
    big, small = b"x" * 2000, b"y" * 100
    cache = AnswerCache(max_bytes=2 * (2000 + 5 + ENTRY_OVERHEAD), admit_first_ask=True)
    for key in ("big_a", "big_b"):
        for _ in range(3):
            asked(cache, key, body=big)
    for _ in range(3):
        asked(cache, "small", body=small)
    assert cache.get("small", 1) is not None and cache.get("big_a", 1) is None
    # Sizes within twice of each other weigh alike: a large answer asked less than the
    # one it would push out is declined.
    assert not asked(cache, "big_c", body=big) and cache.get("big_c", 1) is None
    assert cache.get("big_b", 1) is not None


def test_a_large_answer_is_weighed_against_every_answer_it_would_push_out() -> None:
    # Room for ten answers of 1 kB; the least recently used one was asked once, the
    # next nine five times each. An answer of 3 kB needs three of them gone: asked four
    # times, it is worth less than the three together (1 + 5 + 5 asks for the same
    # bytes), though more per byte than the first alone.
    entry = 1000 + 3 + ENTRY_OVERHEAD
    cache = AnswerCache(max_bytes=10 * entry, admit_first_ask=True)
    asked(cache, "k00", body=b"x" * 1000)
    for n in range(1, 10):
        for _ in range(5):
            asked(cache, f"k{n:02}", body=b"x" * 1000)
    for _ in range(4):
        assert not asked(cache, "new", body=b"y" * 3000)
    assert cache.get("new", 1) is None and cache.get("k00", 1) is not None
    assert cache.stats()["colder"] == 4 and cache.stats()["evictions"] == 0


def test_an_answer_older_than_one_held_is_not_kept() -> None:
    # Computed before a change the cache has seen answers of (a slow read): it could
    # never be served, and must not push out a current answer.
    cache = AnswerCache(max_bytes=3 * (100 + 3 + ENTRY_OVERHEAD), admit_first_ask=True)
    for key in ("k_a", "k_b", "k_c"):
        asked(cache, key, generation=2)
    for _ in range(5):
        asked(cache, "old", generation=1)
    assert cache.get("old", 1) is None and cache.get("k_a", 2) is not None


def test_the_frequency_table_has_a_fixed_size_and_forgets_old_popularity() -> None:
    counts, held = Frequency(1024), 1000
    for _ in range(300):
        counts.add("hot", held=held)
    assert counts.estimate("hot") == 255 and counts.estimate("cold") == 0  # 8-bit counters
    # then others, until AGE_AFTER asks per answer held have been counted: all halved
    for other in range(Frequency.AGE_AFTER * held - 300):
        counts.add(("other", other), held=held)
    assert counts.estimate("hot") == 127
    # A cache holding little ages after 1,024 asks (a few others may share a counter).
    counts = Frequency(1024)
    for _ in range(200):
        counts.add("hot", held=1)
    for other in range(Frequency.MIN_AGE_ASKS - 201):
        counts.add(("more", other), held=1)
    assert 200 <= counts.estimate("hot") <= 203
    counts.add("last", held=1)
    assert 100 <= counts.estimate("hot") <= 101


def test_the_doorkeeper_has_a_fixed_size_and_forgets_what_was_overwritten() -> None:
    keeper = Doorkeeper(1500)
    assert keeper.slots == 2048  # a power of two, whatever is asked
    assert not keeper.seen("k") and keeper.seen("k")
    for other in range(100_000):
        keeper.seen(("other", other))
    assert keeper.slots == 2048
    assert not keeper.seen("k")  # long since overwritten: asked once, recently, again


def test_one_off_queries_are_answered_but_not_kept(make_settings, sqlite_database_url) -> None:  # type: ignore[no-untyped-def]
    client = worker(make_settings(sqlite_database_url, naming_mode="off"))
    client.post(f"{API}/registered-models/create", json={"name": "fraud_detector"})
    cache = cache_of(client)
    for unique in range(50):  # a cold benchmark: a parameter no one asks twice
        found = client.get(f"{API}/registered-models/get",
                           params={"name": "fraud_detector", "_u": str(unique)})
        assert found.status_code == 200, found.text
    stats = cache.stats()
    assert stats["entries"] == 0 and stats["bytes"] == 0 and stats["first_asks"] == 50
    for _ in range(3):
        client.get(f"{API}/registered-models/get", params={"name": "fraud_detector"})
    stats = cache.stats()
    assert stats["entries"] == 1 and stats["stored"] == 1 and stats["hits"] == 1


def test_a_cache_of_zero_bytes_keeps_nothing_and_computes_every_answer(
        make_settings, sqlite_database_url) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(sqlite_database_url, naming_mode="off", answer_cache_mb=0)
    client = worker(settings)
    client.post(f"{API}/registered-models/create", json={"name": "fraud_detector"})
    client.post(f"{API}/model-versions/create", json={"name": "fraud_detector", "source": SOURCE})
    for _ in range(3):
        get_version(client)
    stats = cache_of(client).stats()
    assert stats["max_bytes"] == 0 and stats["entries"] == 0 and stats["hits"] == 0


def test_the_servers_cache_takes_its_size_from_the_settings(
        make_settings, sqlite_database_url) -> None:  # type: ignore[no-untyped-def]
    client = worker(make_settings(sqlite_database_url, answer_cache_mb=3))
    assert cache_of(client).stats()["max_bytes"] == 3 * 1024 * 1024


def test_download_uri_answers_are_kept_and_dropped_like_the_others(two_workers) -> None:  # type: ignore[no-untyped-def]
    first, second = two_workers
    first.post(f"{API}/registered-models/create", json={"name": "fraud_detector"})
    first.post(f"{API}/model-versions/create", json={"name": "fraud_detector", "source": SOURCE})
    params = {"name": "fraud_detector", "version": "1"}
    for _ in range(2):  # asked twice: kept
        uri = first.get(f"{API}/model-versions/get-download-uri", params=params)
        assert uri.status_code == 200 and uri.json()["artifact_uri"] == SOURCE
    hits = cache_of(first).hits
    assert first.get(f"{API}/model-versions/get-download-uri", params=params).json() == uri.json()
    assert cache_of(first).hits == hits + 1

    # A change anywhere (here another worker's tag) and the next answer is computed afresh.
    second.post(f"{API}/model-versions/set-tag", json={**params, "key": "team", "value": "risk"})
    misses = cache_of(first).misses
    again = first.get(f"{API}/model-versions/get-download-uri", params=params)
    assert again.json() == uri.json() and cache_of(first).misses == misses + 1
    missing = first.get(f"{API}/model-versions/get-download-uri",
                        params={"name": "fraud_detector", "version": "2"})
    assert missing.status_code == 404, missing.text


def test_a_request_asked_once_is_answered_without_reading_the_generation(
        sqlite_database_url, make_settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The generation is what a kept answer is checked against; an answer not kept needs
    # none, so a one-off request (a cold benchmark, a scan) costs no extra statement.
    service = build_service(make_settings(sqlite_database_url, naming_mode="off"), actor="t")
    reads: list[int] = []
    generation = service.db.loop_generation

    async def counted() -> int:
        reads.append(1)
        return await generation()

    monkeypatch.setattr(service.db, "loop_generation", counted)
    cache = AnswerCache()

    def compute() -> Response:
        return Response(b"{}", media_type="application/json")

    for unique in range(5):
        asyncio.run(answer(cache, service, f"once-{unique}", compute))
    assert reads == [] and cache.stats()["first_asks"] == 5 and cache.misses == 5
    # The last one noted asked again (no key between, whose doorkeeper slot could be its
    # own in some run's hash salt): checked, kept, then served from the cache.
    for _ in range(3):
        asyncio.run(answer(cache, service, "once-4", compute))
    assert len(reads) == 3 and cache.hits == 2 and cache.stats()["stored"] == 1
