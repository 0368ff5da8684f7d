"""What the observer (request ids, Prometheus metrics) costs on a hot read.

Runs ``charter serve --workers 2`` on SQLite from two source trees in turn — this one
(metrics on) and a baseline tree without them (e.g. the main branch's checkout) — and
points ``wrk`` at MLflow's ``registered-models/get`` for a model with versions (a hot,
cached read). Rounds alternate so a change in the shared machine's load hits both.

    python bench/metrics_overhead.py --baseline-src /work/main/src --rounds 3 --seconds 5

Needs ``wrk`` on PATH (or ``--wrk``). Bounded: rounds x 2 servers x seconds. On a
machine shared with other jobs, wrk's figures swing more than the overhead; so
``--in-process N`` also drives the ASGI app directly (no sockets, one process) N times
with and without the observer and the metric hooks, and prints the cost per request.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE_SRC = Path(__file__).resolve().parents[1] / "src"
PATH = "/api/2.0/mlflow/registered-models/get?name=fraud_detector"


def seed(home: Path, src: Path) -> None:
    code = ("from charter.bootstrap import build_service\nfrom charter.config import Settings\n"
            f"s = build_service(Settings.load({{'home': {str(home)!r}}}, env={{}}), actor='b')\n"
            "for n in range(10):\n"
            "    s.register('fraud_detector', f's3://models/fraud_detector/{n}')\n"
            "s.transition('fraud_detector', 1, 'Staging')\n")
    subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(src)},
                   check=True, timeout=120)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure(src: Path, home: Path, wrk: str, seconds: int) -> tuple[float, str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(src), "CHARTER_HOME": str(home)}
    server = subprocess.Popen([sys.executable, "-m", "charter.cli.main", "serve", "--port",
                               str(port), "--workers", "2", "--log-level", "warning"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + PATH, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"the server from {src} did not start")
            time.sleep(0.2)
        subprocess.run([wrk, "-t2", "-c16", "-d2s", url + PATH], capture_output=True,
                       timeout=30)  # warm both workers
        out = subprocess.run([wrk, "-t2", "-c16", f"-d{seconds}s", "--latency", url + PATH],
                             capture_output=True, text=True, timeout=seconds + 30).stdout
    finally:
        server.terminate()
        server.wait(timeout=30)
    rate = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+(\S+)", out)
    return rate, p99.group(1) if p99 else "?"


def in_process(requests: int, rounds: int) -> None:
    """Microseconds per request through the whole app, with and without the observer."""
    import asyncio

    from fastapi import FastAPI

    sys.path.insert(0, str(HERE_SRC))
    import charter.metrics as metrics
    from charter.bootstrap import build_service
    from charter.config import Settings
    from charter.server.app import create_app

    with tempfile.TemporaryDirectory(prefix="charter-metrics-bench-") as tmp:
        seed(Path(tmp), HERE_SRC)
        settings = Settings.load({"home": tmp}, env={})
        app = create_app(build_service(settings, actor="bench"), settings)
        stacks = {"metrics": app.build_middleware_stack(),
                  "baseline": FastAPI.build_middleware_stack(app)}
        path, query = PATH.split("?")
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": query.encode(), "root_path": "", "headers": [
                     (b"host", b"bench")], "client": ("127.0.0.1", 1), "server": ("b", 80)}

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            return None

        async def drive(stack: object, count: int) -> float:
            started = time.perf_counter()
            for _ in range(count):
                await stack(dict(scope, state={}, app=app), receive, send)  # type: ignore[operator]
            return (time.perf_counter() - started) / count * 1e6

        async def bare(scope: object, receive: object, send: object) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
            await send({"type": "http.response.body", "body": b"{}"})  # type: ignore[operator]

        from charter.server.observe import Observe

        stacks["observer alone"] = Observe(bare, routes=app.router.routes, log_requests=False)
        stacks["bare app"] = bare
        hooks = metrics._on
        best: dict[str, float] = {}
        for round_ in range(1, rounds + 1):
            for name in ("baseline", "metrics", "bare app", "observer alone"):
                metrics._on = None if name in ("baseline", "bare app") else hooks
                micros = asyncio.run(drive(stacks[name], requests))
                best[name] = min(best.get(name, micros), micros)
                load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
                print(f"in-process round {round_} {name:14s} {micros:7.1f} us/request  "
                      f"load {load}", flush=True)
        metrics._on = hooks
        print("best of rounds: " + ", ".join(f"{k} {v:.1f} us" for k, v in best.items()))
        print(f"observer cost: {best['observer alone'] - best['bare app']:.1f} us/request "
              f"(whole app: {best['metrics'] - best['baseline']:+.1f} us)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-src", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--wrk", default="wrk")
    parser.add_argument("--in-process", type=int, default=0, metavar="N",
                        help="also drive the app in-process N times per round")
    args = parser.parse_args()
    if args.in_process:
        in_process(args.in_process, args.rounds)
    with tempfile.TemporaryDirectory(prefix="charter-metrics-bench-") as tmp:
        homes = {"metrics": Path(tmp) / "metrics", "baseline": Path(tmp) / "baseline"}
        srcs = {"metrics": HERE_SRC, "baseline": args.baseline_src}
        for name in homes:
            seed(homes[name], srcs[name])
        for round_ in range(1, args.rounds + 1):
            for name in ("baseline", "metrics") if round_ % 2 else ("metrics", "baseline"):
                rate, p99 = measure(srcs[name], homes[name], args.wrk, args.seconds)
                load = Path("/proc/loadavg").read_text().split()[:3]
                print(f"round {round_} {name:8s} {rate:9.0f} req/s  p99 {p99:>8s}  "
                      f"load {' '.join(load)}", flush=True)


if __name__ == "__main__":
    main()
