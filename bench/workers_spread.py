"""How ``charter serve --workers 2`` spreads a burst of keep-alive connections.

    PYTHONPATH=$PWD/src flock /tmp/charter-bench.lock \
        .venv/bin/python bench/workers_spread.py [ROUNDS]

On a fresh, empty registry: ROUNDS (default 30) runs of ``wrk -t2 -c16 -d1s`` on
``/healthz``, each opening its 16 connections at once; for each, how many connections
each worker held 0.6 s in (``ss``) and each worker's share of the CPU. Prints JSON,
with the rounds in which one worker held at most one connection.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server import Server, free_port, stop, tree, wait_healthy  # noqa: E402
from workers import connections_by_pid, cpu_of  # noqa: E402


def one_round(port: int, workers: list[int]) -> dict[str, Any]:
    held: dict[int, int] = {}

    def look() -> None:
        time.sleep(0.6)
        held.update(connections_by_pid(port))

    looker = threading.Thread(target=look)
    looker.start()
    before = {w: cpu_of(w) for w in workers}
    subprocess.run(["/usr/bin/wrk", "-t2", "-c16", "-d1s", f"http://127.0.0.1:{port}/healthz"],
                   capture_output=True, check=True, timeout=60)
    looker.join()
    used = {w: cpu_of(w) - before[w] for w in workers}
    total = sum(used.values()) or 1.0
    return {"connections": [held.get(w, 0) for w in workers],
            "cpu_share": [round(used[w] / total, 2) for w in workers]}


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    home = Path(tempfile.mkdtemp(prefix="charter-workers-spread-"))
    port = free_port()
    with open(home / "server.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "charter.cli.main", "serve", "--port", str(port),
             "--workers", "2"], env={**os.environ, "CHARTER_HOME": str(home / "home")},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    now = time.monotonic()
    try:
        wait_healthy([Server("Charter", port, process, home / "server.log", "/healthz",
                             now + 120, now)])
        while len(tree(process.pid)) < 3:
            time.sleep(0.1)
        workers = [pid for pid in tree(process.pid) if pid != process.pid]
        found = [one_round(port, workers) for _ in range(rounds)]
    finally:
        stop(process)
    lopsided = [r for r in found if min(r["connections"]) <= 1]
    print(json.dumps({"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                      "loadavg": os.getloadavg(), "rounds": rounds,
                      "lopsided": lopsided, "all": found}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
