"""What a cold MLflow search costs on PostgreSQL, on both sides: Charter's server CPU and
PostgreSQL's backend CPU per answer, for two source trees in turn (an A/B).

``scale.py measure`` counts the server's processes only; at 100,000 versions a model
search's statement costs PostgreSQL as much CPU as the server spends, on the same cores.
This copies the populated registry (``scale.py populate``) into one PostgreSQL database
(``--db-prefix``, dropped at the end), then for each round and each tree starts
``charter serve --workers N`` on it and drives every case cold (a unique query per
request: the answer cache misses) with wrk at 16 connections, reading the server tree's
CPU and that of the database's backends (pg_stat_activity) before and after.

    PYTHONPATH=src flock /tmp/charter-bench.lock .venv/bin/python bench/pg_search_cost.py \\
        --database postgresql://postgres@127.0.0.1:5432 --db-prefix pgcost \\
        --tree A=/path/to/main/src --tree B=src --rounds 2 --seconds 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scale  # noqa: E402
from pgcopy import copy_sqlite_to_postgres  # noqa: E402
from server import VENV_BIN, postgres_databases, process_cpu, started, tree_cpu  # noqa: E402

CASES = "rm_search_like,rm_search_tag,mv_search_name,mv_search_run"


def backend_cpu(url: str, database: str) -> float:
    """CPU seconds used so far by the backends connected to ``database``."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        pids = [row[0] for row in connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,))]
    return sum(process_cpu(pid) for pid in pids)


def measure_case(case: scale.Case, port: int, root: int, url: str, database: str,
                 seconds: float, work: Path) -> dict[str, Any]:
    scale.wrk(port, case.paths, cold=True, connections=16, seconds=1, work=work)  # warm-up
    server, backends = tree_cpu(root), backend_cpu(url, database)
    load = os.getloadavg()[0]
    found = scale.wrk(port, case.paths, cold=True, connections=16, seconds=seconds, work=work)
    server, backends = tree_cpu(root) - server, backend_cpu(url, database) - backends
    ok = found["requests"] - found["status"]
    return {"case": case.name, "ok_per_s": round(ok / (found["duration_us"] / 1e6), 1),
            "p50_ms": found["p50_us"] / 1000, "p99_ms": found["p99_us"] / 1000,
            "errors": found["status"] + found["transport"],
            "server_ms_per_ok": round(1000 * server / ok, 3) if ok else None,
            "pg_ms_per_ok": round(1000 * backends / ok, 3) if ok else None,
            "load": round(load, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/charter-scale"))
    parser.add_argument("--models", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--database", required=True, help="a PostgreSQL server's URL")
    parser.add_argument("--db-prefix", default="pgcost")
    parser.add_argument("--tree", action="append", required=True,
                        help="LABEL=SRC: a source tree to serve (PYTHONPATH); give two")
    parser.add_argument("--cases", default=CASES)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    folder = args.data / f"m{args.models}-v{args.versions}"
    manifest = json.loads((folder / "manifest.json").read_text())
    shape, names = scale.Shape(**manifest["shape"]), manifest["names"]
    wanted = args.cases.split(",")
    chosen = [c for c in scale.cases(shape, names) if c.name in wanted]
    trees = [tree.split("=", 1) for tree in args.tree]
    work = Path(tempfile.mkdtemp(prefix="charter-pgcost-"))
    results: list[dict[str, Any]] = []
    try:
        shutil.copytree(folder / "charter" / "home", work / "home")
        with postgres_databases(args.database, args.db_prefix) as urls:
            url, database = urls["Charter"], f"{args.db_prefix}_charter"
            env = scale.charter_env(work / "home")
            env["CHARTER_REGISTRY_URL"] = url
            subprocess.run([str(VENV_BIN / "charter"), "db", "upgrade"], env=env, check=True,
                           capture_output=True)
            copy_sqlite_to_postgres(work / "home" / "charter.db", url)
            for round_ in range(1, args.rounds + 1):
                for label, source in trees:
                    tree_env = {**env, "PYTHONPATH": os.path.abspath(source)}
                    with started(f"charter-{label}", scale.charter_command(args.workers),
                                 tree_env, work, "/healthz", 300) as server:
                        scale.wait_healthy([server])
                        for case in chosen:
                            figure = measure_case(case, server.port, server.process.pid, url,
                                                  database, args.seconds, work)
                            figure.update(tree=label, round=round_)
                            print(json.dumps(figure), flush=True)
                            results.append(figure)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n| case | tree | ok/s | p50 ms | p99 ms | server CPU ms/ok | PostgreSQL CPU ms/ok "
          "| load |\n|---|---|---:|---:|---:|---:|---:|---:|")
    for case in chosen:
        for label, _ in trees:
            rows = [r for r in results if r["case"] == case.name and r["tree"] == label]

            def median(key: str, rows: list[dict[str, Any]] = rows) -> float:
                return statistics.median(r[key] for r in rows)
            print(f"| {case.name} | {label} | {median('ok_per_s'):,.0f} | "
                  f"{median('p50_ms'):.1f} | {median('p99_ms'):.1f} | "
                  f"{median('server_ms_per_ok'):.3f} | {median('pg_ms_per_ok'):.3f} | "
                  f"{min(r['load'] for r in rows)}–{max(r['load'] for r in rows)} |")


if __name__ == "__main__":
    main()
