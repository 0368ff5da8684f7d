"""The access-control modules' registry (``access_world``): one app per module, and a
fresh copy of its database for each test that asks for ``fresh``."""

from __future__ import annotations

import pytest
from tests.api.access_world import build_world


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
