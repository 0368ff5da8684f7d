"""Served read cases of the query side at registry scale, measured with wrk.

    flock /tmp/charter-bench.lock .venv/bin/python bench/search_wrk.py --home DIR \\
        [--seconds 10] [--connections 16] [--cases registry,audit,mlflow]

Copies the populated home ``DIR`` (e.g. bench/scale.py's
/tmp/charter-scale/m2000-v50/charter/home; the copy is migrated, the original is not
touched) to a scratch folder, starts ``charter serve`` on it (one worker, defaults)
from the source tree this file is in, and runs wrk (Debian's /usr/bin/wrk) against
each case for ``--seconds`` at ``--connections``: the registry page with each filter,
the audit page and a model's audit pages, and MLflow searches made cold by a unique
query parameter per request (the answer cache never hits). Prints ok/s, p50, p99 and
the load average per case; non-2xx answers are counted and reported.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parent.parent
WRK = shutil.which("wrk") or "/usr/bin/wrk"
UNIQUE_LUA = """
counter = 0
request = function()
  counter = counter + 1
  local path = wrk.path .. "&cold=" .. counter .. "-" .. math.random(1, 1000000000)
  return wrk.format(nil, path)
end
"""


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def facts(home: Path) -> dict[str, str]:
    """A busy model, a team tag value, a version's tag and a run id in the registry."""
    with sqlite3.connect(f"file:{home / 'charter.db'}?mode=ro", uri=True) as db:
        model, key = db.execute("SELECT model, model_key FROM events GROUP BY model_key "
                                "ORDER BY count(*) DESC, model_key LIMIT 1").fetchone()
        first = db.execute("SELECT min(seq) FROM events WHERE model_key = ?",
                           (key,)).fetchone()[0]
        team = db.execute("SELECT value FROM model_tags WHERE key = 'team' "
                          "ORDER BY model_id LIMIT 1").fetchone()
        tag = db.execute("SELECT key, value FROM version_tags ORDER BY version_id DESC "
                         "LIMIT 1").fetchone()
        run = db.execute("SELECT run_id FROM versions WHERE run_id != '' "
                         "ORDER BY id DESC LIMIT 1").fetchone()
    return {"model": model, "first_seq": str(first + 1), "team": team[0] if team else "",
            "tag_key": tag[0] if tag else "", "tag_value": tag[1] if tag else "",
            "run_id": run[0] if run else ""}


def cases(f: dict[str, str]) -> dict[str, list[tuple[str, str, bool]]]:
    team = quote(f"team={f['team']}")
    search = "/api/2.0/mlflow/model-versions/search?filter="
    return {
        "registry": [
            ("UI / (no filter)", "/", False),
            ("UI /?tag=team=…", f"/?tag={team}", False),
            ("UI /?stage=Production", "/?stage=Production", False),
            ("UI /?stage=Staging", "/?stage=Staging", False),
            ("UI /?q=a&tag=team=…&stage=Production", f"/?q=a&tag={team}&stage=Production",
             False),
        ],
        "audit": [
            ("UI /audit", "/audit", False),
            ("UI /audit?model=M", f"/audit?model={quote(f['model'])}", False),
            ("UI /audit?model=M&before=<its 2nd event>",
             f"/audit?model={quote(f['model'])}&before={f['first_seq']}", False),
        ],
        "mlflow": [
            ("MLflow versions by tag, cold", search + quote(
                f"tags.{f['tag_key']} = '{f['tag_value']}'"), True),
            ("MLflow versions by name, cold", search + quote(f"name = '{f['model']}'"), True),
            ("MLflow versions by run_id, cold", search + quote(f"run_id = '{f['run_id']}'"),
             True),
            ("MLflow models LIKE, cold", "/api/2.0/mlflow/registered-models/search?filter="
             + quote("name LIKE 'fraud%'"), True),
            ("MLflow models by tag, cold", "/api/2.0/mlflow/registered-models/search?filter="
             + quote(f"tags.team = '{f['team']}'"), True),
        ],
    }


def run_wrk(url: str, path: str, cold: bool, seconds: int, connections: int,
            script: Path) -> str:
    args = [WRK, f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s",
            "--latency", "--timeout", "10s"]
    if cold:
        args += ["-s", str(script)]
    done = subprocess.run([*args, url + path], capture_output=True, text=True,
                          timeout=seconds + 30)
    text = done.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p50 = re.search(r"50%\s+([\d.]+\w+)", text)
    p99 = re.search(r"99%\s+([\d.]+\w+)", text)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: .*", text)
    with open("/proc/loadavg") as load:
        avg = " ".join(load.read().split()[:3])
    trouble = ("  NON-2XX " + bad.group(1) if bad else "") + (
        "  " + errors.group(0) if errors else "")
    return (f"{float(rate.group(1)) if rate else 0:9.1f} {p50.group(1) if p50 else '-':>9} "
            f"{p99.group(1) if p99 else '-':>9}  load {avg}{trouble}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--cases", default="registry,audit,mlflow")
    parser.add_argument("--answer-cache-mb", type=int, default=None,
                        help="passed to charter serve (default: its own default)")
    parser.add_argument("--src", type=Path, default=ROOT / "src",
                        help="the source tree to serve (another checkout for a before/after)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scalequery-") as scratch:
        home = Path(scratch) / "home"
        shutil.copytree(args.home, home, ignore=shutil.ignore_patterns("*-writelock"))
        known = facts(home)
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(args.src), "CHARTER_HOME": str(home)}
        cache = ([] if args.answer_cache_mb is None
                 else ["--answer-cache-mb", str(args.answer_cache_mb)])
        server = subprocess.Popen(
            [sys.executable, "-m", "charter.cli.main", "serve", "--port", str(port),
             "--log-level", "warning", *cache], env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait(url, server)
            script = Path(scratch) / "unique.lua"
            script.write_text(UNIQUE_LUA)
            print(f"serving {args.src} on a copy of {args.home}; wrk -c{args.connections} "
                  f"-d{args.seconds}s; facts {known}")
            print(f"{'case':<44} {'ok/s':>9} {'p50':>9} {'p99':>9}")
            for group in args.cases.split(","):
                for label, path, cold in cases(known)[group]:
                    httpx.get(url + path, timeout=60).raise_for_status()  # warm + checked
                    print(f"{label:<44} " + run_wrk(url, path, cold, args.seconds,
                                                    args.connections, script), flush=True)
            print(f"server RSS after the cases: {_rss_mb(server.pid):.0f} MB")
        finally:
            server.terminate()
            server.wait(timeout=30)


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _wait(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120  # the first start migrates a copied registry
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"charter serve exited with {server.returncode}")
        try:
            httpx.get(url + "/healthz", timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.5)
    raise SystemExit("charter serve did not start within 120 s")


if __name__ == "__main__":
    main()
