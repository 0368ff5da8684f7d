from __future__ import annotations

import pytest

from tests.e2e.server import running_server


@pytest.fixture
def server_url(tmp_path):
    """A fresh Charter server on SQLite for one test."""
    with running_server(tmp_path) as url:
        yield url
