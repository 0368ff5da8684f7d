"""A model search writes each model's JSON once per worker and keeps it by what the model
shows (api/mlflow/shapes.py ``registered_models_response``; on PostgreSQL the store hands
each model over as the text it read, store/search.py ``model_briefs``).

Checked here: the answer is the bytes the plain dict gave, on both databases, for models
whose text holds what JSON must escape (on PostgreSQL the record separator the page's
rows are split by among them); a kept model is not decoded again; and no change — made
through another replica on the same database — leaves a search showing what was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from tests.api.test_mlflow_api import API, RUN, build_client, ok

from charter.api.mlflow import kept, shapes
from charter.domain.records import made
from charter.store import model_briefs
from charter.store import search as store_search

# What JSON escapes, as far as the API lets a client send it (no control characters but tabs
# and line breaks: api/boundary.py); the record separator itself is written in by SQL below.
ODD = 'a "quoted" \\ backslash\nline\ttab \u00e9\u6f22 \U0001f600 </end>'


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def replicas(request: pytest.FixtureRequest, make_settings: Callable[..., Any]
             ) -> Iterator[tuple[Any, Any]]:
    """Two apps, each with its own service, on one database: two replicas."""
    url = request.getfixturevalue(f"{request.param}_database_url")
    built = [build_client(make_settings(url, naming_mode="off")) for _ in range(2)]
    try:
        with built[0][1] as one, built[1][1] as other:
            yield one, other
    finally:
        for service, _ in built:
            service.db.dispose()
    kept.MODELS.clear()


def _post(client: Any, path: str, **body: Any) -> Any:
    return ok(client.post(API + path, json=body))


def _patch(client: Any, path: str, **body: Any) -> Any:
    return ok(client.patch(API + path, json=body))


def _fill(client: Any, count: int = 5) -> list[str]:
    names = [f"kept_{i}" for i in range(count)]
    for i, name in enumerate(names):
        _post(client, "/registered-models/create", name=name,
              description=ODD if i % 2 else f"model {i}",
              tags=[{"key": "team", "value": ODD if i == 1 else "retail"}])
        for _ in range(i % 3 + 1):
            _post(client, "/model-versions/create", name=name, source=f"runs:/{RUN}/m",
                  run_id=RUN, tags=[{"key": "k.a/b: c", "value": ODD}])
        for stage in ("Staging", "Production"):
            _post(client, "/model-versions/transition-stage", name=name, version="1",
                  stage=stage)
        _post(client, "/registered-models/alias", name=name, alias="champion", version="1")
    return names


def _search(client: Any, **params: Any) -> bytes:
    answer = client.get(API + "/registered-models/search", params=params)
    assert answer.status_code == 200, answer.text
    return answer.content


def test_a_model_search_answers_the_bytes_its_dict_gave(replicas: tuple[Any, Any]) -> None:
    one, _ = replicas
    names = _fill(one)
    service = one.app.state.service
    token = ""
    for page in range(3):  # pages of two: a next_page_token on all but the last
        params = {"filter": "name LIKE 'kept%'", "max_results": 2, "order_by": "name DESC"}
        if token:
            params["page_token"] = token
        found = _search(one, **params)
        briefs = service.model_briefs("name LIKE 'kept%'", max_results=2,
                                      order_by=["name DESC"], page_token=token)
        body: dict[str, Any] = {"registered_models": [
            shapes.registered_model(b, b.latest) for b in made(briefs.items)]}
        if briefs.next_token:
            body["next_page_token"] = briefs.next_token
        assert found == orjson.dumps(body)
        shown = orjson.loads(found)
        assert [m["name"] for m in shown["registered_models"]] == \
            sorted(names, reverse=True)[page * 2:page * 2 + 2]
        token = shown.get("next_page_token", "")
        assert bool(token) == (page < 2)
    odd = orjson.loads(_search(one, filter="name = 'kept_1'"))["registered_models"][0]
    assert odd["description"] == ODD and odd["tags"] == [{"key": "team", "value": ODD}]
    assert odd["latest_versions"][0]["tags"] == [{"key": "k.a/b: c", "value": ODD}]
    assert orjson.loads(_search(one, filter="name = 'nothing'")) == {"registered_models": []}


@pytest.mark.postgres
@pytest.mark.parametrize("replicas", ["postgres"], indirect=True)
def test_a_kept_model_is_not_decoded_again(replicas: tuple[Any, Any],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    one, _ = replicas
    names = _fill(one, 4)
    decoded: list[str] = []
    decode = store_search.model_brief_of_text

    def counted(text: str) -> Any:
        decoded.append(text)
        return decode(text)

    monkeypatch.setattr(store_search, "model_brief_of_text", counted)
    kept.MODELS.clear()
    first = _search(one, filter="name LIKE 'kept%'")
    assert len(decoded) == 4
    # another query string (the answer cache does not know it): the same models, none
    # decoded again, the same bytes
    again = _search(one, filter="name LIKE 'kep%'")
    assert len(decoded) == 4 and again == first
    _patch(one, "/registered-models/update", name=names[2], description="changed")
    changed = orjson.loads(_search(one, filter="name LIKE 'ke%'"))["registered_models"]
    assert len(decoded) == 5 and changed[2]["description"] == "changed"
    # the separator inside a model's text (written by SQL: the API refuses control
    # characters) is escaped in it, so the page still splits into its models
    with one.app.state.service.db.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE models SET description = %(d)s WHERE name = %(n)s",
                                   {"d": "one\x1etwo\x1e", "n": names[1]})
    split = orjson.loads(_search(one, filter="name LIKE 'k%'"))["registered_models"]
    assert [m["name"] for m in split] == names
    assert split[1]["description"] == "one\x1etwo\x1e"
    # and inside a model's kept brief (store/model_briefs.py), made again after the change
    with one.app.state.service.db.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE version_tags SET value = %(v)s WHERE version_id IN (SELECT v.id FROM "
            "versions v JOIN models m ON m.id = v.model_id WHERE m.name = %(n)s)",
            {"v": "x\x1ey", "n": names[3]})
    with one.app.state.service.db.housekeeping() as session:
        assert model_briefs.refresh(session, 100) >= 1
    with one.app.state.service.db.snapshot() as reader:
        assert "\\u001e" in reader.one("SELECT brief::text FROM models WHERE name = ?",
                                        [names[3]])[0]
    split = orjson.loads(_search(one, filter="name LIKE '%'"))["registered_models"]
    assert [m["name"] for m in split] == names
    assert split[3]["latest_versions"][0]["tags"] == [{"key": "k.a/b: c", "value": "x\x1ey"}]


CHANGES: dict[str, Callable[[Any, str], None]] = {
    "description": lambda c, n: _patch(c, "/registered-models/update", name=n,
                                      description="new words"),
    "model tag": lambda c, n: _post(c, "/registered-models/set-tag", name=n, key="team",
                                    value="risk"),
    "model tag deleted": lambda c, n: ok(c.request(
        "DELETE", API + "/registered-models/delete-tag", json={"name": n, "key": "team"})),
    "alias": lambda c, n: _post(c, "/registered-models/alias", name=n, alias="champion",
                                version="2"),
    "stage": lambda c, n: _post(c, "/model-versions/transition-stage", name=n, version="2",
                                stage="Staging"),
    "new version": lambda c, n: _post(c, "/model-versions/create", name=n,
                                      source=f"runs:/{RUN}/n", run_id=RUN),
    "version tag": lambda c, n: _post(c, "/model-versions/set-tag", name=n, version="1",
                                      key="k.a/b: c", value="other"),
    "version description": lambda c, n: _patch(c, "/model-versions/update", name=n,
                                              version="1", description="v1 words"),
    "renamed": lambda c, n: _post(c, "/registered-models/rename", name=n, new_name=n + "_b"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_on_another_replica_shows_in_the_next_search(
        replicas: tuple[Any, Any], change: str) -> None:
    one, other = replicas
    _fill(one, 3)  # kept_2 has three versions
    before = orjson.loads(_search(one, filter="name LIKE 'kept%'"))["registered_models"]
    CHANGES[change](other, "kept_2")
    after = orjson.loads(_search(one, filter="name LIKE 'kept%'"))["registered_models"]
    fresh = orjson.loads(_search(other, filter="name LIKE 'kept%'"))["registered_models"]
    assert after == fresh and after[:2] == before[:2]
    assert after[2] != before[2]


SQL_CHANGES = {  # as another process writes them: nothing in this one hears of it
    "description": ("UPDATE models SET description = 'by sql' WHERE name = %(n)s", "by sql"),
    "version tag": ("UPDATE version_tags SET value = 'by sql' WHERE version_id IN (SELECT "
                    "v.id FROM versions v JOIN models m ON m.id = v.model_id WHERE m.name = "
                    "%(n)s)", "by sql"),
}


@pytest.mark.parametrize("change", sorted(SQL_CHANGES))
def test_a_change_no_server_made_shows_in_the_next_search(replicas: tuple[Any, Any],
                                                          change: str) -> None:
    """The kept JSON is kept by what was read, not dropped on a write this process saw."""
    one, _ = replicas
    _fill(one, 3)
    before = orjson.loads(_search(one, filter="name LIKE 'kept%'"))["registered_models"]
    statement, shown = SQL_CHANGES[change]
    with one.app.state.service.db.engine.begin() as connection:
        connection.exec_driver_sql(statement.replace("%(n)s", "'kept_1'"))
    # a query string not asked before: the answer cache cannot know of a change no
    # server made (the chain head did not move), the kept JSON must
    after = orjson.loads(_search(one, filter="name LIKE 'kep%'"))["registered_models"]
    assert after[0] == before[0] and after[2] == before[2] and after[1] != before[1]
    assert shown in orjson.dumps(after[1]).decode()


def test_kept_json_is_bounded_in_bytes_least_recently_used_dropped_first() -> None:
    held = kept.KeptJson(max_bytes=6000)  # five of these: ~1,130 bytes each with the key
    texts = [f"model {i:02} " + "x" * 300 for i in range(20)]
    for text in texts[:5]:
        held.keep(text, text.encode() * 2)
    assert len(held) == 5 and held.get(texts[0]) == texts[0].encode() * 2  # now the newest
    held.keep(texts[5], texts[5].encode() * 2)  # the least recently used goes: texts[1]
    assert held.get(texts[1]) is None and held.get(texts[0]) is not None
    for text in texts[6:]:
        held.keep(text, text.encode() * 2)
        assert held.held_bytes <= 6000 and len(held) == 5
    assert held.get(texts[0]) is None and held.get(texts[-1]) is not None
    roomy = kept.KeptJson(max_bytes=4 * kept.ITEM_LIMIT)
    roomy.keep("huge", b"x" * kept.ITEM_LIMIT)  # past the item limit: shaped each time
    roomy.keep("large", b"x" * (kept.ITEM_LIMIT // 2))
    assert roomy.get("huge") is None and roomy.get("large") is not None
    held.resize(0)
    assert len(held) == 0 and held.held_bytes == 0
    held.keep(texts[0], b"{}")
    assert held.get(texts[0]) is None  # 0: nothing kept


@pytest.mark.postgres
def test_the_setting_sizes_the_keep_and_reaches_the_workers(
        make_settings: Callable[..., Any], postgres_database_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from charter.server.run import settings_env

    assert settings_env(make_settings(postgres_database_url, kept_models_mb=3))[
        "CHARTER_KEPT_MODELS_MB"] == "3"
    decoded: list[str] = []
    decode = store_search.model_brief_of_text
    monkeypatch.setattr(store_search, "model_brief_of_text",
                        lambda text: decoded.append(text) or decode(text))
    service, client = build_client(make_settings(postgres_database_url, naming_mode="off",
                                                 kept_models_mb=0))
    try:
        with client:
            assert kept.MODELS.max_bytes == 0
            _fill(client, 2)
            _search(client, filter="name LIKE 'kept%'")
            _search(client, filter="name LIKE 'kep%'")
            assert len(decoded) == 4  # nothing kept: each search decodes both models
    finally:
        service.db.dispose()
        kept.MODELS.resize(8 * 1024 * 1024)
