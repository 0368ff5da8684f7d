"""A real Charter server in a subprocess on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from charter.server.run import free_port

SERVER_COMMAND = [sys.executable, "-m", "charter.cli.main", "serve", "--log-level", "warning"]


@contextmanager
def running_server(home: Path, *, database_url: str | None = None, workers: int = 1,
                   extra_env: dict[str, str] | None = None,
                   extra_args: list[str] | None = None) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "CHARTER_HOME": str(home), **(extra_env or {})}
    if database_url:
        env["CHARTER_DATABASE_URL"] = database_url
    log = open(home / "server.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [*SERVER_COMMAND, "--port", str(port), "--workers", str(workers), *(extra_args or [])],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, home)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_healthy(url: str, process: subprocess.Popen, home: Path) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("charter server exited:\n" + (home / "server.log").read_text())
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("charter server did not become healthy:\n"
                       + (home / "server.log").read_text())


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not true within {timeout} s")
