"""A model search's answer, built the fast way, says what the registry holds.

The MLflow search path reads stored times with a UTC offset appended (store/driver.py
``stored_time``), writes milliseconds in integers (api/mlflow/shapes.py ``millis``),
finds each model's newest version per stage by the version id an index descent answers
(store/search.py), and lets plain query strings through the input boundary without
decoding them (api/boundary.py). Each is checked here against the slow, obvious way.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import pytest
from tests.api.test_mlflow_api import API, build_client, ok

from charter.api.boundary import check_query
from charter.api.mlflow.shapes import millis, model_version, registered_model
from charter.domain.errors import InvalidInput
from charter.domain.records import ModelBrief, ModelRecord, VersionBrief, VersionRecord
from charter.store.driver import stored_time

STAGES = ("None", "Staging", "Production", "Archived")


def test_stored_times_read_as_the_aware_times_they_were_written_as() -> None:
    for text, expected in [
            ("2026-12-06 15:11:02.123456", datetime(2026, 12, 6, 15, 11, 2, 123456, UTC)),
            ("2026-12-06 15:11:02", datetime(2026, 12, 6, 15, 11, 2, tzinfo=UTC)),
            ("2026-12-06", datetime(2026, 12, 6, tzinfo=UTC)),
            ("2026-12-06T15:11:02Z", datetime(2026, 12, 6, 15, 11, 2, tzinfo=UTC)),
            ("2026-12-06T15:11:02+02:00",
             datetime(2026, 12, 6, 15, 11, 2, tzinfo=timezone(timedelta(hours=2)))),
            ("2026-12-06 15:11:02.5-05:30",
             datetime(2026, 12, 6, 15, 11, 2, 500000, timezone(timedelta(hours=-5.5))))]:
        found = stored_time(text)
        assert found == expected and found.utcoffset() == expected.utcoffset(), text
    assert stored_time(datetime(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=UTC)
    aware = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=3)))
    assert stored_time(aware).utcoffset() == timedelta(hours=3)


def test_milliseconds_are_what_the_float_timestamp_gave() -> None:
    pick = random.Random(15)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for index in range(20_000):
        micro = pick.randrange(1_000_000) if index % 2 else pick.randrange(1000) * 1000
        moment = epoch + timedelta(seconds=pick.randrange(1_500_000_000, 2_000_000_000),
                                   microseconds=micro)
        assert millis(moment) == int(moment.timestamp() * 1000), moment
    naive = datetime(2026, 12, 6, 15, 11, 2, 999999)
    assert millis(naive) == int(naive.timestamp() * 1000)


def _plain_stored_time(value: str | datetime) -> datetime:
    """The obvious reading of a stored time: parsed, and UTC when no offset is written."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _earlier_stored_time(value: str | datetime) -> datetime:
    """``stored_time`` as it read times before its fast path: text with no offset or Z
    in its last six characters had ``+00:00`` appended (so an offset written without a
    colon, ``+0530``, was refused), a naive datetime had UTC put in by ``replace``."""
    if isinstance(value, str):
        if value[-6:-5] not in ("+", "-") and value[-1:] != "Z":
            value += "+00:00"
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _stored_texts(moment: datetime) -> tuple[list[str], list[str]]:
    """A naive time as the databases write it (SQLite's text, PostgreSQL's JSON without
    trailing zeros in the fraction, ISO with a T or a space, with the offsets and Z a
    value could carry); and odd spellings: offsets without colons, cut short."""
    iso = moment.isoformat()
    written = [moment.isoformat(" ", "microseconds"), iso, iso.replace("T", " "),
               iso.rstrip("0") if "." in iso else iso, iso[:19], iso[:16], iso[:10],
               iso + "Z", iso + "+00:00", iso + "-00:00", iso + "+05:30", iso + "-08:00",
               iso + "+14:00"]
    odd = [iso + "+0530", iso + "-05", iso + "+00:00:30",
           *(text[:cut] for text in written[:2] for cut in range(0, 8))]
    return written, odd


def _same_time(found: datetime, expected: datetime) -> bool:
    return (found, found.utcoffset(), found.fold, type(found)) == \
        (expected, expected.utcoffset(), expected.fold, type(expected))


def test_stored_times_are_what_they_were_and_what_the_plain_reading_gives() -> None:
    """``stored_time``'s fast reading (one character tested for an offset, a naive
    datetime combined with UTC) against its earlier one, and for what the databases write
    against the obvious reading; around the epoch and far from it, at every kind of
    microsecond; malformed text fails as it did."""
    pick = random.Random(16)
    moments = [datetime(1970, 1, 1), datetime(1969, 12, 31, 23, 59, 59, 999999),
               datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999)]
    for _ in range(3000):
        micro = pick.choice([0, 1, 999, 1000, 999000, 999999, pick.randrange(1_000_000)])
        moments.append(datetime(1970, 1, 1) + timedelta(
            seconds=pick.randrange(-2_000_000_000, 4_000_000_000), microseconds=micro))
    for moment in moments:
        written, odd = _stored_texts(moment)
        values: list[str | datetime] = [
            *written, moment, moment.replace(fold=1), moment.replace(tzinfo=UTC),
            moment.replace(tzinfo=timezone(timedelta(hours=-3)))]
        for value in values:
            found = stored_time(value)
            assert _same_time(found, _plain_stored_time(value)), value
            assert _same_time(found, _earlier_stored_time(value)), value
        for text in odd:
            try:
                expected = _earlier_stored_time(text)
            except ValueError:
                with pytest.raises(ValueError):
                    stored_time(text)
                continue
            assert _same_time(stored_time(text), expected), text
    for text in ("", "Z", "1970", "+00:00", "2026-13-01", "2026-12-06T25:00"):
        with pytest.raises(ValueError):
            stored_time(text)


def test_milliseconds_are_the_floor_of_the_time_since_the_epoch() -> None:
    """``millis`` from a difference's parts against timedelta floor division: before the
    epoch too (floored, not truncated), in any zone, at every kind of microsecond."""
    pick = random.Random(17)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    zones = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
    moments = [epoch, epoch - timedelta(microseconds=1), epoch + timedelta(microseconds=999),
               epoch - timedelta(microseconds=1000), epoch - timedelta(microseconds=1001),
               datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, UTC)]
    for _ in range(20_000):
        micro = pick.choice([0, 1, 999, 1000, 1001, 999999, pick.randrange(1_000_000)])
        moments.append((epoch + timedelta(seconds=pick.randrange(-3_000_000_000, 5_000_000_000),
                                          microseconds=micro)).astimezone(pick.choice(zones)))
    for moment in moments:
        assert millis(moment) == (moment - epoch) // timedelta(milliseconds=1), moment
    naive = datetime(1969, 12, 31, 23, 59, 59, 999)
    assert millis(naive) == int(naive.timestamp() * 1000)

    class NoOffset(tzinfo):  # a zone that cannot tell its offset: no time to answer
        def utcoffset(self, moment: datetime | None) -> timedelta | None:
            return None

        def dst(self, moment: datetime | None) -> timedelta | None:
            return None

        def tzname(self, moment: datetime | None) -> str | None:
            return None

    with pytest.raises(TypeError):
        millis(datetime(2026, 1, 1, tzinfo=NoOffset()))


def test_a_version_brief_and_its_record_answer_the_same_shape() -> None:
    """``model_version`` reads a brief's fields unpacked and a record's by name: the same
    dict either way, and the one its fields spell out."""
    created = datetime(1969, 12, 31, 23, 59, 59, 999500, UTC)
    updated = datetime(2026, 12, 6, 15, 11, 2, 123999, UTC)
    for status, shown in [("READY", "READY"), ("PENDING", "PENDING_REGISTRATION"),
                          ("FAILED", "FAILED_REGISTRATION"), ("odd", "PENDING_REGISTRATION")]:
        for model_id in ("", "m-1"):
            brief = VersionBrief("fraud", 3, "Staging", "s3://b/fraud/3", "r1", "d", status,
                                 created, updated, {"a": "1", "b": "2"}, ["champion"], model_id)
            record = VersionRecord("fraud", 3, "Staging", "s3://b/fraud/3", "r1", "d",
                                   {"a": "1", "b": "2"}, ["champion"], "", status, created,
                                   updated, updated, model_id=model_id)
            expected = {"name": "fraud", "version": "3", "creation_timestamp": -1,
                        "last_updated_timestamp": 1_796_569_862_123,
                        "current_stage": "Staging", "description": "d",
                        "source": "s3://b/fraud/3", "run_id": "r1", "status": shown,
                        "tags": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}],
                        "run_link": "", "aliases": ["champion"]}
            if model_id:
                expected["model_id"] = model_id
            assert model_version(brief) == model_version(record) == expected
            assert list(model_version(brief)) == list(expected)
    brief_model = ModelBrief("fraud", "d", created, updated, {"t": "1"},
                             {"b": 2, "a": 1, "c": 3}, [brief])
    model = ModelRecord("fraud", "d", {"t": "1"}, {"b": 2, "a": 1, "c": 3}, 3, 3, {},
                        created, updated)
    shaped = registered_model(brief_model, brief_model.latest)
    assert shaped == registered_model(model, [record]) == {
        "name": "fraud", "creation_timestamp": -1, "last_updated_timestamp": 1_796_569_862_123,
        "description": "d", "latest_versions": [model_version(brief)],
        "tags": [{"key": "t", "value": "1"}],
        "aliases": [{"alias": "a", "version": "1"}, {"alias": "b", "version": "2"},
                    {"alias": "c", "version": "3"}]}


@pytest.mark.parametrize("query", [b"version=99999999999999999999", b"a=-9223372036854775809",
                                   b"name=x&version=1&v=18446744073709551616"])
def test_a_plain_query_with_a_number_beyond_64_bits_is_refused(query: bytes) -> None:
    with pytest.raises(InvalidInput, match="outside the numbers Charter keeps"):
        check_query(query)


@pytest.mark.parametrize("query", [b"name=a%00b", b"a\x01=b", b"name=a\x7fb", b"x=%0A&y=1"])
def test_a_query_with_a_control_character_is_refused(query: bytes) -> None:
    if query == b"x=%0A&y=1":  # a line break is allowed in a value
        check_query(query)
        return
    with pytest.raises(InvalidInput, match="control character|NUL"):
        check_query(query)


def test_plain_queries_pass_the_boundary() -> None:
    for query in (b"name=churn_model_17&version=48&_u=c123", b"max_results=100&x=+5",
                  b"filter=name+LIKE+'ads%25'", b"version=9223372036854775807"):
        check_query(query)


def test_a_model_search_answers_each_models_newest_version_per_stage(
        sqlite_database_url, make_settings) -> None:  # type: ignore[no-untyped-def]
    """Versions moved through the stages at random; the search's latest_versions are the
    newest per stage found by listing every version, and every timestamp is the
    version's own, in milliseconds."""
    service, client = build_client(make_settings(sqlite_database_url))
    pick = random.Random(7)
    with client:
        post = lambda path, **body: ok(client.post(API + path, json=body))  # noqa: E731
        for model in ("fraud_scorer", "fraud_ranker", "churn_scorer"):
            post("/registered-models/create", name=model)
            for number in range(1, 9):
                post("/model-versions/create", name=model, source=f"s3://models-bucket/{model}/{number}",
                     tags=[{"key": "n", "value": str(number)}])
                for stage in STAGES[1:pick.randrange(1, 4)]:
                    post("/model-versions/transition-stage", name=model, version=str(number),
                         stage=stage, archive_existing_versions=True)
        found = ok(client.get(API + "/registered-models/search",
                              params={"filter": "name LIKE 'fraud%'"}))["registered_models"]
        every = ok(client.get(API + "/model-versions/search",
                              params={"max_results": 1000}))["model_versions"]
    service.db.dispose()
    assert [m["name"] for m in found] == ["fraud_ranker", "fraud_scorer"]
    for model in found:
        newest: dict[str, dict[str, Any]] = {}
        for version in every:
            if version["name"] == model["name"]:
                held = newest.get(version["current_stage"])
                if held is None or int(version["version"]) > int(held["version"]):
                    newest[version["current_stage"]] = version
        assert model["latest_versions"] == [newest[s] for s in STAGES if s in newest]
        record = service.get_model(model["name"])
        assert model["creation_timestamp"] == int(record.created_at.timestamp() * 1000)
        assert model["last_updated_timestamp"] == int(record.updated_at.timestamp() * 1000)
        for version in model["latest_versions"]:
            kept = service.get_version(model["name"], version["version"])
            assert version["creation_timestamp"] == int(kept.created_at.timestamp() * 1000)
            assert version["last_updated_timestamp"] == \
                int(kept.updated_at.timestamp() * 1000)


def test_a_registry_acting_for_a_principal_leaves_the_shared_one_as_it_was(
        sqlite_database_url, make_settings) -> None:  # type: ignore[no-untyped-def]
    """Each request's registry is a copy of the app's (service/base.py ``as_principal``):
    its principal is its own, the database and caches are shared."""
    service, _ = build_client(make_settings(sqlite_database_url))
    before = (service.principal, service.actor)
    acting = service.as_actor("meera")
    assert type(acting) is type(service) and acting is not service
    assert (acting.actor, acting.principal.name) == ("meera", "meera")
    assert (service.principal, service.actor) == before
    assert vars(acting).keys() == vars(service).keys()
    assert all(getattr(acting, key) is value for key, value in vars(service).items()
               if key not in ("principal", "actor"))
    acting.create_model("fraud_scorer")
    assert service.get_model("fraud_scorer").name == "fraud_scorer"
    service.db.dispose()
