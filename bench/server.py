"""Charter's server against MLflow's own server, side by side, on one MLflow-REST workload.

    .venv/bin/python bench/server.py [--models 500 --versions 20 --seconds 10
                                      --concurrency 1,16 --workers 2 --only charter]

Starts ``mlflow server`` (SQLite backend, its default options: uvicorn, 4 workers)
and ``charter serve --workers N`` (fresh CHARTER_HOME, SQLite) on free loopback
ports, fills both with the same models through the same MLflow REST calls, then
for every operation and concurrency level runs a time-bounded closed loop of
keep-alive clients against each server in turn (bench/loadgen.py), the other
server paused meanwhile, and prints markdown tables: req/s, p50/p99 latency and
errors; the servers' CPU per request; the process trees' memory; and a keep-alive
latency check (rounds of 50 sequential requests on one connection: the ~44 ms
Nagle/delayed-ACK stall shows up there), also run on a throwaway MLflow on
asyncio's loop, as ``pip install mlflow`` runs it. Both servers run in their own
process groups and are killed at the end, even on error. See bench/README.md for
what each operation sends, the caveats, and the latest results.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen  # noqa: E402
from loadgen import Load, Result, get, post  # noqa: E402

API = "/api/2.0/mlflow"
VENV_BIN = Path(sys.executable).parent
ALIAS = "champion"

DOMAINS = ("fraud churn credit pricing demand search ads payments retail support shipping "
           "inventory loyalty billing claims lending marketing checkout catalog reviews returns "
           "warehouse travel grocery insurance energy telecom media hiring logistics").split()
TASKS = ("scorer ranker classifier forecaster detector recommender estimator tagger router "
         "segmenter matcher predictor filter allocator planner summarizer extractor scheduler "
         "optimizer resolver").split()
REGIONS = "emea apac latam nordics iberia benelux alpine baltic andean pacific".split()

READS = ("production", "alias", "version_get", "download_uri", "search_name", "search_like")
WRITES = ("create_version", "transition")

TARGETS = {"read16_ratio": 10.0, "read16_p99": 25.0, "write16_ratio": 5.0, "write16_p99": 100.0,
           "read1_p50": 2.0, "pss_mb": 250.0}


# --- the two servers --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    label: str
    port: int
    process: subprocess.Popen  # type: ignore[type-arg]
    log: Path
    health: str
    ready_by: float
    launched: float
    populated_models: int = 0
    populated_versions: int = 0
    population_seconds: float = 0.0
    population_errors: int = 0
    fresh: list[tuple[str, str]] = field(default_factory=list)  # versions still in None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextmanager
def started(label: str, command: list[str], env: dict[str, str], cwd: Path,
            health: str, timeout: float) -> Iterator[Server]:
    """Run a server in its own process group; kill the whole group on the way out."""
    port = free_port()
    log = cwd / f"{label.lower()}.log"
    # The server runs in ``cwd``: a relative PYTHONPATH (``PYTHONPATH=src``, as the commands
    # here are written) would name nothing there, and the installed tree would be measured.
    if env.get("PYTHONPATH"):
        env = {**env, "PYTHONPATH": os.pathsep.join(
            os.path.abspath(entry) for entry in env["PYTHONPATH"].split(os.pathsep) if entry)}
    with open(log, "w") as out:
        process = subprocess.Popen([*command, "--port", str(port)], env=env, cwd=cwd,
                                   stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    now = time.monotonic()
    server = Server(label, port, process, log, health, now + timeout, now)
    try:
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:  # type: ignore[type-arg]
    """SIGTERM the process group, SIGKILL what is left after 15 s; reap the leader."""
    try:
        os.killpg(process.pid, signal.SIGCONT)  # in case it was paused
    except ProcessLookupError:
        pass
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            process.poll()  # a zombie leader would keep the group "alive"
            if not _group_alive(process.pid):
                break
            time.sleep(0.1)
        if not _group_alive(process.pid):
            break
    try:
        process.wait(timeout=1)
    except subprocess.TimeoutExpired:
        pass


@contextmanager
def alone(servers: dict[str, Server], label: str, enabled: bool) -> Iterator[None]:
    """Pause (SIGSTOP) every other server's process group while ``label`` is measured, so
    neither server's background work (MLflow's job runner and huey consumers poll even
    when idle) takes CPU from the other's phase on a 2-core machine."""
    others = [s for name, s in servers.items() if name != label] if enabled else []
    for other in others:
        os.killpg(other.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for other in others:
            try:
                os.killpg(other.process.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def settle(server: Server, limit: float = 30.0, idle_cores: float = 0.25) -> None:
    """Wait (at most ``limit`` s) until the server's tree uses < ``idle_cores`` of CPU."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = tree_cpu(server.process.pid)
        time.sleep(1)
        if tree_cpu(server.process.pid) - before < idle_cores:
            return


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def wait_healthy(servers: list[Server]) -> dict[str, float]:
    """Seconds from launch until each server's health endpoint answered 200 (polled
    together, so a slow starter does not inflate the other's figure)."""
    found: dict[str, float] = {}
    while len(found) < len(servers):
        for server in servers:
            if server.label in found:
                continue
            if server.process.poll() is not None:  # died during startup
                raise RuntimeError(f"{server.label} exited:\n"
                                   f"{server.log.read_text()[-3000:]}")
            if time.monotonic() > server.ready_by:
                raise RuntimeError(f"{server.label} not healthy in time:\n"
                                   f"{server.log.read_text()[-3000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
                conn.request("GET", server.health)
                if conn.getresponse().status == 200:
                    found[server.label] = time.monotonic() - server.launched
            except OSError:
                pass
        time.sleep(0.2)
    return found


def mlflow_command(folder: Path, *extra: str, store: str | None = None) -> list[str]:
    """``mlflow server`` on ``store`` (default: SQLite in ``folder``), otherwise with its
    default options."""
    folder.mkdir(parents=True, exist_ok=True)
    return [str(VENV_BIN / "mlflow"), "server", "--backend-store-uri",
            store or f"sqlite:///{folder}/mlflow.db", "--default-artifact-root",
            str(folder / "artifacts"), "--host", "127.0.0.1", *extra]


# --- PostgreSQL: one fresh database per server ------------------------------------------------


def _with_database(url: str, name: str) -> str:
    """``url`` (``postgresql://user@host:port[/db]``) naming database ``name`` instead."""
    scheme, rest = url.split("://", 1)
    authority = rest.split("/", 1)[0]
    return f"{scheme}://{authority}/{name}"


@contextmanager
def postgres_databases(url: str, prefix: str) -> Iterator[dict[str, str]]:
    """Create ``{prefix}_charter`` and ``{prefix}_mlflow`` on the server ``url`` points at
    (dropped again on the way out); yields each server's URL: Charter's as users write it,
    MLflow's with the psycopg2 driver SQLAlchemy needs for it."""
    import psycopg

    names = {"Charter": f"{prefix}_charter", "MLflow": f"{prefix}_mlflow"}
    admin = _with_database(url, "postgres")

    def drop_all() -> None:
        with psycopg.connect(admin, autocommit=True) as connection:
            for name in names.values():
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    drop_all()
    with psycopg.connect(admin, autocommit=True) as connection:
        for name in names.values():
            connection.execute(f'CREATE DATABASE "{name}"')
    try:
        charter = _with_database(url, names["Charter"])
        mlflow = _with_database(url, names["MLflow"]).replace(
            "postgresql://", "postgresql+psycopg2://", 1)
        yield {"Charter": charter, "MLflow": mlflow}
    finally:
        drop_all()


# --- process trees: CPU and memory ------------------------------------------------------------

CLOCK = os.sysconf("SC_CLK_TCK")


def tree(root: int) -> list[int]:
    """``root`` and all its descendants, from /proc/*/stat parent ids."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, []))
    return found


def process_cpu(pid: int) -> float:
    """User+system CPU seconds a live process has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK  # utime, stime


def tree_cpu(root: int) -> float:
    """User+system CPU seconds of every live process in the tree."""
    return sum(process_cpu(pid) for pid in tree(root))


def tree_memory(root: int) -> dict[str, Any]:
    """RSS and PSS of every process in the tree, in MB. RSS summed double-counts the pages
    forked workers share; PSS divides each shared page among its sharers."""
    processes = []
    for pid in tree(root):
        try:
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        rss = next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
        pss = next((int(line.split()[1]) for line in rollup if line.startswith("Pss:")), 0)
        processes.append({"pid": pid, "rss_mb": rss / 1024, "pss_mb": pss / 1024,
                          "command": command.strip()[:140]})
    return {"rss_mb": sum(p["rss_mb"] for p in processes),
            "pss_mb": sum(p["pss_mb"] for p in processes), "processes": processes}


# --- the data set -----------------------------------------------------------------------------


def model_names(count: int) -> list[str]:
    """Product-style names that pass Charter's naming policy (checked here, in process)."""
    from charter.person_names import default_policy

    policy = default_policy()
    names = [f"{d}_{t}" for d in DOMAINS for t in TASKS]
    names += [f"{d}_{r}_{t}" for r in REGIONS for d in DOMAINS for t in TASKS]
    chosen = []
    for name in names:
        if len(chosen) == count:
            break
        if not policy.lint(name):
            chosen.append(name)
    if len(chosen) < count:
        raise SystemExit(f"only {len(chosen)} names pass the naming policy; ask for fewer")
    random.Random(7).shuffle(chosen)
    return chosen


def run_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def create_version_request(host: str, name: str, rng: random.Random) -> bytes:
    rid = run_id(rng)
    return post(host, f"{API}/model-versions/create",
                {"name": name, "source": f"runs:/{rid}/model", "run_id": rid})


def transition_request(host: str, name: str, version: str, stage: str) -> bytes:
    return post(host, f"{API}/model-versions/transition-stage",
                {"name": name, "version": version, "stage": stage,
                 "archive_existing_versions": False})


def production_version(versions: int) -> int:
    return max(1, versions - 2)


def population_chains(host: str, names: list[str], versions: int) -> list[list[bytes]]:
    """Per model, in order: create it, its versions, None→Staging→Production, the alias."""
    rng = random.Random(11)
    live = str(production_version(versions))
    chains = []
    for name in names:
        chain = [post(host, f"{API}/registered-models/create", {"name": name})]
        chain += [create_version_request(host, name, rng) for _ in range(versions)]
        chain += [transition_request(host, name, live, "Staging"),
                  transition_request(host, name, live, "Production"),
                  post(host, f"{API}/registered-models/alias",
                       {"name": name, "alias": ALIAS, "version": live})]
        chains.append(chain)
    return chains


def populate(server: Server, names: list[str], versions: int, concurrency: int,
             seconds: float, processes: int) -> list[str]:
    """Fill the server; the names whose whole chain succeeded (the rest are left out)."""
    chains = population_chains(server.host, names, versions)
    begun = time.monotonic()
    result = loadgen.run(Load("127.0.0.1", server.port, concurrency, seconds, chains=chains,
                              processes=processes, request_timeout=60))
    server.population_seconds = time.monotonic() - begun
    server.population_errors = result.errors
    complete = sorted(result.chains_ok)
    server.populated_models = len(complete)
    server.populated_versions = versions * len(complete)
    if result.samples:
        print(f"  {server.label} population errors ({result.errors}): {result.samples[:3]}",
              file=sys.stderr)
    return [names[i] for i in complete]


# --- the workload -----------------------------------------------------------------------------


def read_requests(op: str, host: str, names: list[str], versions: int) -> list[bytes]:
    """Every distinct request of a read op over the data set (the generator picks at random)."""
    if op == "production":
        return [post(host, f"{API}/registered-models/get-latest-versions",
                     {"name": n, "stages": ["Production"]}) for n in names]
    if op == "alias":
        return [get(host, f"{API}/registered-models/alias", {"name": n, "alias": ALIAS})
                for n in names]
    if op in ("version_get", "download_uri"):
        path = "get" if op == "version_get" else "get-download-uri"
        return [get(host, f"{API}/model-versions/{path}", {"name": n, "version": str(v)})
                for n in names for v in range(1, versions + 1)]
    if op == "search_name":
        return [get(host, f"{API}/model-versions/search", {"filter": f"name='{n}'"})
                for n in names]
    if op == "search_like":
        prefixes = sorted({n.split("_")[0] for n in names})
        return [get(host, f"{API}/registered-models/search",
                    {"filter": f"name LIKE '{p}%'", "max_results": "100"})
                for p in prefixes]
    raise ValueError(op)


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK


@dataclass
class Measure:
    result: Result
    server_cpu: float
    other_cpu: float = 0.0  # everything else on the machine: other users, not us
    note: str = ""


def measure(server: Server, load: Load) -> Measure:
    cpu_before, busy_before = tree_cpu(server.process.pid), machine_busy()
    result = loadgen.run(load)
    server_cpu = tree_cpu(server.process.pid) - cpu_before
    other = machine_busy() - busy_before - server_cpu - result.client_cpu
    if result.samples:
        print(f"  {server.label} errors ({result.errors}): {result.samples[:2]}",
              file=sys.stderr)
    return Measure(result, server_cpu, max(0.0, other))


def run_read(server: Server, op: str, names: list[str], versions: int, concurrency: int,
             args: argparse.Namespace) -> Measure:
    requests = read_requests(op, server.host, names, versions)
    processes = client_processes(args, concurrency)
    if args.warmup > 0:
        loadgen.run(Load("127.0.0.1", server.port, concurrency, args.warmup, requests=requests,
                         processes=processes, max_requests=args.max_requests, seed=99))
    return measure(server, Load("127.0.0.1", server.port, concurrency, args.seconds,
                                requests=requests, processes=processes,
                                max_requests=args.max_requests, seed=concurrency))


def run_create(server: Server, names: list[str], concurrency: int, args: argparse.Namespace,
               *, seconds: float | None = None, count: int | None = None) -> Measure:
    """Create versions on random models; every version created joins the fresh pool."""
    rng = random.Random(f"{server.label}/{concurrency}/{len(server.fresh)}")
    count = count or args.max_requests
    chains = [[create_version_request(server.host, rng.choice(names), rng)]
              for _ in range(min(count, args.max_write_requests))]
    found = measure(server, Load("127.0.0.1", server.port, concurrency,
                                 seconds or args.seconds, chains=chains,
                                 processes=client_processes(args, concurrency),
                                 keep_bodies=True))
    for _, _, body in found.result.bodies:
        version = json.loads(body)["model_version"]
        server.fresh.append((version["name"], version["version"]))
    return found


def run_transition(server: Server, concurrency: int, create_rate: float,
                   names: list[str], args: argparse.Namespace) -> Measure:
    """None→Staging on fresh versions, each once; the pool is topped up first if short."""
    needed = int(create_rate * 1.5 * args.seconds) + 4 * concurrency
    needed = min(needed, args.max_write_requests)
    if len(server.fresh) < needed:
        run_create(server, names, max(concurrency, 8), args, seconds=2 * args.seconds,
                   count=needed - len(server.fresh))
    random.Random(5).shuffle(server.fresh)
    pool, server.fresh = server.fresh, []
    chains = [[transition_request(server.host, n, v, "Staging")] for n, v in pool]
    found = measure(server, Load("127.0.0.1", server.port, concurrency, args.seconds,
                                 chains=chains, processes=client_processes(args, concurrency)))
    taken = set(found.result.chains_taken)
    server.fresh = [v for i, v in enumerate(pool) if i not in taken]
    if len(taken) >= len(pool) and found.result.elapsed < 0.9 * args.seconds:
        found.note = (f"pool of {len(pool)} fresh versions used up after "
                      f"{found.result.elapsed:.1f} s")
    return found


def client_processes(args: argparse.Namespace, concurrency: int) -> int:
    return 1 if concurrency == 1 else min(args.client_procs, concurrency)


# --- keep-alive latency -----------------------------------------------------------------------


def keepalive_check(server: Server, name: str, count: int = 50,
                    rounds: int = 3) -> dict[str, Any]:
    """``rounds`` × ``count`` sequential GETs, each round on one keep-alive connection
    (http.client with TCP_NODELAY on the client side, as urllib3 sets it). A server that
    writes an answer's headers and body as two segments without TCP_NODELAY stalls on
    the client's delayed ACK (~40 ms) on every request after the first. Several rounds,
    because one round of 50 on a busy shared machine is at the mercy of the scheduler."""
    path = f"{API}/model-versions/get?name={name}&version=1"
    deadline = time.monotonic() + 60
    runs: list[list[float]] = []
    statuses: set[int] = set()
    for _ in range(rounds):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        timings = []
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            begun = time.perf_counter()
            conn.request("GET", path, headers={"Accept": "application/json"})
            response = conn.getresponse()
            response.read()
            timings.append((time.perf_counter() - begun) * 1000)
            statuses.add(response.status)
        conn.close()
        if len(timings) > 1:
            runs.append(timings)
    rest = sorted(t for run in runs for t in run[1:])
    return {"first": statistics.median(run[0] for run in runs),
            "medians": [statistics.median(run[1:]) for run in runs],
            "median": statistics.median(rest), "p90": rest[int(0.9 * (len(rest) - 1))],
            "max": rest[-1], "count": sum(len(run) for run in runs),
            "ok": statuses == {200}}


def call(port: int, request: bytes) -> tuple[int, Any]:
    """Send one pre-built request on a fresh connection; (status, parsed JSON body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request.replace(b"HTTP/1.1\r\n", b"HTTP/1.1\r\nConnection: close\r\n",
                                     1))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        body = loadgen._dechunk(bytearray(body), 0) or b""
    return int(head[9:12]), json.loads(body or b"{}")


def items(answer: Any) -> str:
    for key in ("model_versions", "registered_models"):
        if isinstance(answer, dict) and key in answer:
            return str(len(answer[key]))
    return "1"


def shape_check(servers: dict[str, Server], names: list[str], versions: int,
                ops: list[str]) -> dict[str, dict[str, str]]:
    """Items in one sample answer per read op on every server: both must do the same work."""
    found: dict[str, dict[str, str]] = {}
    for op in [o for o in READS if o in ops]:
        found[op] = {}
        for label, server in servers.items():
            status, answer = call(server.port, read_requests(op, server.host, names,
                                                              versions)[0])
            found[op][label] = f"{items(answer)}" if status == 200 else f"HTTP {status}"
    return found


def plain_mlflow_keepalive(work: Path) -> dict[str, float]:
    """MLflow as ``pip install mlflow`` runs it: uvicorn without uvloop (MLflow depends on
    plain ``uvicorn``; this virtualenv has uvloop only because Charter needs it). With
    asyncio's loop and --workers, accepted sockets lack TCP_NODELAY."""
    folder = work / "mlflow-asyncio"
    command = mlflow_command(folder, "--uvicorn-opts", "--loop asyncio")
    with started("MLflow-asyncio", command, dict(os.environ), folder, "/health", 180) as server:
        wait_healthy([server])
        settle(server)
        for request in population_chains(server.host, ["fraud_scorer"], 1)[0][:2]:
            status, answer = call(server.port, request)
            if status != 200:
                raise RuntimeError(f"plain MLflow refused the setup: {answer}")
        return keepalive_check(server, "fraud_scorer")


# --- report -----------------------------------------------------------------------------------


def fmt_rate(m: Measure | None) -> str:
    return "—" if m is None else f"{m.result.rate:,.0f}"


def fmt_lat(m: Measure | None) -> str:
    if m is None or not m.result.count:
        return "—"
    return f"{m.result.percentile(50):.1f} / {m.result.percentile(99):.1f}"


def verdict(op: str, concurrency: int, ml: Measure | None, ch: Measure | None) -> str:
    if ch is None:
        return "—"
    r = ch.result
    checks = []
    ratio = r.rate / ml.result.rate if ml and ml.result.rate else None
    if op in READS and concurrency >= 16:
        if ratio is not None:
            checks.append(ratio >= TARGETS["read16_ratio"])
        checks.append(r.percentile(99) <= TARGETS["read16_p99"])
    elif op in WRITES and concurrency >= 16:
        if ratio is not None:
            checks.append(ratio >= TARGETS["write16_ratio"])
        checks.append(r.percentile(99) <= TARGETS["write16_p99"])
    elif op in READS and concurrency == 1:
        checks.append(r.percentile(50) <= TARGETS["read1_p50"])
    if r.errors:
        checks.append(False)
    if not checks:
        return ""
    return "meets" if all(checks) else "**misses**"


def report(args: argparse.Namespace, servers: dict[str, Server],
           results: dict[tuple[str, int, str], Measure], memory: dict[str, tuple],
           keepalive: dict[str, dict[str, float]], startup: dict[str, float],
           idle_cpu: dict[str, float], names: list[str], started_at: datetime,
           wall: float, shapes: dict[str, dict[str, str]], loads: list[float]) -> str:
    lines = []
    add = lines.append
    add(f"Run {started_at:%Y-%m-%d %H:%M} UTC, {wall / 60:.1f} min: "
        f"`{' '.join([Path(sys.executable).name, *sys.argv])}`  ")
    add(f"Load average (1 min) before / after: {loads[0]:.1f} / {loads[-1]:.1f}; "
        f"Charter at {_revision()}  ")
    add(f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.platform()}  ")
    mlflow_version = _mlflow_version()
    store = "PostgreSQL" if args.database else "SQLite"
    add(f"Servers: MLflow {mlflow_version} `mlflow server` ({store}, default options) vs "
        f"Charter `charter serve --workers {args.workers}` ({store}). "
        f"Startup to healthy: " + ", ".join(f"{k} {v:.1f} s" for k, v in startup.items())
        + ". " + ("The other server is paused (SIGSTOP) while one is measured."
                  if args.pause_other else "Both servers run during every phase."))
    add("")
    add("Population (same MLflow REST calls on both; a model counts when its whole chain "
        "succeeded):")
    add("")
    for label, server in servers.items():
        add(f"- {label}: {server.populated_models} models × {args.versions} versions "
            f"({server.populated_versions} versions + 3 writes per model) in "
            f"{server.population_seconds:.0f} s, {server.population_errors} errors")
    add(f"- Workload runs on the {len(names)} models complete on every server.")
    if shapes:
        add("- Items in a sample answer (must match): " + "; ".join(
            f"{op} " + " / ".join(f"{label} {n}" for label, n in by.items())
            for op, by in shapes.items()))
    add("")
    add("| op | conc | MLflow req/s | Charter req/s | ratio | MLflow p50 / p99 ms | "
        "Charter p50 / p99 ms | errors M / C | target |")
    add("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for concurrency in args.concurrency:
        for op in (*READS, *WRITES):
            ml = results.get(("MLflow", concurrency, op))
            ch = results.get(("Charter", concurrency, op))
            if ml is None and ch is None:
                continue
            ratio = (f"{ch.result.rate / ml.result.rate:.1f}×"
                     if ml and ch and ml.result.rate else "—")
            errors = f"{ml.result.errors if ml else '—'} / {ch.result.errors if ch else '—'}"
            add(f"| {op} | {concurrency} | {fmt_rate(ml)} | {fmt_rate(ch)} | {ratio} | "
                f"{fmt_lat(ml)} | {fmt_lat(ch)} | {errors} | "
                f"{verdict(op, concurrency, ml, ch)} |")
    notes = [f"{label} {op} c={c}: {m.note}" for (label, c, op), m in results.items() if m.note]
    if notes:
        add("")
        add("Notes: " + "; ".join(notes))
    add("")
    add("CPU per request (ms): server process tree, and the load generator itself. "
        "'CPU ratio' is MLflow's server CPU per request over Charter's: the throughput "
        "ratio to expect when both are CPU-bound on an otherwise idle machine. 'Other "
        "load' is CPU used by everything else on the machine during the phase (other "
        "users' processes: noise).")
    add("")
    add("| op | conc | MLflow server | Charter server | CPU ratio | client (M / C) | "
        "Charter server cores busy | other load, cores (M / C) |")
    add("|---|---:|---:|---:|---:|---:|---:|---:|")
    for concurrency in args.concurrency:
        for op in (*READS, *WRITES):
            ml = results.get(("MLflow", concurrency, op))
            ch = results.get(("Charter", concurrency, op))
            if ml is None and ch is None:
                continue

            def per(m: Measure | None, attr: str) -> str:
                if m is None or not m.result.count:
                    return "—"
                value = m.server_cpu if attr == "server" else m.result.client_cpu
                return f"{value / m.result.count * 1000:.2f}"

            busy = (f"{ch.server_cpu / ch.result.elapsed:.2f}"
                    if ch and ch.result.elapsed else "—")
            def other(m: Measure | None) -> str:
                return f"{m.other_cpu / m.result.elapsed:.2f}" if m and m.result.elapsed else "—"

            cpu_ratio = "—"
            if ml and ch and ml.result.count and ch.result.count and ch.server_cpu > 0:
                ratio_value = (ml.server_cpu / ml.result.count) / (ch.server_cpu / ch.result.count)
                cpu_ratio = f"{ratio_value:.1f}×"
            add(f"| {op} | {concurrency} | {per(ml, 'server')} | {per(ch, 'server')} | "
                f"{cpu_ratio} | {per(ml, 'client')} / {per(ch, 'client')} | {busy} | "
                f"{other(ml)} / {other(ch)} |")
    add("")
    add("Memory at the end (whole server process tree; RSS double-counts pages shared "
        "between forked workers, PSS splits them):")
    add("")
    add("| server | processes | RSS sum MB | PSS sum MB | idle CPU (cores) | target |")
    add("|---|---:|---:|---:|---:|---|")
    for label, mem in memory.items():
        # PSS: the workers share the supervisor's preloaded modules copy-on-write, so RSS
        # counts those pages once per process (bench/README.md, "workers.py")
        target = ("meets" if mem["pss_mb"] <= TARGETS["pss_mb"] else "**misses**") \
            if label == "Charter" else ""
        add(f"| {label} | {len(mem['processes'])} | {mem['rss_mb']:,.0f} | "
            f"{mem['pss_mb']:,.0f} | {idle_cpu.get(label, float('nan')):.2f} | {target} |")
    add("")
    add("Per process (RSS / PSS MB):")
    add("")
    for label, mem in memory.items():
        for proc in mem["processes"]:
            add(f"- {label} {proc['pid']}: {proc['rss_mb']:.0f} / {proc['pss_mb']:.0f} — "
                f"`{proc['command'][:100]}`")
    add("")
    add("Keep-alive latency: 3 rounds of 50 sequential GET model-versions/get, each round "
        "on one keep-alive connection (ms; 'first' is a round's first request, the rest "
        "reuse the connection; a delayed-ACK stall puts the rest at ≥ 40 ms):")
    add("")
    add("| server | first | median of the rest, per round | median | p90 | max | "
        "stall | all 200 |")
    add("|---|---:|---:|---:|---:|---:|---|---|")
    for label, k in keepalive.items():
        rounds = " / ".join(f"{m:.1f}" for m in k["medians"])
        stall = "**yes**" if k["median"] >= 35 else "no"
        add(f"| {label} | {k['first']:.1f} | {rounds} | {k['median']:.1f} | "
            f"{k['p90']:.1f} | {k['max']:.1f} | {stall} | {'yes' if k['ok'] else 'NO'} |")
    return "\n".join(lines)


def _revision() -> str:
    """The commit the Charter under test was run from (and whether the tree had changes)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, text=True, capture_output=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "an unknown revision"
    return f"{head or '?'}{' with uncommitted changes' if dirty else ''}"


def _mlflow_version() -> str:
    try:
        from importlib.metadata import version

        return version("mlflow")
    except Exception:  # noqa: BLE001
        return "?"


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="measured duration of each (op, concurrency, server) phase")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="unmeasured seconds before each read phase")
    parser.add_argument("--concurrency", default="1,16",
                        help="comma-separated keep-alive connection counts")
    parser.add_argument("--workers", type=int, default=2, help="charter serve --workers")
    parser.add_argument("--only", choices=("both", "charter", "mlflow"), default="both")
    parser.add_argument("--ops", default=",".join((*READS, *WRITES)),
                        help="comma-separated subset of the operations")
    parser.add_argument("--client-procs", type=int, default=2,
                        help="load generator processes when concurrency > 1")
    parser.add_argument("--populate-concurrency", type=int, default=8)
    parser.add_argument("--populate-seconds", type=float, default=420.0,
                        help="time cap per server for population; the sizes reached are "
                             "reported")
    parser.add_argument("--max-requests", type=int, default=500_000,
                        help="request cap per read phase")
    parser.add_argument("--max-write-requests", type=int, default=20_000,
                        help="request cap per write phase")
    parser.add_argument("--out", type=Path, default=None,
                        help="also write the markdown report (and a .json) here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--database", default=None, metavar="URL",
                        help="run both servers on this PostgreSQL server "
                             "(postgresql://user@host:port), each in a fresh database")
    parser.add_argument("--db-prefix", default=f"charter_bench_{os.getpid()}",
                        help="names of those databases: PREFIX_charter, PREFIX_mlflow "
                             "(created, and dropped at the end)")
    parser.add_argument("--no-pause", dest="pause_other", action="store_false",
                        help="do not SIGSTOP the other server while one is measured")
    parser.add_argument("--no-plain-mlflow-check", dest="plain_mlflow_check",
                        action="store_false",
                        help="skip the keep-alive check on MLflow without uvloop")
    args = parser.parse_args(argv)
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    args.ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    unknown = set(args.ops) - set(READS) - set(WRITES)
    if unknown:
        parser.error(f"unknown ops: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like an error, so the servers' process groups are still killed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started_at = datetime.now(UTC)
    begun = time.monotonic()
    loads = [os.getloadavg()[0]]
    work = Path(tempfile.mkdtemp(prefix="charter-bench-"))
    print(f"working directory {work}", file=sys.stderr)
    labels = {"both": ["MLflow", "Charter"], "charter": ["Charter"],
              "mlflow": ["MLflow"]}[args.only]
    with ExitStack() as stack:
        if not args.keep:
            stack.callback(shutil.rmtree, work, ignore_errors=True)
        servers: dict[str, Server] = {}
        stores: dict[str, str] = {}
        if args.database:
            stores = stack.enter_context(postgres_databases(args.database, args.db_prefix))
        if "MLflow" in labels:
            servers["MLflow"] = stack.enter_context(
                started("MLflow", mlflow_command(work / "mlflow", store=stores.get("MLflow")),
                        dict(os.environ), work / "mlflow", "/health", 180))
        if "Charter" in labels:
            (work / "charter").mkdir()
            # Charter's defaults on a fresh home: no CHARTER_* setting leaks in from outside.
            env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTER_")}
            env["CHARTER_HOME"] = str(work / "charter" / "home")
            if "Charter" in stores:
                env["CHARTER_DATABASE_URL"] = stores["Charter"]
            command = [str(VENV_BIN / "charter"), "serve", "--host", "127.0.0.1",
                       "--workers", str(args.workers), "--log-level", "warning"]
            servers["Charter"] = stack.enter_context(
                started("Charter", command, env, work / "charter", "/healthz", 120))
        stack.callback(lambda: print("servers stopped", file=sys.stderr))
        startup = wait_healthy(list(servers.values()))
        print(f"healthy: {startup}", file=sys.stderr)

        names = model_names(args.models)
        complete = set(names)
        for label, server in servers.items():
            print(f"populating {label}: {len(names)} models × {args.versions} versions",
                  file=sys.stderr)
            done = populate(server, names, args.versions, args.populate_concurrency,
                            args.populate_seconds, args.client_procs)
            complete &= set(done)
            print(f"  {label}: {len(done)} complete in {server.population_seconds:.0f} s",
                  file=sys.stderr)
        workload_names = [n for n in names if n in complete]
        if not workload_names:
            raise SystemExit("no model was populated completely on every server")
        shapes = shape_check(servers, workload_names, args.versions, args.ops)
        print(f"answer sizes: {shapes}", file=sys.stderr)

        idle_cpu = {}
        for label, server in servers.items():
            before = tree_cpu(server.process.pid)
            time.sleep(5)
            idle_cpu[label] = (tree_cpu(server.process.pid) - before) / 5

        results: dict[tuple[str, int, str], Measure] = {}
        for concurrency in args.concurrency:
            for op in [o for o in READS if o in args.ops]:
                for label, server in servers.items():
                    with alone(servers, label, args.pause_other):
                        m = run_read(server, op, workload_names, args.versions, concurrency,
                                     args)
                    results[(label, concurrency, op)] = m
                    print(f"{op:15} c={concurrency:<3} {label:8} {m.result.rate:9,.0f} req/s  "
                          f"p50 {m.result.percentile(50):7.2f}  p99 "
                          f"{m.result.percentile(99):7.2f} ms  errors {m.result.errors}",
                          file=sys.stderr)
            for op in [o for o in WRITES if o in args.ops]:
                for label, server in servers.items():
                    create = results.get((label, concurrency, "create_version"))
                    with alone(servers, label, args.pause_other):
                        if op == "create_version":
                            m = run_create(server, workload_names, concurrency, args)
                        else:
                            rate = create.result.rate if create else 50.0
                            m = run_transition(server, concurrency, rate, workload_names, args)
                    results[(label, concurrency, op)] = m
                    print(f"{op:15} c={concurrency:<3} {label:8} {m.result.rate:9,.0f} req/s  "
                          f"p50 {m.result.percentile(50):7.2f}  p99 "
                          f"{m.result.percentile(99):7.2f} ms  errors {m.result.errors} "
                          f"{m.note}", file=sys.stderr)

        memory = {label: tree_memory(s.process.pid) for label, s in servers.items()}
        keepalive = {}
        for label, server in servers.items():
            with alone(servers, label, args.pause_other):
                keepalive[label] = keepalive_check(server, workload_names[0])
        if "MLflow" in servers and args.plain_mlflow_check:
            print("keep-alive check on MLflow without uvloop", file=sys.stderr)
            keepalive["MLflow, asyncio loop (as `pip install mlflow`)"] = \
                plain_mlflow_keepalive(work)
        loads.append(os.getloadavg()[0])
        text = report(args, servers, results, memory, keepalive, startup, idle_cpu,
                      workload_names, started_at, time.monotonic() - begun, shapes, loads)
        print(text)
        if args.out:
            args.out.write_text(text + "\n")
            raw = {f"{label}|{c}|{op}": {
                "rate": m.result.rate, "count": m.result.count, "errors": m.result.errors,
                "elapsed": m.result.elapsed, "p50_ms": m.result.percentile(50),
                "p99_ms": m.result.percentile(99), "server_cpu_s": m.server_cpu,
                "client_cpu_s": m.result.client_cpu, "note": m.note}
                for (label, c, op), m in results.items()}
            raw["memory"] = memory  # type: ignore[assignment]
            raw["keepalive"] = keepalive  # type: ignore[assignment]
            args.out.with_suffix(".json").write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
