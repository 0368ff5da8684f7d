"""The check of a kept PostgreSQL connection before use (store/liveness.py ``looks_alive``),
on a real server: true for a live idle connection, false once its backend is gone —
whatever the descriptor's number (a server with a thousand client connections open gives
its database connections numbers above select's 1023)."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator

import psycopg
import pytest

from charter.store.liveness import looks_alive

pytestmark = pytest.mark.postgres


@pytest.fixture
def many_descriptors_open() -> Iterator[None]:
    """1,100 descriptors open, so that the next connection's number is above 1023."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2048:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(2048, hard), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        yield
    finally:
        for descriptor in held:
            os.close(descriptor)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize("high", [False, True], ids=["as opened", "descriptor above 1023"])
def test_a_live_connection_looks_alive_and_a_terminated_one_does_not(
        postgres_database_url: str, high: bool, request: pytest.FixtureRequest) -> None:
    if high:
        request.getfixturevalue("many_descriptors_open")
    with psycopg.connect(postgres_database_url, autocommit=True) as connection, \
            psycopg.connect(postgres_database_url, autocommit=True) as admin:
        if high:  # (as opened, its number is whatever the process holds: in CI above 1023 too)
            assert connection.fileno() > 1023
        connection.execute("SELECT 1")
        assert looks_alive(connection)
        admin.execute("SELECT pg_terminate_backend(%s)", (connection.info.backend_pid,))
        deadline = time.monotonic() + 5
        while looks_alive(connection) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not looks_alive(connection)
