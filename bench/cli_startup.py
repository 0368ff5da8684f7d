"""How soon `charter` answers from a fresh process: first line and total, per command.

Runs each command as a user would (a new process, output piped), N times after one
warm-up, and prints per command the median time to the first line of output, the
median total, and the median CPU time (user + system) of the process, with the load
average before and after. Wall times on a shared machine are noisy; the CPU time is
the figure to compare between two trees.

    python bench/cli_startup.py --home /tmp/me/home            # an embedded registry
    python bench/cli_startup.py --registry http://127.0.0.1:8080  # a Charter server
    python bench/cli_startup.py --home H --src /tmp/old/src    # another tree's code

``--floor`` adds what no command can start faster than: the interpreter alone, and the
interpreter importing Typer and Rich, which every command's first line needs (a
command's figures minus these are what Charter itself costs).

``--home`` is used as given: pass a COPY (``charter audit verify`` remembers the point
it verified). ``--src`` puts that tree first on ``PYTHONPATH`` (default: this tree's).
Bytecode is cached under a scratch ``PYTHONPYCACHEPREFIX``, as an installed package
would have it; ``-X importtime`` shows where a command's start-up goes
(docs/cli.md, "Start-up").
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "ls": ["ls"],
    "help": ["--help"],
    "resolve": ["resolve", "models:/{model}/latest"],
    "audit verify": ["audit", "verify"],
}
FLOOR = {
    "python": "pass",
    "+ typer": "import typer",
    "+ rich": "import typer, rich.console, rich.text",
}


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, float, int]:
    """Seconds to the first line and to the end, CPU seconds, and the exit code."""
    begun = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert child.stdout is not None
    child.stdout.readline()
    first = time.perf_counter() - begun
    while child.stdout.read(1 << 16):
        pass
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    total = time.perf_counter() - begun
    return first, total, usage.ru_utime + usage.ru_stime, child.returncode


def first_model(charter: list[str], env: dict[str, str]) -> str:
    listed = subprocess.run([*charter, "ls", "--limit", "1"], capture_output=True, text=True,
                            env=env, check=True).stdout
    return listed.split(" ", 1)[0].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--home", type=Path, help="an embedded registry's folder (a copy)")
    where.add_argument("--registry", help="a server's URL, http://…")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the tree to run")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--only", action="append", choices=sorted(COMMANDS))
    parser.add_argument("--floor", action="store_true",
                        help="also time the interpreter alone and with Typer and Rich")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CHARTER_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(args.src)
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="charter-pyc-")
    if args.home is not None:
        env["CHARTER_HOME"] = str(args.home)
    else:
        env["CHARTER_REGISTRY_URL"] = args.registry
    charter = [sys.executable, "-c", "from charter.cli.main import main; main()"]
    model = first_model(charter, env)

    print(f"tree {args.src}; target {args.home or args.registry}; {args.runs} runs after a "
          f"warm-up; load average {os.getloadavg()[0]:.2f}")
    print(f"{'command':<14} {'first line':>11} {'total':>9} {'CPU':>9}  exit")
    cases = {name: [*charter, *(part.format(model=model) for part in COMMANDS[name])]
             for name in args.only or COMMANDS}
    if args.floor:
        cases |= {f"({name})": [sys.executable, "-c", code] for name, code in FLOOR.items()}
    for name, argv in cases.items():
        runs = [run_once(argv, env) for _ in range(args.runs + 1)][1:]
        first, total, cpu = (statistics.median(run[i] for run in runs) for i in range(3))
        print(f"{name:<14} {first * 1000:>8.0f} ms {total * 1000:>6.0f} ms "
              f"{cpu * 1000:>6.0f} ms  {sorted({r[3] for r in runs})}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
