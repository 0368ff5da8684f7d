"""Two trees of Charter side by side on PostgreSQL copies of bench/scale.py's population:
ok/s, p50, p99 and CPU per answer — the server's and PostgreSQL's — per case, trees in turn.

    # once per tree: a PostgreSQL database pg_ab_NAME holding a copy of the population
    python bench/pg_ab.py copy main
    python bench/pg_ab.py copy work
    # then: each tree's `charter serve --workers 2` (its src/ on PYTHONPATH) on its copy,
    # wrk cold at 16 connections for 5 s per case, the trees alternating; each line says
    # how the 16 connections were split over the two workers (ss, 1 s in)
    python bench/pg_ab.py run --cases rm_search_like,mv_search_name --rounds 2 \\
        /tmp/main-tree:main /work/main:work
    python bench/pg_ab.py drop main work

The cases are bench/scale.py's (its population: `bench/scale.py populate`). A case's first
second is a warm-up, not measured. `copy` migrates with the installed tree; a served tree
migrates at its start, so compare trees that know the same migrations. PostgreSQL's CPU
is every postgres process's, so run nothing else against it meanwhile. ``--env K=V`` sets
a server setting for every tree (e.g. CHARTER_KEPT_MODELS_MB=0).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import scale  # noqa: E402
from pgcopy import copy_sqlite_to_postgres  # noqa: E402
from server import tree_cpu  # noqa: E402
from workers import connections_by_pid  # noqa: E402

BASE = "postgresql://postgres@127.0.0.1:5432"
VENV_BIN = HERE.parent / ".venv" / "bin"
WORK = Path(tempfile.gettempdir()) / "charter-pg-ab"


def psql(database: str, statement: str) -> None:
    subprocess.run(["psql", f"{BASE}/{database}", "-qc", statement], check=True)


def copy(name: str, data: Path) -> None:
    """pg_ab_NAME: a migrated database holding the population's rows, vacuumed (pgcopy)."""
    home = WORK / f"home_{name}"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(data / "charter" / "home", home)
    psql("postgres", f"DROP DATABASE IF EXISTS pg_ab_{name}")
    psql("postgres", f"CREATE DATABASE pg_ab_{name}")
    env = {**scale.charter_env(home), "CHARTER_REGISTRY_URL": f"{BASE}/pg_ab_{name}"}
    subprocess.run([str(VENV_BIN / "charter"), "db", "upgrade"], env=env, check=True)
    print(copy_sqlite_to_postgres(home / "charter.db", f"{BASE}/pg_ab_{name}"))


def postgres_cpu() -> float:
    """CPU seconds of every postgres process."""
    ticks, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if "(postgres)" in stat:
            fields = stat.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def serve(tree: Path, name: str, extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**scale.charter_env(WORK / f"home_{name}"),
           "CHARTER_REGISTRY_URL": f"{BASE}/pg_ab_{name}", "PYTHONPATH": str(tree / "src"),
           **extra}
    with (WORK / f"serve_{name}.log").open("w") as log:  # the child holds its own copy
        process = subprocess.Popen([str(VENV_BIN / "charter"), "serve", "--host",
                                    "127.0.0.1", "--port", str(port), "--workers", "2",
                                    "--log-level", "warning"],
                                   env=env, stdout=log, stderr=log, cwd=tree)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process, port
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                stop(process)
                raise RuntimeError(f"{tree} did not start: {WORK}/serve_{name}.log") from None
            time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def run(args: argparse.Namespace) -> None:
    manifest = json.loads((args.data / "manifest.json").read_text())
    shape, names = scale.Shape(**manifest["shape"]), manifest["names"]
    known = {case.name: case for case in scale.cases(shape, names)}
    chosen = [known[name] for name in args.cases.split(",")]
    if not args.trees:
        raise SystemExit("run: name at least one TREE:NAME (a tree and its copy)")
    extra = dict(item.split("=", 1) for item in args.env)
    with tempfile.TemporaryDirectory(prefix="charter-pg-ab-") as work:
        for round_ in range(args.rounds):
            for pair in args.trees:
                tree, name = pair.rsplit(":", 1)
                process, port = serve(Path(tree).resolve(), name, extra)
                try:
                    for case in chosen:
                        measure = dict(port=port, paths=case.paths, cold=True,
                                       connections=16, work=Path(work), expect=case.expect,
                                       method=case.method)
                        scale.wrk(seconds=1, **measure)
                        server, database = tree_cpu(process.pid), postgres_cpu()
                        held: dict[int, int] = {}
                        looker = threading.Timer(
                            min(1.0, args.seconds / 2),
                            lambda held=held, port=port: held.update(connections_by_pid(port)))
                        looker.start()
                        found = scale.wrk(seconds=args.seconds, **measure)
                        looker.join()
                        server = tree_cpu(process.pid) - server
                        database = postgres_cpu() - database
                        ok = found["requests"] - found["status"]
                        print(f"r{round_} {name:>8} {case.name:>18} ok/s "
                              f"{ok / (found['duration_us'] / 1e6):8.1f} p50 "
                              f"{found['p50_us'] / 1000:6.2f} p99 {found['p99_us'] / 1000:6.2f} "
                              f"errors {found['status'] + found['transport']} server "
                              f"{1000 * server / max(ok, 1):.3f} postgres "
                              f"{1000 * database / max(ok, 1):.3f} ms/answer split "
                              f"{'/'.join(map(str, sorted(held.values())))} load "
                              f"{os.getloadavg()[0]:.2f}", flush=True)
                finally:
                    stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=("copy", "run", "drop"))
    parser.add_argument("names", nargs="*", help="copy/drop: NAMEs; run: TREE:NAME pairs")
    parser.add_argument("--data", type=Path, default=scale.DATA / "m2000-v50",
                        help="a population of bench/scale.py")
    parser.add_argument("--cases", default="rm_search_like")
    parser.add_argument("--rounds", type=int, default=2, choices=range(1, 11),
                        metavar="1-10")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--env", action="append", default=[], metavar="K=V")
    args = parser.parse_intermixed_args()
    WORK.mkdir(exist_ok=True)
    if args.step == "copy":
        for name in args.names:
            copy(name, args.data)
    elif args.step == "drop":
        for name in args.names:
            psql("postgres", f"DROP DATABASE IF EXISTS pg_ab_{name}")
            shutil.rmtree(WORK / f"home_{name}", ignore_errors=True)
    else:
        args.trees = args.names
        run(args)


if __name__ == "__main__":
    main()
