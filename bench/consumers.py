"""Does reporting a consumer slow the lookup it rides on? (issue 17, deliverable 4)

Starts ``charter serve`` (SQLite, a fresh temporary ``CHARTER_HOME``) on a free loopback
port, registers one model with a version in Production, then runs ``wrk`` against each
lookup twice per round — without and with ``X-Charter-Consumer`` — and prints req/s
and the ratio. Target: with a consumer >= 80% of without, at concurrency 16.

    .venv/bin/python bench/consumers.py                    # 3 rounds x 10 s per phase
    .venv/bin/python bench/consumers.py --seconds 5 --rounds 2 --consumers 200

``--consumers K`` spreads the requests over K consumer names (a Lua script picks one
per request), so the worker's ledger holds K entries; each is written once, then
touched at most every ``touch_every`` (60 s by default). Lookups measured:

* ``rest``   GET /api/v1/resolve?uri=models:/bench_model/Production
* ``mlflow`` GET /api/2.0/mlflow/registered-models/get-latest-versions?name=…&stages=Production

Every phase is bounded by ``--seconds``; the server's process group is killed at the
end, even after an error. Needs ``wrk`` (``apt-get install wrk``). The machine may be
shared: the script prints ``/proc/loadavg`` before and after each phase.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

MODEL = "bench_model"
LOOKUPS = {
    "rest": f"/api/v1/resolve?uri=models:/{MODEL}/Production",
    "mlflow": f"/api/2.0/mlflow/registered-models/get-latest-versions?name={MODEL}"
              "&stages=Production",
}
TARGET = 0.80
LUA = """
local names = {}
for i = 1, %d do names[i] = "bench-svc-" .. i .. "/eu" end
local n = 0
request = function()
  n = n + 1
  wrk.headers["X-Charter-Consumer"] = names[(n %% #names) + 1]
  return wrk.format(nil)
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def start_server(home: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTER_")}
    env["CHARTER_HOME"] = str(home)
    log = (home / "server.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "charter.cli.main", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_healthy(base: str, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"charter serve did not become healthy at {base} in {deadline_s} s")


def seed(base: str) -> None:
    with httpx.Client(base_url=base + "/api/v1", timeout=30) as client:
        client.post("/models", json={"name": MODEL}).raise_for_status()
        client.post(f"/models/{MODEL}/versions",
                    json={"source": "s3://bench-bucket/model"}).raise_for_status()
        for stage in ("Staging", "Production"):
            client.post(f"/models/{MODEL}/versions/1/transition",
                        json={"stage": stage, "reason": "bench"}).raise_for_status()


def wrk(url: str, *, seconds: int, connections: int, threads: int,
        script: Path | None) -> float:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s"]
    if script is not None:
        command += ["-s", str(script)]
    run = subprocess.run([*command, url], capture_output=True, text=True,
                         timeout=seconds + 30, check=True)
    found = re.search(r"Requests/sec:\s+([0-9.]+)", run.stdout)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", run.stdout)
    if found is None or errors is not None:
        raise SystemExit(f"wrk failed or saw errors:\n{run.stdout}\n{run.stderr}")
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--consumers", type=int, default=1)
    parser.add_argument("--lookups", default="rest,mlflow")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 120 or not 1 <= args.rounds <= 10:
        raise SystemExit("--seconds must be 1..120 and --rounds 1..10")
    with tempfile.TemporaryDirectory(prefix="charter-bench-consumers-") as tmp:
        home = Path(tmp)
        script = home / "consumers.lua"
        script.write_text(LUA % args.consumers)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(home, port, args.workers)
        try:
            wait_healthy(base)
            seed(base)
            report(base, args, script)
        finally:
            stop(server)


def report(base: str, args: argparse.Namespace, script: Path) -> None:
    print(f"charter serve --workers {args.workers}; wrk -t{args.threads} "
          f"-c{args.connections} -d{args.seconds}s; {args.rounds} rounds; "
          f"{args.consumers} consumer name(s)")
    print("| lookup | round | plain req/s | with consumer req/s | ratio | loadavg |")
    print("|---|---|---|---|---|---|")
    for lookup in args.lookups.split(","):
        url = base + LOOKUPS[lookup]
        wrk(url, seconds=1, connections=args.connections, threads=args.threads,
            script=None)  # warm-up
        ratios = []
        for round_ in range(1, args.rounds + 1):
            plain = wrk(url, seconds=args.seconds, connections=args.connections,
                        threads=args.threads, script=None)
            with_consumer = wrk(url, seconds=args.seconds, connections=args.connections,
                                threads=args.threads, script=script)
            ratios.append(with_consumer / plain)
            print(f"| {lookup} | {round_} | {plain:.0f} | {with_consumer:.0f} | "
                  f"{ratios[-1]:.2f} | {loadavg()} |", flush=True)
        median = statistics.median(ratios)
        verdict = "meets" if median >= TARGET else "MISSES"
        print(f"| {lookup} | median | | | **{median:.2f}** | {verdict} the {TARGET:.0%} "
              "target |", flush=True)
    with httpx.Client(base_url=base + "/api/v1", timeout=30) as client:
        listed = client.get(f"/models/{MODEL}/consumers").json()
    print(f"consumers recorded: {len(listed['consumers'])}")


if __name__ == "__main__":
    main()
