"""Operations per second of the embedded registry on SQLite and PostgreSQL.

    .venv/bin/python bench/embedded.py [--count 500] [--postgres URL]

Each phase is bounded by --count operations and --seconds of wall time,
whichever comes first. PostgreSQL runs in a throwaway database. Besides ops/s,
each phase reports this process's CPU time per operation: on a machine others
are using too, it moves far less than the rate (PostgreSQL's own CPU is not in it).
The phases are the hot paths of bench/README.md: register, transition, get a
version, the latest version per stage, search, and resolve.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

from charter.bootstrap import build_service
from charter.config import Settings


def timed(label: str, count: int, seconds: float, op: Callable[[int], object]) -> float:
    started, cpu, done = time.perf_counter(), time.process_time(), 0
    while done < count and time.perf_counter() - started < seconds:
        op(done)
        done += 1
    rate = done / (time.perf_counter() - started)
    per_op = (time.process_time() - cpu) / max(done, 1) * 1e6
    print(f"  {label:<28} {rate:>9.0f} ops/s  {per_op:>7.0f} µs CPU/op  ({done} ops)")
    return rate


def run(label: str, database_url: str, home: Path, count: int, seconds: float) -> None:
    print(f"{label}:")
    registry = build_service(Settings.load({"home": home, "database_url": database_url}),
                             actor="bench")
    name = "fraud_detector"
    timed("register (runs:/ source)", count, seconds,
          lambda i: registry.register(name, f"runs:/run{i}/model", run_id=f"run{i}"))
    registered = len(registry.list_versions(name))
    timed("transition None->Staging", registered, seconds,
          lambda i: registry.transition(name, i + 1, "Staging", reason="bench"))
    timed("get_version", count, seconds,
          lambda i: registry.get_version(name, i % registered + 1))
    timed("latest_versions(Staging)", count, seconds,
          lambda i: registry.latest_versions(name, ["Staging"]))
    timed("search_versions(name=…)", count, seconds,
          lambda i: registry.search_versions(f"name='{name}'", max_results=20))
    timed("resolve models:/…/N", count, seconds,
          lambda i: registry.resolve(f"models:/{name}/{i % registered + 1}"))
    timed("resolve models:/…/Staging", count, seconds,
          lambda i: registry.resolve(f"models:/{name}/Staging"))
    registry.db.dispose()


def with_postgres_database(base_url: str) -> tuple[str, Callable[[], None]]:
    name = f"charter_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = base_url.rsplit("/", 1)[0] + "/" + name

    def drop() -> None:
        with psycopg.connect(base_url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--postgres", default=os.environ.get(
        "CHARTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite (WAL, file)", f"sqlite:///{tmp}/charter.db", Path(tmp), args.count,
            args.seconds)
    url, drop = with_postgres_database(args.postgres)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run("PostgreSQL", url, Path(tmp), args.count, args.seconds)
    finally:
        drop()


if __name__ == "__main__":
    main()
