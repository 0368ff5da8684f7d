"""Populating a registry through the MLflow REST API with wrk (issue 15).

A Python client over 16 keep-alive connections spends about as much CPU per request as
the server it loads; on a 2-core machine it then measures itself. wrk (``/usr/bin/wrk``,
C) spends a few microseconds. It has no notion of request order, so the population runs
in three phases, one wrk run each, and the order that matters is kept by construction:

1. ``registered-models/create`` (tag ``team``) for every model;
2. ``model-versions/create`` for every version (source ``runs:/<id>/model``, ``run_id``,
   tag ``commit``): each model's versions are sent in order on one connection, so the
   version the registry numbers N carries the run and commit of the data set's version N;
3. version N-2 to Staging, then Production, then alias ``champion`` on it, per model in
   order on one connection.

Each wrk thread has one connection and one slice of the phase's requests, written by
Python to ``<dir>/<phase>/<thread>.req`` (``path<TAB>json``); models are dealt to the
threads round-robin. The Lua script below sends its slice once, checks every status,
and stops its thread (``wrk.thread:stop()``) after the last answer, so wrk ends when every
slice is done (wrk's main thread sleeps out ``--duration`` regardless: each thread
leaves a ``.done`` file, and SIGINT ends wrk once every thread has). Non-2xx answers
and transport errors are counted and a few printed; ``verify`` then reads the database
read-only and fails loudly unless every model, version, tag, stage and alias is there as
the data set says.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

WRK = shutil.which("wrk") or "/usr/bin/wrk"
API = "/api/2.0/mlflow"

LUA = r"""
local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
  thread:set("tid", #threads)
end

local headers = {["Content-Type"] = "application/json", ["Accept"] = "application/json"}
items = {}
answered, failed, samples = 0, 0, ""

function init(args)
  local file = os.getenv("POPULATE_DIR") .. "/" .. tid .. ".req"
  for line in io.lines(file) do
    local tab = string.find(line, "\t", 1, true)
    items[#items + 1] = wrk.format("POST", string.sub(line, 1, tab - 1), headers,
                                   string.sub(line, tab + 1))
  end
  total = #items
end

-- The next request is the one after the last answered: wrk calls request() once more on
-- thread 1 before it starts (to check the script), which must not use an item up.
function request()
  if answered >= total then  -- asked once more before the stop takes effect: a harmless read
    return wrk.format("GET", "/healthz")
  end
  return items[answered + 1]
end

function response(status, headers, body)
  answered = answered + 1
  if answered <= total and (status < 200 or status > 299) then
    failed = failed + 1
    if failed <= 3 then
      samples = samples .. status .. " " .. string.gsub(string.sub(body, 1, 300), "\n", " ") .. "\n"
    end
  end
  if answered == total then
    -- wrk's main thread sleeps out --duration whatever its threads do: a file tells
    -- run_phase this slice is done, and SIGINT ends wrk once every slice is
    io.open(os.getenv("POPULATE_DIR") .. "/" .. tid .. ".done", "w"):close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local answered_all, failed_all, total_all = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_all = total_all + thread:get("total")
    answered_all = answered_all + math.min(thread:get("answered"), thread:get("total"))
    failed_all = failed_all + thread:get("failed")
    local text = thread:get("samples")
    if text ~= "" then io.write("POPULATE_FAILED " .. text) end
  end
  local e = summary.errors
  io.write(string.format(
    "POPULATE_JSON {\"total\":%d,\"answered\":%d,\"failed\":%d,\"transport\":%d," ..
    "\"duration_us\":%d,\"p50_us\":%d,\"p99_us\":%d}\n",
    total_all, answered_all, failed_all, e.connect + e.read + e.write + e.timeout,
    summary.duration, latency:percentile(50), latency:percentile(99)))
end
"""

Request = tuple[str, dict[str, Any]]  # (path, JSON body)


def phases(models: int, versions: int, live: int, alias: str, names: Sequence[str],
           team: Callable[[int], str], run_id: Callable[[int, int], str],
           commit: Callable[[int, int], str]) -> list[tuple[str, list[list[Request]]]]:
    """The population as (phase, per-model request lists): the order inside a model's
    list is kept, the models run in parallel."""
    created = [[(f"{API}/registered-models/create",
                 {"name": name, "tags": [{"key": "team", "value": team(i)}]})]
               for i, name in enumerate(names)]
    numbered = [[(f"{API}/model-versions/create",
                  {"name": name, "source": f"runs:/{run_id(i, v)}/model",
                   "run_id": run_id(i, v),
                   "tags": [{"key": "commit", "value": commit(i, v)}]})
                 for v in range(1, versions + 1)] for i, name in enumerate(names)]
    moved = [[(f"{API}/model-versions/transition-stage",
               {"name": name, "version": str(live), "stage": stage,
                "archive_existing_versions": False}) for stage in ("Staging", "Production")]
             + [(f"{API}/registered-models/alias",
                 {"name": name, "alias": alias, "version": str(live)})]
             for name in names]
    return [("models", created), ("versions", numbered), ("stages", moved)]


def write_slices(folder: Path, per_model: list[list[Request]], threads: int) -> None:
    """Model i's requests go to thread i % threads, in order (one connection per thread)."""
    folder.mkdir(parents=True, exist_ok=True)
    outs = [open(folder / f"{t + 1}.req", "w") for t in range(threads)]
    try:
        for index, requests in enumerate(per_model):
            out = outs[index % threads]
            for path, body in requests:
                out.write(f"{path}\t{json.dumps(body, separators=(',', ':'))}\n")
    finally:
        for out in outs:
            out.close()


def run_phase(port: int, folder: Path, threads: int, limit_s: float) -> dict[str, Any]:
    """One wrk run over the slices in ``folder``; its counts, or SystemExit on a failure."""
    script = folder / "populate.lua"
    script.write_text(LUA)
    command = [WRK, f"-t{threads}", f"-c{threads}", f"-d{max(1, int(limit_s))}s",
               "--timeout", "60s", "-s", str(script), f"http://127.0.0.1:{port}/healthz"]
    env = {**os.environ, "POPULATE_DIR": str(folder)}
    for marker in folder.glob("*.done"):
        marker.unlink()
    begun = time.monotonic()
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as wrk:
        while wrk.poll() is None and time.monotonic() - begun < limit_s + 30:
            if len(list(folder.glob("*.done"))) == threads:
                seconds = time.monotonic() - begun
                wrk.send_signal(signal.SIGINT)  # wrk then prints its summary and ends
                break
            time.sleep(0.05)
        else:
            seconds = time.monotonic() - begun
            wrk.send_signal(signal.SIGINT)
        try:
            stdout, stderr = wrk.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            wrk.kill()
            stdout, stderr = wrk.communicate()
    lines = stdout.splitlines()
    found = [line.split(" ", 1)[1] for line in lines if line.startswith("POPULATE_JSON ")]
    if not found:
        raise SystemExit(f"wrk failed ({wrk.returncode}): {stderr[-2000:]}{stdout[-2000:]}")
    result: dict[str, Any] = json.loads(found[0])
    result["seconds"] = seconds
    result["samples"] = [line.split(" ", 1)[1] for line in lines
                         if line.startswith("POPULATE_FAILED ")][:4]
    result["samples"] += [line for line in lines if line and not line.startswith("POPULATE")
                          and line[0].isdigit()][:4]  # a sample's later lines
    if result["answered"] < result["total"]:
        raise SystemExit(f"{folder.name}: {result['answered']} of {result['total']} requests "
                         f"answered within {limit_s:.0f} s (transport errors "
                         f"{result['transport']}); {result['samples']}")
    return result


def verify(database: Path, models: int, versions: int, live: int, alias: str,
           names: Sequence[str], team: Callable[[int], str],
           run_id: Callable[[int, int], str], commit: Callable[[int, int], str]) -> None:
    """Every row the data set asks for, read from the SQLite file read-only (SystemExit
    naming what is missing or wrong)."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        ids = dict(db.execute("SELECT name, id FROM models"))
        problems: list[str] = []
        missing = [n for n in names if n not in ids]
        if missing:
            problems.append(f"{len(missing)} models missing, e.g. {missing[:3]}")
        teams = dict(db.execute("SELECT model_id, value FROM model_tags WHERE key = 'team'"))
        rows = {(m, v): (s, r) for m, v, s, r in db.execute(
            "SELECT model_id, version, stage, run_id FROM versions")}
        commits = {(m, v): c for m, v, c in db.execute(
            "SELECT v.model_id, v.version, t.value FROM versions v JOIN version_tags t "
            "ON t.version_id = v.id AND t.key = 'commit'")}
        aliases = {m: v for m, v in db.execute(
            "SELECT a.model_id, v.version FROM aliases a JOIN versions v "
            "ON v.id = a.version_id WHERE a.alias = ?", (alias,))}
        wrong: dict[str, int] = {}

        def miss(kind: str) -> None:
            wrong[kind] = wrong.get(kind, 0) + 1

        for index, name in enumerate(names):
            model = ids.get(name)
            if model is None:
                continue
            if teams.get(model) != team(index):
                miss("team tag")
            if aliases.get(model) != live:
                miss(f"alias {alias}")
            for version in range(1, versions + 1):
                row = rows.get((model, version))
                if row is None:
                    miss("version")
                    continue
                stage, run = row
                if stage != ("Production" if version == live else "None"):
                    miss("stage")
                if run != run_id(index, version):
                    miss("run_id")
                if commits.get((model, version)) != commit(index, version):
                    miss("commit tag")
        extra = len(rows) - models * versions
        if extra > 0:
            problems.append(f"{extra} versions more than the data set's")
        problems += [f"{count} × {kind} missing or wrong" for kind, count in wrong.items()]
        if problems:
            raise SystemExit(f"population incomplete in {database}: " + "; ".join(problems))
    finally:
        db.close()
