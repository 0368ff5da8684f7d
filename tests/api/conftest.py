"""Fixtures the API modules share.

* ``world``/``fresh``: the access-control modules' registry (``access_world``), one app
  per module, and a fresh copy of its database for each test that asks for ``fresh``.
* ``client``: an app of the test's own over a fresh copy of a migrated, empty registry.
* ``served_copy``: the module's one app, switched to such a copy for the test.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
from tests.api.access_world import build_world

from charter.bootstrap import build_service
from charter.config import Settings
from charter.server.app import create_app

with warnings.catch_warnings():  # starlette nudges towards httpx2; the client still works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def world(request, tmp_path_factory):
    world = build_world(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]))
    world.start()
    yield world
    world.stop()


@pytest.fixture
def fresh(world, tmp_path):
    service, client = world.fresh(tmp_path)
    yield service, client
    service.db.dispose()


# --- the REST modules: each test on a fresh copy of one migrated, empty registry ---------


@pytest.fixture(scope="module")
def template_home(tmp_path_factory) -> Path:
    """A migrated, empty registry; each test starts from a copy (migrating costs ~0.3 s)."""
    home = tmp_path_factory.mktemp("template")
    build_service(Settings.load({"home": home}, env={}), actor="test").db.dispose()
    return home


@pytest.fixture
def client(template_home, tmp_path):
    """An app of this test's own over a fresh copy of the empty registry (its blob store
    under ``tmp_path`` too)."""
    shutil.copyfile(template_home / "charter.db", tmp_path / "charter.db")
    settings = Settings.load({"home": tmp_path}, env={})
    service = build_service(settings, actor="test", migrate=False)
    with TestClient(create_app(service, settings)) as test_client:
        yield test_client
    service.db.dispose()


@pytest.fixture(scope="module")
def app_client(template_home):
    settings = Settings.load({"home": template_home}, env={})
    with TestClient(create_app(build_service(settings, migrate=False), settings)) as client:
        yield client


@pytest.fixture
def served_copy(app_client, template_home, tmp_path):
    """The module's one app, serving a fresh copy of the empty registry for this test
    (cheaper than an app per test where the routes need no blob store of their own)."""
    shutil.copyfile(template_home / "charter.db", tmp_path / "charter.db")
    service = build_service(Settings.load({"home": tmp_path}, env={}), actor="test",
                            migrate=False)
    app_client.app.state.service = service
    yield app_client
    service.db.dispose()
