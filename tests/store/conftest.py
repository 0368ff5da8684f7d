"""The store tier: every test here runs once on SQLite and once on PostgreSQL.

``registry`` is a real ``RegistryService`` built by ``charter.bootstrap`` over a
fresh database of the test's own, acting as "tester". ``make_registry`` builds
more over the same database (other settings, another actor); every one is
disposed before the database is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from charter.bootstrap import build_service
from charter.config import Settings
from charter.service import RegistryService
from charter.store import tables

ACTOR = "tester"
SOURCE = "s3://models-bucket/fraud/model.pkl"


@pytest.fixture(params=[
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{backend}_database_url")


@pytest.fixture
def make_registry(database_url: str, make_settings: Callable[..., Settings]
                  ) -> Iterator[Callable[..., RegistryService]]:
    built: list[RegistryService] = []

    def make(*, actor: str = ACTOR, **overrides: Any) -> RegistryService:
        # The database was migrated once per session (template); see tests/conftest.py.
        service = build_service(make_settings(database_url, **overrides), actor=actor,
                                migrate=False)
        built.append(service)
        return service

    yield make
    for service in built:
        service.db.dispose()


@pytest.fixture
def registry(make_registry: Callable[..., RegistryService]) -> RegistryService:
    return make_registry()


class FakeClock:
    """A clock the test moves by hand; the service reads it once per write."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(registry: RegistryService) -> FakeClock:
    fake = FakeClock()
    registry.clock = fake
    return fake


# --- arranging state ----------------------------------------------------------------
# Test modules cannot import a conftest reliably (tests/ is not a package), so the
# helpers come as a fixture: ``given.versions("fraud_detector", 3)``.


@dataclass(frozen=True)
class State:
    """Everything a refused request must leave untouched."""

    models: tuple[Any, ...]
    versions: tuple[Any, ...]
    event_count: int
    head: tuple[int, str]


class Given:
    source = SOURCE

    def __init__(self, registry: RegistryService) -> None:
        self.registry = registry

    def versions(self, name: str, count: int = 1) -> list[int]:
        return [self.registry.register(name, SOURCE).version for _ in range(count)]

    def moved(self, name: str, version: int, stage: str) -> None:
        """Walk a version from None to ``stage`` along allowed edges only."""
        route = {
            "None": [],
            "Staging": ["Staging"],
            "Production": ["Staging", "Production"],
            "Archived": ["Staging", "Archived"],
        }[stage]
        for step in route:
            self.registry.transition(name, version, step, archive_existing=True,
                                     reason="setup")

    def version_in(self, name: str, stage: str) -> int:
        (version,) = self.versions(name)
        self.moved(name, version, stage)
        return version

    def state(self) -> State:
        models = tuple(self.registry.list_models(max_results=1000).items)
        versions = tuple(v for m in models for v in self.registry.list_versions(m.name))
        with self.registry.db.read() as session:
            count = session.execute(
                select(func.count()).select_from(tables.Event)).scalar_one()
            head = session.get_one(tables.ChainHead, 1)
            return State(models, versions, count, (head.seq, head.hash))

    def count(self, table: type[tables.Base], **where: Any) -> int:
        query = select(func.count()).select_from(table)
        for column, value in where.items():
            query = query.where(getattr(table, column) == value)
        with self.registry.db.read() as session:
            return session.execute(query).scalar_one()


@pytest.fixture
def given(registry: RegistryService) -> Given:
    return Given(registry)
