"""Charter alone on a PostgreSQL copy of the 100,000 versions: per MLflow read case, cold.

    PYTHONPATH=$PWD/src python bench/pg_cold.py copy pgreads_x_charter   # once
    PYTHONPATH=$PWD/src flock /tmp/charter-bench.lock python bench/pg_cold.py run \\
        pgreads_x_charter --cases rm_get,alias --seconds 5
    python bench/pg_cold.py drop pgreads_x_charter

``copy`` makes the database the way ``scale.py measure --database`` does (Charter's schema
by ``charter db upgrade``, then the populated rows by COPY: bench/pgcopy.py) and keeps it,
so several trees can be measured on it one after the other (PYTHONPATH selecting the tree;
a tree whose migrations go further upgrades it at start). ``run`` starts ``charter serve
--workers 2`` on it and runs each case of ``scale.py`` with wrk, cold (a unique query per
request), printing ok/s, p50/p99, the server's CPU per ok answer and — what ``scale.py``
does not count — the CPU of the database's PostgreSQL backends per ok answer, from /proc
(a backend opened and closed within a case is missed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pgcopy import copy_sqlite_to_postgres  # noqa: E402
from scale import DATA, Shape, cases, charter_command, charter_env, wrk  # noqa: E402
from server import VENV_BIN, process_cpu, started, tree_cpu, wait_healthy  # noqa: E402

SERVER = "postgresql://postgres@127.0.0.1:5432"
POPULATED = DATA / "m2000-v50"


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        connection.execute(sql)


def backends_cpu(database: str) -> dict[int, float]:
    """CPU seconds so far of each backend connected to ``database``."""
    import psycopg

    with psycopg.connect(f"{SERVER}/{database}", autocommit=True) as connection:
        pids = [pid for (pid,) in connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,))]
    # a backend gone meanwhile reads 0: left out, as its "after" must not undo its "before"
    return {pid: cpu for pid in pids if (cpu := process_cpu(pid))}


def copy(database: str) -> None:
    admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{database}"')
    home = Path(tempfile.mkdtemp(prefix="pg-cold-home-"))
    env = charter_env(home)
    env["CHARTER_REGISTRY_URL"] = f"{SERVER}/{database}"
    subprocess.run([str(VENV_BIN / "charter"), "db", "upgrade"], env=env, check=True)
    copied = copy_sqlite_to_postgres(POPULATED / "charter" / "home" / "charter.db",
                                     f"{SERVER}/{database}")
    shutil.rmtree(home)
    print(f"{database}: rows copied in {copied['seconds']} s")


def run(database: str, wanted: list[str], seconds: float) -> None:
    manifest = json.loads((POPULATED / "manifest.json").read_text())
    chosen = [c for c in cases(Shape(**manifest["shape"]), manifest["names"])
              if c.name in wanted and "mlflow" in c.servers]
    work = Path(tempfile.mkdtemp(prefix="pg-cold-"))
    (work / "home").mkdir()
    env = charter_env(work / "home")
    env["CHARTER_REGISTRY_URL"] = f"{SERVER}/{database}"
    with started("Charter", charter_command(2), env, work, "/healthz", 120) as server:
        wait_healthy([server])
        print(f"tree {os.environ.get('PYTHONPATH', '(installed)')}, load {os.getloadavg()[0]:.1f}")
        for case in chosen:
            wrk(server.port, case.paths, cold=True, connections=16, seconds=1, work=work,
                expect=case.expect)
            cpu, backends = tree_cpu(server.process.pid), backends_cpu(database)
            found = wrk(server.port, case.paths, cold=True, connections=16, seconds=seconds,
                        work=work, expect=case.expect)
            cpu = tree_cpu(server.process.pid) - cpu
            database_cpu = sum(now - backends.get(pid, 0.0)
                               for pid, now in backends_cpu(database).items())
            ok = found["requests"] - found["status"]
            print(f"{case.name:18s} {ok / (found['duration_us'] / 1e6):8.1f} ok/s  p50 "
                  f"{found['p50_us'] / 1000:6.2f}  p99 {found['p99_us'] / 1000:7.2f} ms  errors "
                  f"{found['status'] + found['transport']}  server {1000 * cpu / ok:.3f}  "
                  f"postgres {1000 * database_cpu / ok:.3f} ms CPU/ok  load "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
    shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("copy", "run", "drop"))
    parser.add_argument("database", help="the copy's name (prefix it with your own)")
    parser.add_argument("--cases", default="rm_get,rm_search_like,rm_search_tag,"
                        "latest_production,alias,mv_get,download_uri,mv_search_name,"
                        "mv_search_tag,mv_search_run")
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    if args.step == "copy":
        copy(args.database)
    elif args.step == "drop":
        admin(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    else:
        run(args.database, args.cases.split(","), args.seconds)


if __name__ == "__main__":
    main()
