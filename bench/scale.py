"""Charter at a real company's size, side by side with MLflow's own server (issue 15).

Two steps, each its own command, so a populated registry is built once and reused:

    python bench/scale.py populate --models 2000 --versions 50          # 100k versions
    python bench/scale.py measure  --models 2000 --versions 50          # the read table
    python bench/scale.py compare  --small 50x20 --models 2000 --versions 50
    python bench/scale.py populate --million                             # 10,000 × 100

``populate`` fills ``<data>/m<M>-v<V>/`` (``--data``, default /tmp/charter-scale):

* ``charter/home``: a ``charter serve`` home (SQLite), filled through the public MLflow
  REST API by wrk at ``--connections`` keep-alive connections (populate_wrk.py), in three
  phases: every ``registered-models/create`` (tag ``team``), every ``model-versions/create``
  (source ``runs:/<id>/model``, tag ``commit``; a model's versions in order on one
  connection), then version N-2 to Staging and Production, alias ``champion``. The rate
  is measured and written to the manifest, after every row was checked in the database.
* ``mlflow/mlflow.db``: MLflow's own schema (made by MLflow's SqlAlchemyStore), filled
  with the same rows by SQL: the **bulk path**, because populating MLflow through its
  REST API runs at ~100 versions/s (bench/README.md).
* ``manifest.json``: sizes, names, tags and the population figures.

``measure`` copies ``charter/home`` to a scratch folder (the server may migrate its copy;
the populated one stays reusable by any branch), starts both servers, and runs every read
case — then two write cases, which change the copies: a version created on each model in
turn, and the population's versions moved None -> Staging, each once — with wrk
(``/usr/bin/wrk``, a C load generator: a Python client tops out near Charter's own speed
on 2 cores) at 16 connections for ``--seconds`` each. *Cold* appends a unique ``_u=``
query parameter to every read, so no answer cache can serve it; *warm* cycles over one
request per model. It also times the UI pages, ``charter ls`` and
``charter audit verify``, and prints a markdown table with the load average.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

import populate_wrk  # noqa: E402
from pgcopy import copy_sqlite_to_postgres  # noqa: E402
from server import (  # noqa: E402
    API,
    DOMAINS,
    REGIONS,
    TASKS,
    VENV_BIN,
    Server,
    mlflow_command,
    postgres_databases,
    started,
    tree_cpu,
    tree_memory,
    wait_healthy,
)

DATA = Path("/tmp/charter-scale")
ALIAS = "champion"
QUALIFIERS = REGIONS + ("north south east west central coastal urban rural mobile web "
                        "partner wholesale").split()


# --- the data set -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    models: int
    versions: int

    @property
    def key(self) -> str:
        return f"m{self.models}-v{self.versions}"

    @property
    def total(self) -> int:
        return self.models * self.versions

    @property
    def live(self) -> int:
        """The version each model has in Production (and under the alias)."""
        return max(1, self.versions - 2)

    def team(self, index: int) -> str:
        """20 models per team at every size, so a tag search's answer does not grow."""
        return f"t{index % max(1, self.models // 20)}"


def model_names(count: int) -> list[str]:
    """Product-style names that pass Charter's naming policy (checked in process)."""
    from charter.person_names import default_policy

    policy = default_policy()
    candidates = [f"{d}_{t}" for d in DOMAINS for t in TASKS]
    candidates += [f"{d}_{q}_{t}" for q in QUALIFIERS for d in DOMAINS for t in TASKS]
    chosen: list[str] = []
    for name in candidates:
        if len(chosen) == count:
            break
        if not policy.lint(name):
            chosen.append(name)
    if len(chosen) < count:
        raise SystemExit(f"only {len(chosen)} names pass the naming policy; ask for fewer")
    random.Random(7).shuffle(chosen)
    return chosen


def run_id(model: int, version: int) -> str:
    return hashlib.md5(f"{model}/{version}".encode()).hexdigest()


def commit(model: int, version: int) -> str:
    return hashlib.sha1(f"{model}/{version}".encode()).hexdigest()[:12]


# --- populating ---------------------------------------------------------------------------------


def charter_env(home: Path) -> dict[str, str]:
    """Charter's defaults: no CHARTER_* setting leaks in from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTER_")}
    env["CHARTER_HOME"] = str(home)
    return env


def charter_command(workers: int) -> list[str]:
    return [str(VENV_BIN / "charter"), "serve", "--host", "127.0.0.1", "--workers",
            str(workers), "--log-level", "warning"]


def populate_charter(folder: Path, shape: Shape, names: list[str],
                     args: argparse.Namespace) -> dict[str, Any]:
    """Charter through the MLflow REST API, driven by wrk in three phases (populate_wrk.py);
    every row is checked afterwards in the database, read-only."""
    home = folder / "home"
    home.mkdir(parents=True)
    threads = max(1, min(args.connections, len(names)))
    plan = populate_wrk.phases(shape.models, shape.versions, shape.live, ALIAS, names,
                               shape.team, run_id, commit)
    for label, per_model in plan:
        populate_wrk.write_slices(folder / "wrk" / label, per_model, threads)
    phases: dict[str, Any] = {}
    with started("Charter", charter_command(args.workers), charter_env(home), folder,
                 "/healthz", 120) as server:
        wait_healthy([server])
        cpu = tree_cpu(server.process.pid)
        begun = time.monotonic()
        for label, _ in plan:
            left = args.populate_limit - (time.monotonic() - begun)
            if left <= 0:
                raise SystemExit(f"population passed --populate-limit before {label}")
            result = populate_wrk.run_phase(server.port, folder / "wrk" / label, threads, left)
            phases[label] = result
            progress(f"  charter {label}: {result['total']} requests in "
                     f"{result['seconds']:.1f} s, non-2xx {result['failed']}, "
                     f"transport errors {result['transport']}")
        seconds = time.monotonic() - begun
        cpu = tree_cpu(server.process.pid) - cpu
        memory = tree_memory(server.process.pid)["pss_mb"]
    shutil.rmtree(folder / "wrk")
    requests = sum(p["total"] for p in phases.values())
    errors = sum(p["failed"] + p["transport"] for p in phases.values())
    samples = [s for p in phases.values() for s in p["samples"]][:4]
    if errors:
        raise SystemExit(f"population had {errors} failed requests: {samples}")
    populate_wrk.verify(home / "charter.db", shape.models, shape.versions, shape.live, ALIAS,
                        names, shape.team, run_id, commit)
    versions_s = phases["versions"]["seconds"]
    # Server CPU per version: what the population would reach on cores it had to itself.
    return {"seconds": round(seconds, 1), "requests": requests, "errors": errors,
            "server_cpu_s": round(cpu, 1), "versions_per_server_cpu_s": round(shape.total / cpu),
            "server_cpu_ms_per_request": round(cpu * 1000 / requests, 3),
            "error_samples": samples, "versions_per_s": round(shape.total / seconds, 1),
            "requests_per_s": round(requests / seconds, 1), "server_pss_mb": round(memory, 1),
            "version_creates_per_s": round(shape.total / versions_s, 1),
            "phase_seconds": {k: round(p["seconds"], 1) for k, p in phases.items()},
            "connections": threads, "load_generator": "wrk", "verified": True}


def populate_mlflow(folder: Path, shape: Shape, names: list[str]) -> dict[str, Any]:
    """MLflow's schema from MLflow itself, then the same rows by SQL (the bulk path)."""
    folder.mkdir(parents=True)
    uri = f"sqlite:///{folder}/mlflow.db"
    subprocess.run([str(VENV_BIN / "python"), "-c",
                    "import sys\nfrom mlflow.store.model_registry.sqlalchemy_store import "
                    "SqlAlchemyStore\nSqlAlchemyStore(sys.argv[1])", uri],
                   check=True, capture_output=True)
    begun = time.monotonic()
    db = sqlite3.connect(folder / "mlflow.db")
    now = int(time.time() * 1000)
    for index, name in enumerate(names):
        db.execute("INSERT INTO registered_models (name, creation_time, last_updated_time, "
                   "description) VALUES (?, ?, ?, '')", (name, now, now))
        db.execute("INSERT INTO registered_model_tags (key, value, name) VALUES "
                   "('team', ?, ?)", (shape.team(index), name))
        db.executemany(
            "INSERT INTO model_versions (name, version, creation_time, last_updated_time, "
            "description, user_id, current_stage, source, run_id, status, status_message, "
            "run_link, storage_location) VALUES (?, ?, ?, ?, '', '', ?, ?, ?, 'READY', '', "
            "'', ?)",
            [(name, v, now, now, "Production" if v == shape.live else "None",
              f"runs:/{run_id(index, v)}/model", run_id(index, v),
              f"mlflow-artifacts:/0/{run_id(index, v)}/artifacts/model")
             for v in range(1, shape.versions + 1)])
        db.executemany("INSERT INTO model_version_tags (key, value, name, version) VALUES "
                       "('commit', ?, ?, ?)",
                       [(commit(index, v), name, v) for v in range(1, shape.versions + 1)])
        db.execute("INSERT INTO registered_model_aliases (alias, version, name) VALUES "
                   "(?, ?, ?)", (ALIAS, shape.live, name))
    db.commit()
    db.close()
    return {"seconds": round(time.monotonic() - begun, 1), "path": "bulk SQL"}


def populate(args: argparse.Namespace, shape: Shape) -> Path:
    folder = args.data / shape.key
    if (folder / "manifest.json").exists():
        progress(f"{folder} is already populated: reusing it")
        return folder
    if folder.exists():
        raise SystemExit(f"{folder} exists but has no manifest (an interrupted population?); "
                         "remove it and run populate again")
    names = model_names(shape.models)
    folder.mkdir(parents=True)
    loads = [os.getloadavg()]
    progress(f"populating Charter: {shape.models} models × {shape.versions} versions")
    charter = populate_charter(folder / "charter", shape, names, args)
    loads.append(os.getloadavg())
    progress(f"  {charter}")
    progress("populating MLflow (bulk SQL)")
    mlflow = populate_mlflow(folder / "mlflow", shape, names)
    manifest = {"shape": asdict(shape), "names": names, "alias": ALIAS,
                "charter": charter, "mlflow": mlflow,
                "loadavg": [list(x) for x in loads],
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return folder


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)



# --- measuring ----------------------------------------------------------------------------------

WRK_SCRIPT = r"""
local paths = {}
for line in io.lines(os.getenv("SCALE_PATHS")) do paths[#paths + 1] = line end
local cold = os.getenv("SCALE_COLD") == "1"
local run = os.getenv("SCALE_RUN") or "0"
local expect = tonumber(os.getenv("SCALE_EXPECT") or "200")
-- a write's lines are "path<TAB>body": each line taken once per run (offset, then every
-- thread its own lines in turn); RID in a body becomes a run id unique to the request
local method = os.getenv("SCALE_METHOD") or "GET"
local offset = tonumber(os.getenv("SCALE_OFFSET") or "0")
local nthreads = tonumber(os.getenv("SCALE_THREADS") or "1")
local rid_prefix = os.getenv("SCALE_RID_PREFIX") or "0000000000000000"
local threads = {}
local counter = 0
mismatched = 0  -- answers of another status than expected (a global: done() reads it)

if expect ~= 200 then  -- a case whose answers are refusals: count the others instead
  function response(status, headers, body)
    if status ~= expect then mismatched = mismatched + 1 end
  end
end

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("tid", #threads)
end

function init(args)
  if method == "GET" then counter = tid * 7919 end
end

function request()
  if method ~= "GET" then
    local line = paths[((offset + (tid - 1) + nthreads * counter) % #paths) + 1]
    counter = counter + 1
    local tab = string.find(line, "\t", 1, true)
    local rid = rid_prefix .. string.format("%08x%08x", tid, counter)
    local body = string.gsub(string.sub(line, tab + 1), "RID", rid)
    return wrk.format(method, string.sub(line, 1, tab - 1),
                      {["Content-Type"] = "application/json"}, body)
  end
  counter = counter + 1
  local path = paths[(counter % #paths) + 1]
  if cold then
    local sep = "?"
    if string.find(path, "?", 1, true) then sep = "&" end
    path = path .. sep .. "_u=" .. run .. "x" .. tid .. "x" .. counter
  end
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  local e = summary.errors
  local status = e.status
  if expect ~= 200 then
    status = 0
    for _, thread in ipairs(threads) do status = status + thread:get("mismatched") end
  end
  io.write(string.format(
    "SCALE_JSON {\"requests\":%d,\"duration_us\":%d,\"status\":%d,\"transport\":%d," ..
    "\"p50_us\":%d,\"p99_us\":%d,\"max_us\":%d}\n",
    summary.requests, summary.duration, status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class Case:
    name: str
    surface: str          # mlflow | rest | ui
    paths: list[str]
    servers: tuple[str, ...] = ("charter", "mlflow")
    warm: bool = True     # also measured warm (the same requests over and over)
    connections: tuple[int, ...] = (16,)
    expect: int = 200     # the status every answer should have (404: a miss's case)
    method: str = "GET"   # POST: a write; each of its paths is "path<TAB>JSON body"


@dataclass
class Figure:
    case: str
    server: str
    mode: str             # warm | cold
    connections: int
    ok_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms_per_ok: float
    loadavg: float
    answer_kb: float = 0.0  # mean size of one answer (of the first few paths), to tell a
                            # query that grows with the registry from an answer that does


def cases(shape: Shape, names: list[str]) -> list[Case]:
    """Every read case, then the writes; paths cycle over all models so no small set
    stays cached."""
    q = quote
    live, mid = shape.live, max(1, shape.versions // 2)
    teams = sorted({shape.team(i) for i in range(shape.models)})
    prefixes = sorted({n.split("_")[0] for n in names})
    per = [(i, n) for i, n in enumerate(names)]
    api = API
    return [
        Case("rm_get", "mlflow", [f"{api}/registered-models/get?name={n}" for n in names]),
        # a name nobody registered: MLflow's RESOURCE_DOES_NOT_EXIST (404), Charter's with
        # its "did you mean" hint
        Case("rm_get_missing", "mlflow", [f"{api}/registered-models/get?name={n}_gone"
                                          for n in names], expect=404),
        Case("rm_search_like", "mlflow", [
            f"{api}/registered-models/search?filter={q(f'name LIKE {chr(39)}{p}%{chr(39)}')}"
            "&max_results=100" for p in prefixes]),
        Case("rm_search_tag", "mlflow", [
            f"{api}/registered-models/search?filter={q(f'tags.team = {chr(39)}{t}{chr(39)}')}"
            for t in teams]),
        Case("latest_production", "mlflow", [
            f"{api}/registered-models/get-latest-versions?name={n}&stages=Production"
            for n in names]),
        Case("alias", "mlflow", [f"{api}/registered-models/alias?name={n}&alias={ALIAS}"
                                 for n in names]),
        Case("mv_get", "mlflow", [f"{api}/model-versions/get?name={n}&version={mid}"
                                  for n in names]),
        Case("download_uri", "mlflow", [
            f"{api}/model-versions/get-download-uri?name={n}&version={live}" for n in names]),
        Case("mv_search_name", "mlflow", [
            f"{api}/model-versions/search?filter={q(f'name={chr(39)}{n}{chr(39)}')}"
            for n in names]),
        Case("mv_search_tag", "mlflow", [
            f"{api}/model-versions/search?filter="
            f"{q(f'tags.commit={chr(39)}{commit(i, mid)}{chr(39)}')}" for i, _ in per]),
        Case("mv_search_run", "mlflow", [
            f"{api}/model-versions/search?filter={q(f'run_id={chr(39)}{run_id(i, mid)}{chr(39)}')}"
            for i, _ in per]),
        Case("v1_model", "rest", [f"/api/v1/models/{n}" for n in names], ("charter",), False),
        Case("v1_models_like", "rest", [f"/api/v1/models?name_like={q(p + '%')}&max_results=100"
                                        for p in prefixes], ("charter",), False),
        Case("v1_versions", "rest", [f"/api/v1/models/{n}/versions" for n in names],
             ("charter",), False),
        Case("v1_version", "rest", [f"/api/v1/models/{n}/versions/{mid}" for n in names],
             ("charter",), False),
        Case("v1_resolve", "rest", [f"/api/v1/resolve?uri={q(f'models:/{n}/Production')}"
                                    for n in names], ("charter",), False),
        Case("v1_history", "rest", [f"/api/v1/models/{n}/history" for n in names],
             ("charter",), False),
        Case("v1_events", "rest", [f"/api/v1/events?after={i * 50}&limit=100"
                                   for i in range(shape.models)], ("charter",), False),
        Case("ui_registry", "ui", ["/"], ("charter",), False, (1, 16)),
        Case("ui_name", "ui", [f"/?q={p}" for p in prefixes], ("charter",), False, (1, 16)),
        Case("ui_tag", "ui", [f"/?tag={q(f'team={t}')}" for t in teams], ("charter",), False,
             (1, 16)),
        Case("ui_stage", "ui", ["/?stage=Production"], ("charter",), False, (1, 16)),
        Case("ui_name_tag_stage", "ui", [f"/?q={names[i].split('_')[0]}&tag="
                                         f"{q(f'team={shape.team(i)}')}&stage=Production"
                                         for i in range(0, shape.models, 7)],
             ("charter",), False, (1, 16)),
        Case("ui_model", "ui", [f"/models/{n}" for n in names], ("charter",), False),
        Case("ui_audit", "ui", ["/audit"], ("charter",), False),
        Case("ui_audit_model", "ui", [f"/audit?model={n}" for n in names], ("charter",), False),
        # Writes, last (they change both servers' copies): a new version of each model in
        # turn (RID: a run id of the request's own); then the population's versions below
        # the live one, None -> Staging, each moved once.
        Case("create_version", "mlflow", [
            f"{api}/model-versions/create\t" + json.dumps(
                {"name": n, "source": "runs:/RID/model", "run_id": "RID"}) for n in names],
             warm=False, method="POST"),
        # (2,000 × 50: 94,000 moves, the measured run taking the second half's; a smaller
        # registry's list could wrap, and a version moved to Staging twice is refused)
        *([Case("transition", "mlflow", [
            f"{api}/model-versions/transition-stage\t" + json.dumps(
                {"name": n, "version": str(v), "stage": "Staging",
                 "archive_existing_versions": False})
            for v in range(1, live) for n in names], warm=False, method="POST")]
          if shape.models * (live - 1) >= 20_000 else []),
    ]


def wrk(port: int, paths: list[str], *, cold: bool, connections: int, seconds: float,
        work: Path, expect: int = 200, method: str = "GET", offset: int = 0
        ) -> dict[str, Any]:
    listing, script = work / "paths.txt", work / "scale.lua"
    random.Random(3).shuffle(paths := list(paths))
    listing.write_text("\n".join(paths) + "\n")
    script.write_text(WRK_SCRIPT)
    # Cold: a query string no run asked before. The counters restart with each wrk, so
    # without a run of its own the measured run would repeat its warm-up's first second —
    # asked twice, those answers would be checked against the registry's head and kept
    # (api/mlflow/cache.py's doorkeeper), which is not a cold read.
    threads = min(2, connections)
    env = {**os.environ, "SCALE_PATHS": str(listing), "SCALE_COLD": "1" if cold else "0",
           "SCALE_RUN": str(time.time_ns()), "SCALE_EXPECT": str(expect),
           "SCALE_METHOD": method, "SCALE_OFFSET": str(offset), "SCALE_THREADS": str(threads),
           "SCALE_RID_PREFIX": f"{time.time_ns() & (2**64 - 1):016x}"}
    found = subprocess.run(
        ["/usr/bin/wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
         "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}"],
        env=env, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in found.stdout.splitlines() if x.startswith("SCALE_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk said: {found.stdout[-2000:]} {found.stderr[-2000:]}")
    return dict(json.loads(line.split(" ", 1)[1]))


def run_case(case: Case, server: Server, label: str, mode: str, connections: int,
             args: argparse.Namespace, work: Path) -> Figure:
    cold = mode == "cold"
    wrk(server.port, case.paths, cold=cold, connections=connections, seconds=1, work=work,
        expect=case.expect, method=case.method)
    before = tree_cpu(server.process.pid)
    # a write's measured run takes lines its warm-up did not (a version moves only once)
    found = wrk(server.port, case.paths, cold=cold, connections=connections,
                seconds=args.seconds, work=work, expect=case.expect, method=case.method,
                offset=len(case.paths) // 2)
    cpu = tree_cpu(server.process.pid) - before
    ok = found["requests"] - found["status"]
    seconds = found["duration_us"] / 1e6
    return Figure(case.name, label, mode, connections, round(ok / seconds, 1),
                  round(found["p50_us"] / 1000, 2), round(found["p99_us"] / 1000, 2),
                  found["status"] + found["transport"],
                  round(1000 * cpu / ok, 3) if ok else float("nan"),
                  round(os.getloadavg()[0], 2),
                  answer_kb(server.port, case.paths) if case.method == "GET" else 0.0)


def wait_quiet(servers: list[Server], *, idle_share: float = 0.05, step_s: float = 0.5,
               limit_s: float = 60.0) -> float:
    """Wait until every one of ``servers`` is idle — together under ``idle_share`` of a
    core for two steps in a row (at most ``limit_s``); the seconds waited. wrk stops
    sending at the end of a run, but a server whose answers take seconds (MLflow's
    searches at this size: 1–4 s each) still works through up to 16 requests — on the CPU
    the next case measures (seen: a Charter p99 of 115 ms after MLflow's LIKE search,
    52–66 ms alone). And a server that
    answers its health check has not always finished starting: MLflow 3's spawns eight
    job consumers (huey) after it, which took both cores for ~25 s here (7 Dec 2026) — the
    first cases' time, probably where s27's lone tail fell (rm_get cold, p99 34.7 ms)."""
    begun, quiet = time.monotonic(), 0
    while time.monotonic() - begun < limit_s:
        before = sum(tree_cpu(server.process.pid) for server in servers)
        time.sleep(step_s)
        used = sum(tree_cpu(server.process.pid) for server in servers) - before
        # two quiet steps in a row: one can fall in a pause of a server still starting (a
        # process that exits within a step also takes its CPU out of the sum)
        quiet = quiet + 1 if 0 <= used < idle_share * step_s else 0
        if quiet == 2:
            return time.monotonic() - begun
    progress(f"  warning: the servers were still busy after {limit_s:.0f} s; measuring anyway")
    return time.monotonic() - begun


def answer_kb(port: int, paths: list[str], sample: int = 8) -> float:
    """Mean size of the answers to the first few paths, in kB."""
    sizes = []
    for path in paths[:sample]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as answer:
                sizes.append(len(answer.read()))
        except urllib.error.HTTPError as refused:  # a miss's case: the refusal's size
            sizes.append(len(refused.read()))
    return round(sum(sizes) / len(sizes) / 1000, 2) if sizes else 0.0


@contextmanager
def servers_on(folder: Path, args: argparse.Namespace, only: str) -> Iterator[dict[str, Server]]:
    """Both servers on scratch copies of the populated data (the write cases change
    them): Charter's home, MLflow's SQLite file. With ``--database``: each on a fresh
    PostgreSQL database holding a copy of its rows."""
    with ExitStack() as stack:
        scratch = Path(tempfile.mkdtemp(prefix="charter-scale-run-"))
        stack.callback(shutil.rmtree, scratch, ignore_errors=True)
        urls = (stack.enter_context(postgres_databases(args.database, args.db_prefix))
                if args.database else {})
        found: dict[str, Server] = {}
        if only in ("both", "charter"):
            shutil.copytree(folder / "charter" / "home", scratch / "home")
            env = charter_env(scratch / "home")
            if urls:
                env["CHARTER_REGISTRY_URL"] = urls["Charter"]
                subprocess.run([str(VENV_BIN / "charter"), "db", "upgrade"], env=env,
                               check=True, capture_output=True)
                copied = copy_sqlite_to_postgres(scratch / "home" / "charter.db",
                                                 urls["Charter"])
                progress(f"  charter rows copied to PostgreSQL: {copied}")
            found["charter"] = stack.enter_context(started(
                "Charter", charter_command(args.workers), env, scratch, "/healthz", 300))
        if only in ("both", "mlflow"):
            store = None
            if urls:
                store = urls["MLflow"]
                subprocess.run([str(VENV_BIN / "python"), "-c", MLFLOW_SCHEMA, store],
                               check=True, capture_output=True)
                copied = copy_sqlite_to_postgres(
                    folder / "mlflow" / "mlflow.db",
                    store.replace("postgresql+psycopg2://", "postgresql://", 1))
                progress(f"  mlflow rows copied to PostgreSQL: {copied}")
            else:
                (scratch / "mlflow").mkdir()
                shutil.copy2(folder / "mlflow" / "mlflow.db", scratch / "mlflow" / "mlflow.db")
            found["mlflow"] = stack.enter_context(started(
                "MLflow", mlflow_command(scratch / "mlflow", store=store), dict(os.environ),
                scratch / "mlflow", "/health", 300))
        wait_healthy(list(found.values()))
        yield found


MLFLOW_SCHEMA = ("import sys\nfrom mlflow.store.model_registry.sqlalchemy_store import "
                 "SqlAlchemyStore\nSqlAlchemyStore(sys.argv[1])")


def machine_speed_ms() -> float:
    """The best of five timings of ``sum(range(10**6))`` in one process, in ms: how fast
    this machine runs Python, so runs on different machines can be told apart (the same
    kind of machine gave 15.8–17.7 ms on 7 Dec 2026, where both servers answered a third
    to a half as fast as on the scale9 machine of the same morning, whose figure is not
    known)."""
    import timeit

    return round(1000 * min(timeit.repeat("sum(range(10**6))", number=20, repeat=5)) / 20, 1)


def measure(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    manifest = json.loads((folder / "manifest.json").read_text())
    shape, names = Shape(**manifest["shape"]), manifest["names"]
    wanted = set(filter(None, args.cases.split(",")))
    chosen = [c for c in cases(shape, names) if c.name in wanted or not wanted
              and not (args.step == "compare" and c.method != "GET")]  # compare: reads
    figures: list[Figure] = []
    loads, speed = [os.getloadavg()], machine_speed_ms()
    with servers_on(folder, args, args.only) as running, \
            tempfile.TemporaryDirectory(prefix="charter-scale-wrk-") as work:
        # A server answering its health check may still be starting (wait_quiet).
        idle_after_start = round(wait_quiet(list(running.values()), limit_s=120.0), 1)
        progress(f"  servers idle {idle_after_start} s after their health checks answered")
        for case in chosen:
            for label in case.servers:
                if label not in running:
                    continue
                modes = ["warm", "cold"] if case.warm and label == "charter" else ["cold"]
                for mode in modes:
                    for conns in case.connections:
                        figure = run_case(case, running[label], label, mode, conns, args,
                                          Path(work))
                        figures.append(figure)
                        progress(f"  {figure}")
                        wait_quiet(list(running.values()))
        memory = {k: round(tree_memory(s.process.pid)["pss_mb"], 1) for k, s in running.items()}
        home = (Path(running["charter"].log).parent / "home") if "charter" in running else None
        cli = cli_timings(home, shape) if home and not wanted and not args.database else {}
    loads.append(os.getloadavg())
    return {"shape": asdict(shape), "figures": [asdict(f) for f in figures],
            "pss_mb": memory, "cli": cli, "loadavg": [list(x) for x in loads],
            "machine_speed_ms": speed, "idle_after_start_s": idle_after_start,
            "populate": {k: manifest[k] for k in ("charter", "mlflow")},
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def timed(command: list[str], home: Path, limit: float = 600) -> dict[str, Any]:
    """Seconds to the first line of output and to the end, and the exit code."""
    begun = time.monotonic()
    process = subprocess.Popen(command, env=charter_env(home), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    first, lines, tail = None, 0, ""
    for line in process.stdout:
        first = first if first is not None else time.monotonic() - begun
        lines += 1
        tail = line.strip() or tail
        if time.monotonic() - begun > limit:
            process.kill()
            break
    code = process.wait()
    return {"first_line_s": round(first or 0.0, 3), "total_s": round(time.monotonic() - begun, 3),
            "lines": lines, "exit": code, "last": tail[:160]}


VERIFY_PROBE = r"""
import json, sys, time
from charter.connection import connect
registry = connect(sys.argv[1])
found = {}
for label, full in (("full", True), ("incremental", False)):
    begun, cpu = time.perf_counter(), time.process_time()
    report = registry.verify_audit(full=full)
    seconds, cpu = time.perf_counter() - begun, time.process_time() - cpu
    found[label] = {"ok": report.ok, "events": report.walked, "seconds": round(seconds, 3),
                    "cpu_s": round(cpu, 3),
                    "events_per_s": round(report.walked / seconds) if report.walked else None,
                    "events_per_cpu_s": round(report.walked / cpu) if report.walked else None}
print(json.dumps(found))
"""


def verify_rate(home: Path) -> dict[str, Any]:
    """`verify_audit(full=True)` then an incremental one, timed in process (no start-up)."""
    found = subprocess.run([str(VENV_BIN / "python"), "-c", VERIFY_PROBE, str(home)],
                           env=charter_env(home), capture_output=True, text=True, timeout=600)
    if found.returncode:
        return {"error": found.stderr[-500:]}
    return dict(json.loads(found.stdout.splitlines()[-1]))


def cli_timings(home: Path, shape: Shape) -> dict[str, Any]:
    """`charter ls`, and `charter audit verify` (incremental, then --full if it exists),
    embedded on the server's copy (SQLite allows the concurrent reader)."""
    charter = str(VENV_BIN / "charter")
    found = {"ls": timed([charter, "ls"], home)}
    help_text = subprocess.run([charter, "audit", "verify", "--help"], env=charter_env(home),
                               capture_output=True, text=True).stdout
    if "--full" in help_text:
        found["audit verify --full"] = timed([charter, "audit", "verify", "--full"], home)
        found["audit verify"] = timed([charter, "audit", "verify"], home)
        found["in process"] = verify_rate(home)
    else:
        found["audit verify"] = timed([charter, "audit", "verify"], home)
    return found


# --- the report ---------------------------------------------------------------------------------


def report(result: dict[str, Any]) -> str:
    shape = Shape(**result["shape"])
    figures = [Figure(**f) for f in result["figures"]]
    mlflow = {f.case: f for f in figures if f.server == "mlflow"}
    lines = [f"### {shape.models:,} models × {shape.versions} versions = {shape.total:,} "
             f"versions ({result['when']})", "",
             "| case | server | mode | conn | ok/s | p50 ms | p99 ms | errors | server CPU ms/ok "
             "| × MLflow | answer kB | load avg |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for f in figures:
        base = mlflow.get(f.case)
        ratio = (f"{f.ok_per_s / base.ok_per_s:.1f}×" if base and f.server == "charter"
                 and base.ok_per_s else "")
        lines.append(f"| {f.case} | {f.server} | {f.mode} | {f.connections} | {f.ok_per_s:,.0f} "
                     f"| {f.p50_ms} | {f.p99_ms} | {f.errors} | {f.cpu_ms_per_ok} | {ratio} "
                     f"| {f.answer_kb} | {f.loadavg} |")
    lines += ["", f"Server memory after the run (PSS MB): {result['pss_mb']}", ""]
    for name, timing in result["cli"].items():
        if name == "in process":
            lines.append(f"- verify in process: {timing}")
            continue
        lines.append(f"- `{name}`: first line {timing['first_line_s']} s, total "
                     f"{timing['total_s']} s, {timing['lines']} lines, exit {timing['exit']}: "
                     f"{timing['last']}")
    populate = result["populate"]["charter"]
    per_cpu = populate.get("versions_per_server_cpu_s")
    lines += ["", f"Population through the MLflow REST API: {populate['versions_per_s']:,} "
              f"versions/s ({populate['requests_per_s']:,} requests/s, {populate['seconds']} s, "
              f"{per_cpu or '?'} versions per server CPU-second, "
              f"{populate['errors']} errors, {populate['connections']} connections); MLflow "
              f"by bulk SQL in {result['populate']['mlflow']['seconds']} s.",
              f"Load average before / after: {result['loadavg']}"]
    if "machine_speed_ms" in result:
        lines.append(f"Machine: `sum(range(10**6))` in {result['machine_speed_ms']} ms "
                     "(bench/scale.py machine_speed_ms; lower is faster); the servers idle "
                     f"{result['idle_after_start_s']} s after their health checks answered")
    return "\n".join(lines)


# --- the command line ---------------------------------------------------------------------------


def parse_shape(text: str) -> Shape:
    models, _, versions = text.partition("x")
    return Shape(int(models), int(versions))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("populate", "measure", "compare"))
    parser.add_argument("--models", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--million", action="store_true",
                        help="10,000 models × 100 versions (1M versions; not for CI)")
    parser.add_argument("--small", type=parse_shape, default=Shape(20, 50),
                        help="compare: the small registry, MODELSxVERSIONS (default 20x50: "
                             "1,000 versions with as many per model as the large one, so a "
                             "model's versions or history is the same answer at both sizes)")
    parser.add_argument("--data", type=Path, default=DATA,
                        help=f"where populated registries are kept (default {DATA})")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="charter serve --workers")
    parser.add_argument("--populate-limit", type=float, default=1200.0,
                        help="seconds population may take before it gives up (default 1200)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per case")
    parser.add_argument("--only", choices=("both", "charter", "mlflow"), default="both")
    parser.add_argument("--cases", default="", help="comma-separated subset of the cases")
    parser.add_argument("--out", type=Path, help="also write the report (and FILE.json)")
    parser.add_argument("--database", metavar="URL",
                        help="measure: both servers on this PostgreSQL server "
                             "(postgresql://user@host:port), each on a fresh database holding "
                             "a copy of the populated rows (bench/pgcopy.py)")
    parser.add_argument("--db-prefix", default="scale",
                        help="names of those databases: PREFIX_charter, PREFIX_mlflow "
                             "(dropped at the end)")
    args = parser.parse_args(argv)
    if args.million:
        args.models, args.versions = 10_000, 100
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    shape = Shape(args.models, args.versions)
    if args.step == "populate":
        folder = populate(args, shape)
        print(json.dumps({k: v for k, v in json.loads((folder / "manifest.json").read_text())
                          .items() if k != "names"}, indent=1))
        return 0
    folder = args.data / shape.key
    if not (folder / "manifest.json").exists():
        raise SystemExit(f"{folder} is not populated: run `scale.py populate --models "
                         f"{shape.models} --versions {shape.versions}` first")
    if args.step == "measure":
        result = measure(folder, args)
        text = report(result)
    else:
        small = populate(args, args.small)
        results = [measure(small, args), measure(folder, args)]
        result = {"compare": results}
        text = "\n\n".join([report(r) for r in results] + [growth(*results)])
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
        args.out.with_suffix(args.out.suffix + ".json").write_text(json.dumps(result, indent=1))
    return 0


def growth(small: dict[str, Any], large: dict[str, Any]) -> str:
    """Cost per request (server CPU ms per ok answer, and 1/ok-per-s) from small to large.

    Where the answer itself grows (a LIKE search returns every model of a prefix: more
    models, a longer answer), the CPU per kB of answer is given too: it tells a query that
    slows with the registry from a serializer with more to write.
    """
    def key(f: dict[str, Any]) -> tuple[str, str, str, int]:
        return f["case"], f["server"], f["mode"], f["connections"]

    before = {key(f): f for f in small["figures"]}
    lines = [f"### Cost growth: {Shape(**small['shape']).total:,} → "
             f"{Shape(**large['shape']).total:,} versions", "",
             "| case | server | mode | conn | CPU ms/ok small → large | growth | "
             "answer kB small → large | CPU per answer kB growth | ok/s small → large | "
             "growth |", "|---|---|---|---:|---|---:|---|---:|---|---:|"]
    for f in large["figures"]:
        b = before.get(key(f))
        if b is None or not f["ok_per_s"] or not b["cpu_ms_per_ok"]:
            continue
        grown = f["cpu_ms_per_ok"] / b["cpu_ms_per_ok"]
        kb_small, kb_large = b.get("answer_kb") or 0.0, f.get("answer_kb") or 0.0
        per_kb = (f"{grown * kb_small / kb_large:.2f}×" if kb_small and kb_large
                  and abs(kb_large / kb_small - 1) > 0.1 else "")
        lines.append(f"| {f['case']} | {f['server']} | {f['mode']} | {f['connections']} | "
                     f"{b['cpu_ms_per_ok']} → {f['cpu_ms_per_ok']} | {grown:.2f}× | "
                     f"{kb_small} → {kb_large} | {per_kb} | {b['ok_per_s']:,.0f} → "
                     f"{f['ok_per_s']:,.0f} | {b['ok_per_s'] / f['ok_per_s']:.2f}× |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
