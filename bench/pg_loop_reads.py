"""CPU per PostgreSQL read: a use case run on the event loop (``run_read``, the
greenlet bridge of store/pg_loop.py) against the same use case sent to the thread pool.

In one process, no HTTP: a database ``{prefix}_cpu`` with one model of three versions
(created and dropped here), then ``--reads`` version reads in a row each way, alternated
``--rounds`` times, after a warm-up; and the same read as an MLflow route makes it, through
the answer cache with a new key each time (a cold request). Reports this process's CPU per read
(``time.process_time``), the wall time per read, and the CPU the PostgreSQL backends of
the database used per read (/proc, same host). Read CPU, not wall time: on a shared
machine the wall time is mostly waiting for a core.

    PYTHONPATH=$PWD/src .venv/bin/python bench/pg_loop_reads.py \\
        --database postgresql://postgres@127.0.0.1:5432 --db-prefix NAME
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import uvloop
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from charter.api.mlflow.cache import AnswerCache, answer
from charter.bootstrap import build_service
from charter.config import Settings
from charter.web import run_read

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import process_cpu  # noqa: E402


def backend_cpu_s(admin: psycopg.Connection, database: str) -> float:
    """CPU seconds the database's backends have used so far (those alive now)."""
    return sum(process_cpu(pid) for (pid,) in admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)).fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="postgresql://user@host:port")
    parser.add_argument("--db-prefix", default="pgloop")
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    name = f"{args.db_prefix}_cpu"
    admin = psycopg.connect(f"{args.database}/postgres", autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as home:
            service = build_service(Settings.load(
                {"home": Path(home), "database_url": f"{args.database}/{name}"}, env={}),
                actor="bench")
            service.create_model("fraud_detector")
            for _ in range(3):
                service.register("fraud_detector", "runs:/0123456789abcdef/model")
            try:
                uvloop.run(measure(service, admin, name, args.reads, args.rounds))
            finally:
                service.db.dispose()
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"load average {os.getloadavg()}")


async def measure(service, admin: psycopg.Connection, database: str, reads: int,  # type: ignore[no-untyped-def]
                  rounds: int) -> None:
    cache = AnswerCache()

    def compute() -> Response:
        service.get_version("fraud_detector", 2)
        return Response(b"{}", media_type="application/json")

    ways = {"event loop (run_read)": lambda i: run_read(service, service.get_version,
                                                        "fraud_detector", 1 + i % 3),
            "thread pool": lambda i: run_in_threadpool(service.get_version,
                                                       "fraud_detector", 1 + i % 3),
            # An MLflow read as the server makes it: through the answer cache, each key
            # new (a cold request), so the cache neither holds nor keeps its answer.
            "answer(), one-off keys": lambda i: answer(cache, service, next(keys), compute)}
    keys = iter(range(1 << 62))
    for _ in range(rounds):
        for label, read in ways.items():
            for i in range(200):  # connections open, statements prepared
                await read(i)
            backends, cpu, wall = (backend_cpu_s(admin, database), time.process_time(),
                                   time.perf_counter())
            for i in range(reads):
                await read(i)
            per = 1e6 / reads
            print(f"{label:22} process CPU {(time.process_time() - cpu) * per:4.0f} µs/read, "
                  f"wall {(time.perf_counter() - wall) * per:4.0f} µs/read, PostgreSQL "
                  f"backends {(backend_cpu_s(admin, database) - backends) * per:4.0f} µs/read")
    service.db.close_loop_reads()


if __name__ == "__main__":
    main()
