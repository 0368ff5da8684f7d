"""PostgreSQL writes through one process's group commit, in-process: the rate, and the CPU
per write of the process, of its group-commit thread and of PostgreSQL's backends.

    PYTHONPATH=$PWD/src python bench/pg_group_commit.py postgresql://postgres@127.0.0.1:5432 pgw_gc

Creates the database NAME (dropped at the end), registers one version on each of 100
models, then 16 threads submit 150 registers each through ``Database.batched`` (what the
server's MLflow writes do, store/group_commit.py), then 150 stage moves each (None →
Staging). No HTTP: the figures are the store's and PostgreSQL's share of a write. Run it
with PYTHONPATH on two trees, alternating, to compare them at one load (bench/README.md,
PostgreSQL writes).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

from charter.bootstrap import build_service
from charter.config import Settings
from charter.store import group_commit

DOMAINS = "fraud churn credit pricing demand search ads payments retail support".split()
TASKS = "scorer ranker classifier forecaster detector recommender estimator tagger router \
matcher".split()
NAMES = [f"{d}_{t}" for d in DOMAINS for t in TASKS]
SOURCE = "s3://models-bucket/model.pkl"


def psql(server: str, sql: str) -> str:
    return subprocess.run(["psql", "-qAtX", "-d", f"{server}/postgres", "-c", sql],
                          capture_output=True, text=True, check=True).stdout


def backends_cpu(server: str, database: str) -> float:
    """CPU seconds used so far by PostgreSQL's backends serving ``database``."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in psql(server, "SELECT pid FROM pg_stat_activity WHERE datname = "
                            f"'{database}'").split():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # not on this machine, or gone
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server", help="postgresql://user@host:port")
    parser.add_argument("database", help="a database name to create (and drop at the end)")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--writes", type=int, default=150, help="per thread and kind")
    args = parser.parse_args()
    psql(args.server, f"DROP DATABASE IF EXISTS {args.database}")
    psql(args.server, f"CREATE DATABASE {args.database}")
    try:
        run(args)
    finally:
        psql(args.server, f"DROP DATABASE IF EXISTS {args.database}")


def run(args: argparse.Namespace) -> None:
    settings = Settings.load({"home": Path(tempfile.mkdtemp(prefix="pg-group-commit-")),
                              "database_url": f"{args.server}/{args.database}"}, env={})
    service = build_service(settings, actor="bench")
    for name in NAMES:
        service.register(name, SOURCE)
    batches: list[tuple[float, float]] = []  # (wall, thread CPU) of each batch
    plain_run = group_commit.GroupCommit._run

    def timed_run(self: group_commit.GroupCommit, first: Any) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        plain_run(self, first)
        batches.append((time.perf_counter() - wall, time.thread_time() - cpu))

    group_commit.GroupCommit._run = timed_run  # type: ignore[method-assign]
    fresh: list[tuple[str, int]] = []
    lock = threading.Lock()

    def create(k: int) -> None:
        rng = random.Random(k)
        for _ in range(args.writes):
            name, run_id = rng.choice(NAMES), f"{rng.getrandbits(128):032x}"
            record = service.db.batched(partial(
                service.register, name, f"runs:/{run_id}/model", run_id=run_id,
                create_model=False)).result()
            with lock:
                fresh.append((record.name, record.version))

    def move(_k: int) -> None:
        for _ in range(args.writes):
            with lock:
                name, version = fresh.pop()
            # named as the MLflow route names it: the batch reads its moves together
            service.db.batched(service.transition, name, version, "Staging",
                               move=(name, version)).result()

    for label, work in (("create_version", create), ("transition", move)):
        batches.clear()
        pg = backends_cpu(args.server, args.database)
        cpu, wall = time.process_time(), time.perf_counter()
        threads = [threading.Thread(target=work, args=(k,)) for k in range(args.threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        pg = backends_cpu(args.server, args.database) - pg
        n = args.threads * args.writes
        print(f"{label}: {n / wall:,.0f}/s; per write: process CPU {cpu / n * 1e3:.2f} ms, "
              f"group-commit thread CPU {sum(c for _, c in batches) / n * 1e3:.2f} ms, "
              f"PostgreSQL backends CPU {pg / n * 1e3:.2f} ms, batch wall "
              f"{sum(w for w, _ in batches) / n * 1e3:.2f} ms; {n / len(batches):.1f} writes "
              f"per batch; load average {os.getloadavg()[0]:.1f}")
    service.db.dispose()


if __name__ == "__main__":
    main()
