"""On a PostgreSQL database whose collation does not order text by code point (ICU
``en-US`` ignores ``-`` and ``_`` at first), the MLflow answers list tags and aliases as
SQLite and Python do: by code point (store/search.py, store/at_once.py)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from tests.store.pg import libpq_url, with_database

from charter.bootstrap import build_service
from charter.config import Settings
from charter.service import RegistryService

ALIASES = ["ab", "a_c", "a-b"]


@pytest.fixture
def icu_registry(postgres_base_url: str) -> Iterator[RegistryService]:
    name = f"charter_icu_{os.getpid()}"
    admin = psycopg.connect(libpq_url(with_database(postgres_base_url, "postgres")),
                            autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu "
                  "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'")
    try:
        with tempfile.TemporaryDirectory() as home:
            service = build_service(Settings.load(
                {"home": Path(home), "database_url": with_database(postgres_base_url, name)},
                env={}), actor="test")
            try:
                yield service
            finally:
                service.db.dispose()
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_aliases_and_tags_come_in_code_point_order_whatever_the_collation(
        icu_registry: RegistryService) -> None:
    service = icu_registry
    with service.db.snapshot() as reader:  # the premise: this collation orders otherwise
        (ordered,), = reader.all("SELECT array_agg(x ORDER BY x) FROM unnest(?::text[]) x",
                                 [ALIASES])
    assert list(ordered) != sorted(ALIASES)
    service.create_model("fraud_detector", tags={key: "v" for key in ALIASES})
    service.register("fraud_detector", "s3://bucket/fraud/1/model.pkl",
                     tags={key: "v" for key in ALIASES})
    for alias in ALIASES:
        service.set_alias("fraud_detector", alias, 1)
    (brief,) = service.model_briefs("name LIKE 'fraud%'").items
    assert list(brief.aliases) == sorted(ALIASES)
    assert list(brief.tags) == sorted(ALIASES)
    assert brief.latest[0].aliases == sorted(ALIASES)
    assert list(brief.latest[0].tags) == sorted(ALIASES)
    (version,) = service.version_briefs("name = 'fraud_detector'").items
    assert version.aliases == sorted(ALIASES)
    assert list(version.tags) == sorted(ALIASES)
