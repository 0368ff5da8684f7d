"""``charter serve --workers N``: a supervisor that imports the app once, and N workers sharing
one listening socket, each taking an even share of the connections."""

from __future__ import annotations

import os
import signal
import socket
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


def shared_heap_mb(pid: int) -> float:
    """How much of a process's anonymous memory (its heap: objects, modules) it shares with
    others — for a forked worker, with its supervisor and siblings, copy-on-write."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        values[key] = int(rest.split()[0])
    # Pss_Anon counts a page shared by k processes as 1/k: what is left is the shared part.
    return (values["Anonymous"] - values["Pss_Anon"]) / 1024


def sockets_on(port: int, state: str) -> set[int]:
    """Inodes of the TCP sockets on local ``port`` in ``state`` (0A listen, 01 established)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                found.add(int(fields[9]))
    return found


def socket_inodes(pid: int) -> set[int]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


def keep_alive_connections(port: int, count: int) -> list[socket.socket]:
    """``count`` connections opened at once, each answered once and kept open."""
    opened = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
    for connection in opened:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
    for connection in opened:
        assert connection.recv(4096).startswith(b"HTTP/1.1 200")
    return opened


def connections_one_by_one(port: int, count: int) -> list[socket.socket]:
    """``count`` connections, each opened once the one before was answered, kept open."""
    opened = []
    for _ in range(count):
        opened.extend(keep_alive_connections(port, 1))
    return opened


def held_by_worker(supervisor: int, port: int) -> list[int]:
    established = sockets_on(port, "01")
    return sorted(len(socket_inodes(pid) & established) for pid in children_of(supervisor))


def running(pid: int) -> bool:
    """Whether a process exists and has not ended (a zombie, not yet reaped, has)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


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
        # the workers share one listening socket, and each takes an even share of the
        # connections: bursts of keep-alive connections split evenly, and so do
        # connections opened one after another (within 2 of 32: a late wake-up on a
        # loaded machine may let one worker take a connection out of turn). A hash of
        # their ports, as the kernel's SO_REUSEPORT spread them, splits 32 that evenly in
        # 40% of trials, so all three rounds in 6%.
        listening = sockets_on(port, "0A")
        assert len(listening) == 1
        for pid in children_of(process.pid):
            assert socket_inodes(pid) & listening == listening
        for opener in (keep_alive_connections, connections_one_by_one,
                       keep_alive_connections):
            opened = opener(port, 32)
            try:
                fewer, more = held_by_worker(process.pid, port)
                assert fewer + more == 32 and more - fewer <= 2, (opener, fewer, more)
            finally:
                for connection in opened:
                    connection.close()
            wait_for(lambda: not sockets_on(port, "01"))
        # another server on the same port is refused, not let into the group
        second_server = subprocess.run(
            [sys.executable, "-m", "charter.cli.main", "serve", "--port", str(port),
             "--workers", "2"], env=env, capture_output=True, text=True, timeout=60)
        assert second_server.returncode == 1, second_server.stderr
        assert "cannot listen" in second_server.stderr
        # the supervisor imported the app before forking: its modules are in every worker's
        # memory once, not a private copy each (without that, a worker shares < 1 MB)
        for worker in children_of(process.pid):
            assert shared_heap_mb(worker) > 10, shared_heap_mb(worker)
        first, second = children_of(process.pid)
        os.kill(first, signal.SIGKILL)
        # new connections go to the worker left, while the dead one is replaced: none
        # waits for the replacement (each connection a new one: httpx.get opens its own)
        for _ in range(8):
            started = time.monotonic()
            assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
            assert time.monotonic() - started < 1.0
        wait_for(lambda: first not in children_of(process.pid)
                 and len(children_of(process.pid)) == 2)
        assert second in children_of(process.pid)
        wait_for(lambda: healthy(url))
        (replacement,) = set(children_of(process.pid)) - {second}
        assert shared_heap_mb(replacement) > 10, shared_heap_mb(replacement)
        for _ in range(20):
            assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
            missing = httpx.get(f"{url}/api/2.0/mlflow/registered-models/get",
                                params={"name": "no_such_model"}, timeout=5)
            assert missing.status_code == 404
        # a refusal on SQLite passes the store's check for a lost PostgreSQL connection,
        # which must not load PostgreSQL's driver into the worker (10 MB each)
        for pid in [process.pid, *children_of(process.pid)]:
            assert "psycopg" not in Path(f"/proc/{pid}/maps").read_text()
        workers = children_of(process.pid)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert all(not Path(f"/proc/{pid}").exists() for pid in workers)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_an_app_that_cannot_be_imported_stops_the_server_before_any_worker(tmp_path):
    # a library the app imports, broken: the supervisor's preload meets it, once
    broken = tmp_path / "broken" / "prometheus_client"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text('raise ImportError("broken on purpose")\n')
    path = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(broken.parent)]))
    env = {**os.environ, "CHARTER_HOME": str(tmp_path / "home"), "PYTHONPATH": path}
    finished = subprocess.run(
        [sys.executable, "-m", "charter.cli.main", "serve", "--port", str(free_port()),
         "--workers", "2"], env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 1
    assert "the app could not be loaded: ImportError('broken on purpose')" in finished.stderr
    assert "worker" not in finished.stderr  # none was started


def test_workers_end_when_their_supervisor_is_killed(tmp_path):
    # SIGKILL gives the supervisor no chance to stop its workers: Linux sends them SIGTERM
    # (PR_SET_PDEATHSIG), so none is left serving the port with no one to stop it
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "charter.cli.main", "serve", "--port", str(port),
         "--workers", "2", "--log-level", "warning"],
        env={**os.environ, "CHARTER_HOME": str(tmp_path)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        wait_for(lambda: healthy(f"http://127.0.0.1:{port}")
                 and len(children_of(process.pid)) == 2)
        workers = children_of(process.pid)
        process.kill()
        process.wait(10)
        wait_for(lambda: not any(running(pid) for pid in workers), 15)
        with socket.socket() as again:  # the port is free: nothing listens on it any more
            again.bind(("127.0.0.1", port))
    finally:
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
