"""Every search shape at registry scale: its query plan and its time, in-process.

    .venv/bin/python bench/search_scale.py --home DIR [--models 2000] [--versions 50]
                                           [--repeat 20] [--database-url URL]

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
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
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


def shapes(service: RegistryService) -> list[tuple[str, Callable[[], Any]]]:
    middle = model_name(1234 % max(1, _models(service)))
    return [
        ("versions: name =", lambda: service.search_versions(f"name = '{middle}'")),
        ("versions: name LIKE prefix", lambda: service.search_versions(
            "name LIKE 'p012%'", max_results=100)),
        ("versions: tags.team =", lambda: service.search_versions("tags.team = 't7'")),
        ("versions: tags.team = + name =", lambda: service.search_versions(
            f"name = '{middle}' AND tags.commit = 'c3'")),
        ("versions: tags.commit LIKE", lambda: service.search_versions(
            "tags.team LIKE 't7%'", max_results=100)),
        ("versions: run_id =", lambda: service.search_versions("run_id = 'r012340007'")),
        ("versions: source_path =", lambda: service.search_versions(
            f"source_path = 's3://bench/{middle}/7/model.pkl'")),
        ("versions: name = AND version_number >", lambda: service.search_versions(
            f"name = '{middle}' AND version_number > 40")),
        ("versions: tags.team = order by version", lambda: service.search_versions(
            "tags.team = 't7'", order_by=["version_number DESC"], max_results=100)),
        ("versions: unfiltered, 100", lambda: service.search_versions(max_results=100)),
        ("models: name LIKE", lambda: service.model_summaries("name LIKE 'p012%'")),
        ("models: tags.team =", lambda: service.model_summaries("tags.team = 't7'")),
        ("models: unfiltered, 100", lambda: service.model_summaries()),
        ("REST v1 list_models", lambda: service.list_models(max_results=100)),
        ("history of one model", lambda: service.history(middle, limit=50)),
    ]


def _models(service: RegistryService) -> int:
    with service.db.snapshot() as reader:
        return int(reader.value("SELECT count(*) FROM models") or 0)


def measure(service: RegistryService, repeat: int) -> None:
    print(f"{'shape':<42} {'median ms':>10} {'p90 ms':>8}  full scans of versions/events")
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
        print(f"load average: {load.read().strip()}")
    measure(service, args.repeat)
    service.db.dispose()


if __name__ == "__main__":
    main()
