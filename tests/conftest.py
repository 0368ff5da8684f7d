"""Fixtures every tier may use: a fresh database of either kind, and settings for it.

* ``sqlite_database_url``: a migrated SQLite file under the test's ``tmp_path``.
* ``postgres_database_url``: a migrated PostgreSQL database of the test's own,
  on the server named by ``CHARTER_TEST_POSTGRES_URL`` (see docs/testing.md).
  Without that variable PostgreSQL tests are skipped locally, and fail in CI
  (``CI`` set): the PostgreSQL half of the suite must not silently vanish there.
* ``make_settings``: ``Settings`` for a database, isolated from the caller's
  ``CHARTER_*`` environment.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from charter.config import Settings
from charter.store.database import Database

POSTGRES_ENV = "CHARTER_TEST_POSTGRES_URL"


def _load_pg_helper():  # type: ignore[no-untyped-def]
    # tests/ is not a package; load the helper by path so any --import-mode works.
    spec = importlib.util.spec_from_file_location(
        "charter_tests_pg", Path(__file__).parent / "store" / "pg.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def postgres_base_url() -> str:
    url = os.environ.get(POSTGRES_ENV, "").strip()
    if url:
        return url
    message = (f"{POSTGRES_ENV} is not set, so the PostgreSQL tests cannot run; set it to a "
               "server where the user may CREATE DATABASE, e.g. "
               "postgresql://postgres@127.0.0.1:5432/test (see docs/testing.md)")
    if running_in_ci():
        pytest.fail(f"CI must run the PostgreSQL tests: {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_databases(postgres_base_url: str) -> Iterator[Any]:
    helper = _load_pg_helper()
    try:
        databases = helper.PostgresDatabases(postgres_base_url)
        databases.create_template()
    except Exception as exc:  # the URL was given: an unreachable server is a failure
        pytest.fail(f"cannot prepare PostgreSQL at {POSTGRES_ENV}={postgres_base_url!r}: "
                    f"{exc}", pytrace=False)
    yield databases
    databases.close()


@pytest.fixture
def postgres_database_url(postgres_databases: Any) -> Iterator[str]:
    """A migrated database of this test's own; dropped (connections and all) afterwards."""
    name, url = postgres_databases.create()
    yield url
    postgres_databases.drop(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "charter.db"
    database = Database(f"sqlite:///{path}", migrate=True)
    database.dispose()  # checkpoints the WAL: the one file is the whole database
    return path


@pytest.fixture
def sqlite_database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated SQLite file under ``tmp_path`` (a copy of the session's template)."""
    path = tmp_path / "charter.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings with home ``tmp_path``; ``overrides`` as Settings.load takes them.

    The environment is not consulted, so a developer's CHARTER_* variables cannot
    leak into a test; a ``charter.toml`` written into ``tmp_path`` is read.
    """

    def make(database_url: str, **overrides: Any) -> Settings:
        return Settings.load({"home": tmp_path, "database_url": database_url, **overrides},
                             env={})

    return make
