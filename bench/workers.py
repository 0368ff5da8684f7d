"""``charter serve --workers N`` at 100,000 versions: how the work and the memory split.

    PYTHONPATH=src flock /tmp/charter-bench.lock .venv/bin/python bench/workers.py \
        [--models 2000 --versions 50 --cases mv_get,download_uri --seconds 5 --rounds 3]

On a registry made by ``bench/scale.py populate`` (copied to a scratch folder, as
``scale.py measure`` does), starts ``charter serve --workers N`` with Charter's defaults
and reports:

* the server tree's memory right after start and after the load: PSS, and each
  process's RSS, PSS, anonymous memory and its proportional share of that (the two differ
  by what the forked processes still share);
* for each case, cold, ``--rounds`` times at ``--connections`` keep-alive connections
  (wrk, as scale.py): ok/s, p99, the server's CPU per answer, the cores the tree kept
  busy (and wrk's own), each worker's share of the tree's CPU, and how many of wrk's
  connections each worker held (``ss``) — a fresh wrk per round, so a fresh set of
  connections to spread.

PYTHONPATH selects the tree measured (main's or a branch's), so a before/after is two
runs of this command in one locked session.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import DATA, Shape, cases, servers_on, wrk  # noqa: E402
from server import CLOCK, tree, tree_memory  # noqa: E402


def cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK


def anonymous_mb(pid: int) -> tuple[float, float]:
    """A process's anonymous memory (its heap), and its proportional share of it: the
    two differ by what copy-on-write still keeps in common with its forked family."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        values[key] = int(rest.split()[0])
    return values.get("Anonymous", 0) / 1024, values.get("Pss_Anon", 0) / 1024


def memory(root: int) -> dict[str, Any]:
    found = tree_memory(root)
    rows = []
    for process in found["processes"]:
        try:
            anonymous, pss_anon = anonymous_mb(process["pid"])
        except OSError:
            continue
        rows.append({"pid": process["pid"], "rss_mb": round(process["rss_mb"], 1),
                     "pss_mb": round(process["pss_mb"], 1), "anon_mb": round(anonymous, 1),
                     "pss_anon_mb": round(pss_anon, 1)})
    return {"pss_mb": round(found["pss_mb"], 1), "processes": rows}


def connections_by_pid(port: int) -> dict[int, int]:
    """Established connections on the server's port, by the process that holds them."""
    listing = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
                             capture_output=True, text=True, check=False).stdout
    counts: dict[int, int] = {}
    for pid in re.findall(r"pid=(\d+)", listing):
        counts[int(pid)] = counts.get(int(pid), 0) + 1
    return counts


def one_round(case_paths: list[str], root: int, port: int, args: argparse.Namespace,
              work: Path, *, expect: int = 200) -> dict[str, Any]:
    workers = [p for p in tree(root) if p != root]
    before = {p: cpu_of(p) for p in [root, *workers]}
    held: dict[int, int] = {}

    def look() -> None:
        time.sleep(min(1.0, args.seconds / 2))
        held.update(connections_by_pid(port))

    looker = threading.Thread(target=look)
    looker.start()
    started, children = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    found = wrk(port, case_paths, cold=True, connections=args.connections, seconds=args.seconds,
                work=work, expect=expect)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    looker.join()
    used = {p: cpu_of(p) - t for p, t in before.items()}
    total = sum(used.values())
    ok = found["requests"] - found["status"]
    seconds = found["duration_us"] / 1e6
    return {"ok_per_s": round(ok / seconds, 1), "p99_ms": round(found["p99_us"] / 1000, 2),
            "errors": found["status"] + found["transport"],
            "cpu_ms_per_ok": round(1000 * total / ok, 3) if ok else None,
            "cores_busy": round(total / wall, 2), "wrk_cores": round(wrk_cpu / wall, 2),
            "worker_cpu_share": [round(used[p] / total, 2) if total else 0 for p in workers],
            "worker_connections": [held.get(p, 0) for p in workers],
            "loadavg": round(os.getloadavg()[0], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default="mv_get,download_uri")
    args = parser.parse_args()
    # what servers_on reads from scale.py's options
    args.database, args.db_prefix = None, "unused"
    folder = args.data / Shape(args.models, args.versions).key
    manifest = json.loads((folder / "manifest.json").read_text())
    shape, names = Shape(**manifest["shape"]), manifest["names"]
    wanted = args.cases.split(",")
    chosen = [c for c in cases(shape, names) if c.name in wanted]
    result: dict[str, Any] = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                              "loadavg_before": os.getloadavg(), "cases": {}}
    with servers_on(folder, args, "charter") as running, \
            tempfile.TemporaryDirectory(prefix="charter-workers-wrk-") as work:
        server = running["charter"]
        time.sleep(2)
        result["memory_idle"] = memory(server.process.pid)
        for case in chosen:
            wrk(server.port, case.paths, cold=True, connections=args.connections, seconds=1,
                work=Path(work), expect=case.expect)
            result["cases"][case.name] = [
                one_round(case.paths, server.process.pid, server.port, args, Path(work),
                          expect=case.expect)
                for _ in range(args.rounds)]
        result["memory_after"] = memory(server.process.pid)
    result["loadavg_after"] = os.getloadavg()
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
