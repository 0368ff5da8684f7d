"""CPU per cold MLflow read, in process: the ASGI app called directly, no HTTP server.

    PYTHONPATH=$PWD/src flock /tmp/charter-bench.lock .venv/bin/python bench/mlflow_cold.py \
        --home COPY_OF_A_HOME [--cases rm_search_like,mv_search_name] [--requests 300]
        [--profile CASE]

COPY_OF_A_HOME is a copy of a populated ``charter/home`` (bench/scale.py populate; the
app migrates it, so never point this at the populated one). Each case sends
``--requests`` requests of bench/scale.py's shapes through the whole middleware stack,
cycling over the models, each with a unique ``_u`` parameter so the answer cache never
serves one (scale.py's "cold"), and prints the process CPU time per request (steadier
than wall time on a shared machine) and the last answer's size. ``--profile CASE``
prints a cProfile of that case, timed by process CPU. Run it with another tree's
``PYTHONPATH`` for a before/after. On PostgreSQL, name the database in the environment
with its home beside it, e.g. a copy made by ``bench/pg_ab.py copy work``:
``CHARTER_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/pg_ab_work ... --home
/tmp/charter-pg-ab/home_work``. ``rm_get_missing`` asks for names nobody registered (404).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from charter.bootstrap import build_service
from charter.config import Settings
from charter.server.app import create_app

API = "/api/2.0/mlflow"
Shape = Callable[[int], tuple[str, str]]


def shapes(names: list[str]) -> dict[str, Shape]:
    prefixes = sorted({n.split("_")[0] for n in names})

    def name(i: int) -> str:
        return names[i % len(names)]

    def quoted(text: str) -> str:
        return quote(text, safe="")

    return {
        "rm_get": lambda i: ("/registered-models/get", f"name={name(i)}"),
        # a name nobody registered: 404 with a "did you mean" hint
        "rm_get_missing": lambda i: ("/registered-models/get", f"name={name(i)}_gone"),
        "rm_search_like": lambda i: ("/registered-models/search", "filter=" + quoted(
            f"name LIKE '{prefixes[i % len(prefixes)]}%'") + "&max_results=100"),
        "rm_search_tag": lambda i: ("/registered-models/search",
                                    "filter=" + quoted(f"tags.team = 't{i % 100}'")),
        "latest_production": lambda i: ("/registered-models/get-latest-versions",
                                        f"name={name(i)}&stages=Production"),
        "alias": lambda i: ("/registered-models/alias", f"name={name(i)}&alias=champion"),
        "mv_get": lambda i: ("/model-versions/get", f"name={name(i)}&version=25"),
        "download_uri": lambda i: ("/model-versions/get-download-uri",
                                   f"name={name(i)}&version=48"),
        "mv_search_name": lambda i: ("/model-versions/search",
                                     "filter=" + quoted(f"name='{name(i)}'")),
    }


class Caller:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.sent = 0

    async def get(self, path: str, query: str) -> tuple[int, bytes]:
        self.sent += 1
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": API + path,
                 "raw_path": (API + path).encode(), "root_path": "",
                 "query_string": f"{query}&_u=c{self.sent}".encode(),
                 "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 5000),
                 "server": ("127.0.0.1", 8080), "state": {}}
        answer: dict[str, Any] = {"body": b""}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            else:
                answer["body"] += message.get("body", b"")

        await self.app(scope, receive, send)
        return answer["status"], answer["body"]


EXPECTED = {"rm_get_missing": 404}  # the status of a case's every answer; else 200


async def run(caller: Caller, shape: Shape, count: int, expect: int = 200) -> bytes:
    body = b""
    for index in range(count):
        status, body = await caller.get(*shape(index))
        if status != expect:
            raise SystemExit(f"{shape(index)} answered {status}: {body[:300]!r}")
    return body


async def measure(args: argparse.Namespace) -> None:
    settings = Settings.load({"home": args.home})
    service = build_service(settings, actor="bench")
    caller = Caller(create_app(service, settings))
    names = [m.name for m in service.search_models("", max_results=1000).items]
    known = shapes(names)
    with open("/proc/loadavg") as load:
        print(f"load average: {load.read().split()[0]}")
    for case in args.cases.split(","):
        expect = EXPECTED.get(case, 200)
        await run(caller, known[case], 20, expect)  # warms the connections, not the answers
        profile = cProfile.Profile(time.process_time) if case == args.profile else None
        start = time.process_time()
        if profile:
            profile.enable()
        body = await run(caller, known[case], args.requests, expect)
        if profile:
            profile.disable()
        cpu = (time.process_time() - start) / args.requests * 1000
        print(f"{case:18s} {cpu:7.3f} ms CPU per request   answer {len(body):6d} B",
              flush=True)
        if profile:
            pstats.Stats(profile).sort_stats("tottime").print_stats(30)
    service.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--cases", default="rm_search_like,rm_search_tag,mv_search_name,"
                        "rm_get,latest_production,alias,mv_get,download_uri")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--profile", default="")
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
