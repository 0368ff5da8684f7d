"""Every search shape at registry scale: its query plan and its time, in-process.

    .venv/bin/python bench/search_scale.py --home DIR [--models 2000] [--versions 50]
                                           [--repeat 20] [--database-url URL]

(with PYTHONPATH set, the charter package found there is measured: a before/after)

Populates (once; a populated home is reused) ``--models`` x ``--versions`` through the
bulk import path (``RegistryService.import_models``, 50 models per transaction: one
event per model and version, as an MLflow import writes them), with model tags
``team=t<i % 100>``, ``owner``, version tags ``team`` and ``commit``, one Production,
one Staging and one Archived version per model. Then, for each search shape (MLflow
search-model-versions and search-registered-models, the REST v1 listing, the UI's
registry filters, the audit page's windows), prints the median time of ``--repeat``
calls of the use case and whether its SQL reads versions or events by a full scan
(SQLite ``EXPLAIN QUERY PLAN``). This is the query side only; bench/scale.py measures
the served requests with wrk.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if "PYTHONPATH" not in os.environ:  # else that tree (another checkout: a before/after)
    sys.path.insert(0, str(ROOT / "src"))

from charter.bootstrap import build_service  # noqa: E402
from charter.config import Settings  # noqa: E402
from charter.domain.importing import ImportedModel, ImportedVersion  # noqa: E402
from charter.service import RegistryService  # noqa: E402
from charter.store.driver import Reader  # noqa: E402

TEAMS = 100
BATCH = 50


def model_name(index: int) -> str:
    return f"p{index:05d}_fraud_scorer"


def imported(index: int, versions: int, start: datetime) -> ImportedModel:
    name = model_name(index)
    stages = {versions: "Staging", versions - 1: "Production", versions - 2: "Archived"}
    made = start + timedelta(minutes=index)
    return ImportedModel(
        name=name, description=f"{name} for the bench", aliases={},
        tags={"team": f"t{index % TEAMS}", "owner": f"@owner{index % 7}"},
        created_at=made, redirects={}, reason="bench population", origin={"bench": True},
        versions=tuple(ImportedVersion(
            version=number, stage=stages.get(number, "None"),
            source=f"s3://bench/{name}/{number}/model.pkl", run_id=f"r{index:05d}{number:04d}",
            description="", tags={"team": f"t{index % TEAMS}", "commit": f"c{number % 10}"},
            created_at=made + timedelta(seconds=number), reason="bench population",
            origin={"bench": True}) for number in range(1, versions + 1)))


def populate(service: RegistryService, models: int, versions: int) -> None:
    start, began = datetime(2026, 1, 1, tzinfo=UTC), time.perf_counter()
    for first in range(0, models, BATCH):
        service.import_models([imported(i, versions, start)
                               for i in range(first, min(models, first + BATCH))])
    elapsed = time.perf_counter() - began
    print(f"populated {models * versions} versions in {elapsed:.1f} s "
          f"({models * versions / elapsed:.0f} versions/s, bulk import path)", flush=True)


@contextmanager
def recorded() -> Iterator[list[tuple[str, list[Any]]]]:
    """Every statement a Reader runs meanwhile (passed through unchanged)."""
    seen: list[tuple[str, list[Any]]] = []
    original = Reader.all

    def record(self: Reader, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        seen.append((sql, list(params)))
        return original(self, sql, params)

    Reader.all = record  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        Reader.all = original  # type: ignore[method-assign]


def full_scans(service: RegistryService, statements: list[tuple[str, list[Any]]]) -> list[str]:
    """The plan lines of ``statements`` that scan versions or events whole (SQLite)."""
    scans = []
    with service.db.snapshot() as reader:
        for sql, params in statements:
            for row in reader.all("EXPLAIN QUERY PLAN " + sql, params):
                detail = str(row[-1])
                if detail.startswith("SCAN") and detail.split()[1] in ("v", "versions",
                                                                         "events"):
                    scans.append(detail)
    return scans


def facts(service: RegistryService) -> dict[str, str]:
    """Values the shapes ask for, read from whatever registry this is (bench/scale.py's
    population or this file's): a model in the middle, its name's first letters, a
    team, a version tag, a run id and a source."""
    with service.db.snapshot() as reader:
        count = int(reader.value("SELECT count(*) FROM models") or 0)
        model_id, name = reader.one("SELECT id, name FROM models ORDER BY name_key "
                                    "LIMIT 1 OFFSET ?", (count // 2,)) or (0, "")
        team = reader.value("SELECT value FROM model_tags WHERE key = 'team' AND "
                            "model_id = ?", (model_id,))
        key, value = reader.one("SELECT key, value FROM version_tags t JOIN versions v ON "
                                "v.id = t.version_id WHERE v.model_id = ? ORDER BY v.version "
                                "LIMIT 1", (model_id,)) or ("", "")
        run, source = reader.one("SELECT run_id, source FROM versions WHERE model_id = ? "
                                 "ORDER BY version DESC LIMIT 1", (model_id,)) or ("", "")
    return {"name": name, "prefix": name[:3], "team": str(team or ""), "tag_key": key,
            "tag_value": value, "run_id": run, "source": source}


def shapes(service: RegistryService) -> list[tuple[str, Callable[[], Any]]]:
    f = facts(service)
    name, tag = f["name"], f"tags.{f['tag_key']} = '{f['tag_value']}'"
    return [
        ("versions: name =", lambda: service.search_versions(f"name = '{name}'")),
        ("versions: name LIKE prefix", lambda: service.search_versions(
            f"name LIKE '{f['prefix']}%'", max_results=100)),
        ("versions: tags.x = (one version)", lambda: service.search_versions(tag)),
        ("versions: name = AND tags.x =", lambda: service.search_versions(
            f"name = '{name}' AND {tag}")),
        ("versions: tags.x LIKE prefix", lambda: service.search_versions(
            f"tags.{f['tag_key']} LIKE '{f['tag_value'][:2]}%'", max_results=100)),
        ("versions: run_id =", lambda: service.search_versions(f"run_id = '{f['run_id']}'")),
        ("versions: source_path =", lambda: service.search_versions(
            f"source_path = '{f['source']}'")),
        ("versions: name = AND version_number >", lambda: service.search_versions(
            f"name = '{name}' AND version_number > 40")),
        ("versions: tags.x = order by version", lambda: service.search_versions(
            tag, order_by=["version_number DESC"], max_results=100)),
        ("versions: unfiltered, 100", lambda: service.search_versions(max_results=100)),
        ("models: name LIKE prefix", lambda: service.model_summaries(
            f"name LIKE '{f['prefix']}%'")),
        ("models: tags.team =", lambda: service.model_summaries(
            f"tags.team = '{f['team']}'")),
        ("models: unfiltered, 100", lambda: service.model_summaries()),
        ("REST v1 list_models, 100", lambda: service.list_models(max_results=100)),
        ("history of one model, 50", lambda: service.history(name, limit=50)),
    ]


def measure(service: RegistryService, repeat: int) -> None:
    print(f"{'shape':<42} {'median ms':>10} {'p90 ms':>8}  full scans of versions/events")
    print(f"{'':<42} {'':>10} {'':>8}  (SQLite EXPLAIN QUERY PLAN)")
    for label, call in shapes(service):
        with recorded() as statements:
            call()
        scans = full_scans(service, statements) if service.db.engine.dialect.name == \
            "sqlite" else ["(plans read on SQLite only)"]
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            call()
            times.append((time.perf_counter() - began) * 1000)
        times.sort()
        p90 = times[min(len(times) - 1, int(len(times) * 0.9))]
        print(f"{label:<42} {statistics.median(times):10.2f} {p90:8.2f}  "
              f"{'; '.join(scans) or 'none'}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--models", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    overrides: dict[str, Any] = {"home": args.home}
    if args.database_url:
        overrides["database_url"] = args.database_url
    service = build_service(Settings.load(overrides), actor="bench")
    if not service.list_models(max_results=1).items:
        populate(service, args.models, args.versions)
    with open("/proc/loadavg") as load:
        print(f"load average: {load.read().strip()}; facts {facts(service)}")
    measure(service, args.repeat)
    service.db.dispose()


if __name__ == "__main__":
    main()
