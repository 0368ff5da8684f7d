"""``charter serve --workers N``: a small supervisor process and N workers on one socket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from charter.server.run import free_port

pytestmark = pytest.mark.e2e


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_for(condition, seconds: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_workers_share_the_port_a_dead_worker_is_replaced_and_sigterm_stops_all(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CHARTER_HOME": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "charter.cli.main", "serve", "--port", str(port),
         "--workers", "2", "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: healthy(url) and len(children_of(process.pid)) == 2)
        # the supervisor stays small: it never imports the app
        assert rss_mb(process.pid) < 40, rss_mb(process.pid)
        first, second = children_of(process.pid)
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: first not in children_of(process.pid)
                 and len(children_of(process.pid)) == 2)
        assert second in children_of(process.pid)
        for _ in range(20):
            assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        workers = children_of(process.pid)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert all(not Path(f"/proc/{pid}").exists() for pid in workers)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
