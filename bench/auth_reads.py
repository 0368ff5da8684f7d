"""What authentication costs an MLflow read: `charter serve` with `[auth] enabled`.

Seeds an embedded SQLite registry (one model of three versions; an admin, alice, and a
user, bob, with a reader grant on the model; a token each), then for each source tree
given starts ``charter serve --workers 2`` with ``CHARTER_AUTH=on`` and points ``wrk``
at ``get-download-uri`` with a unique ``_u=`` parameter per request (cold: no answer
cache serves it), once with alice's token and once with bob's (whose rule checks his
right on the model). Reports ok/s and the server tree's CPU per request (from /proc:
the figure to compare on a shared machine) with the load average. Rounds alternate the
trees, so a change of the machine's load hits each.

    PYTHONPATH=$PWD/src .venv/bin/python bench/auth_reads.py --src /work/main/src \\
        --src $PWD/src --rounds 2 --seconds 4

Needs ``wrk`` (Debian's package). Bounded: rounds x trees x 2 tokens x seconds.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import free_port, tree_cpu  # noqa: E402

HERE_SRC = Path(__file__).resolve().parents[1] / "src"
READ = "/api/2.0/mlflow/model-versions/get-download-uri?name=fraud_detector&version=2"
# wrk's Lua: each request its own _u, so every answer is computed (cold).
COLD = f"""counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, "{READ}&_u=" .. counter .. "_" .. math.random(1, 1000000000))
end
"""

SEED = """
from charter.bootstrap import build_service
from charter.config import Settings
s = build_service(Settings.load({'home': %r}, env={}), actor='bench')
s.create_model('fraud_detector')
for _ in range(3):
    s.register('fraud_detector', 'runs:/0123456789abcdef0123456789abcdef/model')
s.create_user('alice', admin=True)
s.create_user('bob')
s.grant('fraud_detector', 'bob', 'reader')
print(s.create_token('alice').secret, s.create_token('bob').secret)
"""


def seed(home: Path, src: Path) -> dict[str, str]:
    done = subprocess.run([sys.executable, "-c", SEED % str(home)], check=True, timeout=120,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(src)})
    alice, bob = done.stdout.split()
    return {"alice (admin)": alice, "bob (reader grant)": bob}


def serve(src: Path, home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(src), "CHARTER_HOME": str(home),
           "CHARTER_AUTH": "on"}
    server = subprocess.Popen([sys.executable, "-m", "charter.cli.main", "serve", "--port",
                               str(port), "--workers", "2", "--log-level", "warning"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start")


def run(wrk: str, script: Path, port: int, token: str, seconds: int) -> tuple[int, int]:
    out = subprocess.run([wrk, "-t2", "-c16", f"-d{seconds}s", "-s", str(script), "-H",
                          f"Authorization: Bearer {token}", f"http://127.0.0.1:{port}"],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    found = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (int(found.group(1)) if found else 0), (int(bad.group(1)) if bad else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, action="append",
                        help="a source tree to run (repeat for an A/B); default: this one")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--wrk", default="wrk")
    args = parser.parse_args()
    trees = args.src or [HERE_SRC]
    with tempfile.TemporaryDirectory() as scratch:
        home, script = Path(scratch) / "home", Path(scratch) / "cold.lua"
        script.write_text(COLD)
        tokens = seed(home, trees[0])
        print("| round | tree | token | ok/s | server CPU ms/req | non-2xx | load |")
        print("|---:|---|---|---:|---:|---:|---:|")
        for round_ in range(1, args.rounds + 1):
            for src in trees:
                port = free_port()
                server = serve(src, home, port)
                try:
                    for who, token in tokens.items():
                        run(args.wrk, script, port, token, 1)  # connections, first-use notes
                        before = tree_cpu(server.pid)
                        count, bad = run(args.wrk, script, port, token, args.seconds)
                        cpu = tree_cpu(server.pid) - before
                        print(f"| {round_} | {src} | {who} | {count / args.seconds:,.0f} | "
                              f"{cpu / max(count, 1) * 1e3:.3f} | {bad} | "
                              f"{os.getloadavg()[0]:.1f} |", flush=True)
                finally:
                    server.terminate()
                    server.wait(timeout=30)


if __name__ == "__main__":
    main()
