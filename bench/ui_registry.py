"""Latency of the web UI's registry page (GET /) with 500 models x 200 versions.

    .venv/bin/python bench/ui_registry.py [--models 500] [--versions 200] [--requests 200]
                                          [--home DIR]

Populates a SQLite home through ``RegistryService`` (no HTTP), then starts a real
``charter serve`` subprocess on it and times GET / with one keep-alive httpx
client. Target: p50 <= 150 ms. With ``--home`` the populated data dir is kept
and reused by later runs (population is the slow part: one write transaction
per registered version, each appending to the audit hash chain).
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.e2e.server: the same server the e2e tests start

from tests.e2e.server import running_server  # noqa: E402

from charter.bootstrap import build_service  # noqa: E402
from charter.config import Settings  # noqa: E402
from charter.service import RegistryService  # noqa: E402

AREAS = ("payments", "lending", "fraud", "churn", "search", "recommendation", "marketing",
         "pricing", "inventory", "logistics", "support", "claims", "underwriting", "ads",
         "onboarding", "checkout", "catalog", "shipping", "billing", "retention", "credit",
         "merchant", "identity", "content", "review")
SUBJECTS = ("risk", "relevance", "propensity", "demand", "eta", "abuse", "intent", "quality",
            "spam", "returns", "sentiment", "toxicity", "default", "upsell", "lifetime_value")
TASKS = ("scorer", "ranker", "detector", "forecaster", "classifier", "model", "estimator",
         "predictor")
TEAMS = ("risk", "growth", "search", "platform", "ops")
OWNERS = ("@meera", "@tomas", "@aiko", "@ravi", "@lena", "@kofi")


def product_names(service: RegistryService) -> Iterator[str]:
    """Names the naming policy accepts, {area}_{subject}_{task}, in a fixed shuffled order."""
    combos = list(itertools.product(AREAS, SUBJECTS, TASKS))
    random.Random(4).shuffle(combos)
    for parts in combos:
        name = "_".join(parts)
        if not service.lint(name):
            yield name


def populate(service: RegistryService, models: int, versions: int) -> None:
    names = list(itertools.islice(product_names(service), models))
    started = time.perf_counter()
    for index, name in enumerate(names):
        service.create_model(name, description=f"{name.replace('_', ' ')} for the product",
                             tags={"owner": OWNERS[index % len(OWNERS)],
                                   "team": TEAMS[index % len(TEAMS)]})
        for number in range(1, versions + 1):
            run = f"{index:04d}{number:05d}"
            service.register(name, f"runs:/{run}/model", run_id=run)
        _give_stages(service, name, versions)
        if (index + 1) % 10 == 0 or index + 1 == len(names):
            elapsed = time.perf_counter() - started
            eta = elapsed / (index + 1) * (len(names) - index - 1)
            print(f"  {index + 1}/{len(names)} models, {elapsed:.0f} s, ~{eta:.0f} s to go",
                  flush=True)


def _give_stages(service: RegistryService, name: str, versions: int) -> None:
    """A realistic spread: one Production, an Archived predecessor, one Staging candidate."""
    if versions < 3:
        return
    old, live, candidate = versions - 2, versions - 1, versions
    for number, archive in ((old, False), (live, True)):
        service.transition(name, number, "Staging", reason="offline validation passed")
        service.transition(name, number, "Production", archive_existing=archive,
                           reason="beat the live version in the shadow test")
    service.transition(name, candidate, "Staging", reason="offline validation passed")
    service.set_alias(name, "champion", live)


def timed_gets(url: str, path: str, count: int) -> list[float]:
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(10):  # warm-up: connections, template cache, SQLite page cache
            client.get(path).raise_for_status()
        times = []
        for _ in range(count):
            started = time.perf_counter()
            client.get(path).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return times


def report(label: str, times: list[float]) -> float:
    ordered = sorted(times)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"  {label:<34} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   ({len(times)} requests)")
    return p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--versions", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--home", type=Path, help="data dir to populate once and reuse")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or Path(tmp)
        run(home, args)


def run(home: Path, args: argparse.Namespace) -> None:
    home.mkdir(parents=True, exist_ok=True)
    service = build_service(Settings.load({"home": home}), actor="bench")
    existing = service.list_models(max_results=1).items
    if existing:
        print(f"reusing the populated home {home}")
    else:
        print(f"populating {args.models} models x {args.versions} versions in {home}")
        populate(service, args.models, args.versions)
    service.db.dispose()
    print(f"GET latency, one keep-alive client, {args.requests} requests each:")
    with running_server(home) as url:
        p50 = report("GET /  (registry page)", timed_gets(url, "/", args.requests))
        report("GET /?page=2 (second page)", timed_gets(url, _second_page(url), args.requests))
        report("GET /?q=risk  (name filter)", timed_gets(url, "/?q=risk", args.requests))
        report("GET /?stage=Staging&tag=team=ops", timed_gets(
            url, "/?stage=Staging&tag=team%3Dops", max(20, args.requests // 10)))
    verdict = "meets" if p50 <= 150 else "MISSES"
    print(f"registry page p50 {p50:.1f} ms {verdict} the 150 ms target")


def _second_page(url: str) -> str:
    """The registry page links its next page; follow it like a browser would."""
    html = httpx.get(url + "/").text
    marker = 'rel="next" href="'
    start = html.find(marker)
    if start < 0:
        return "/"
    return html[start + len(marker):html.find('"', start + len(marker))].replace("&amp;", "&")


if __name__ == "__main__":
    main()
