"""What rendering a search's answer costs the server, in-process: database rows to domain
briefs (store/search.py), briefs to MLflow's dicts (api/mlflow/shapes.py), dicts to JSON.

Two pages, built here as the drivers hand them over (no database is touched):

- models: a PostgreSQL page of ``registered-models/search`` (``model_briefs``' JSON items:
  times as ISO text without an offset, fractions as PostgreSQL writes them, trailing zeros
  dropped): 80 models, each with a tag, an alias and 2 latest versions with a tag each;
- versions: a PostgreSQL page of ``model-versions/search`` (``_brief`` rows: times as
  naive datetimes, as psycopg reads them): 50 versions with a tag each; and the same page
  as SQLite rows (``briefs_of``: times as ISO text with a space).

    python bench/render.py                       # this tree: µs per page, each phase
    python bench/render.py --ab /work/main/src   # alternate this tree and another

In trees that keep each model's JSON (api/mlflow/shapes.py ``registered_models_response``)
also the whole model answer from the store's texts: with every model kept, and with none.

Each phase is timed over ``--repeat`` pages, best of ``--runs``; ``--ab`` runs a fresh
process per tree per round, the trees alternating, so the machine's load hits both.
Checks first that both trees answer the same bytes.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

HERE_SRC = Path(__file__).resolve().parents[1] / "src"
STAGES = ("None", "Staging", "Production", "Archived")


def pg_text(moment: datetime) -> str:
    """A naive timestamp as PostgreSQL's JSON writes it (no trailing zeros in the fraction)."""
    text = moment.isoformat()
    return text.rstrip("0") if "." in text else text


def model_rows(count: int = 80) -> list[list[Any]]:
    base = datetime(2026, 3, 1, 8, 0, 0)
    rows: list[list[Any]] = []
    for i in range(count):
        created = base + timedelta(seconds=i * 3607, microseconds=(i * 7919) % 1_000_000)
        updated = created + timedelta(days=3, microseconds=(i * 104729) % 1_000_000)
        latest = []
        for j, stage in enumerate(("Production", "None")):  # not in stage order: sorted
            number = 2 - j
            v_created = created + timedelta(hours=j + 1, microseconds=i * 31 + j)
            v_updated = v_created + timedelta(minutes=5 * j, microseconds=(i * 17) % 1000 * 1000)
            latest.append([number, stage, f"s3://models/retail_{i:03d}/{number}",
                           f"{i:08x}{j:024x}", "", "READY" if j == 0 else "PENDING",
                           pg_text(v_created), pg_text(v_updated), "",
                           [["team", "retail"]]])
        rows.append([i + 1, f"retail_{i:03d}", f"retail_{i:03d}", f"model {i} of the retail team",
                     2, pg_text(created), pg_text(updated),
                     # the kept brief (store/model_briefs.py): tags, aliases, latest per stage
                     [[["owner", "retail"]], [["champion", 2]], latest]])
    return rows


def version_rows(count: int = 50, *, text: bool) -> list[tuple[Any, ...]]:
    base = datetime(2026, 3, 1, 8, 0, 0)
    rows = []
    for i in range(count):
        created = base + timedelta(seconds=i * 613, microseconds=(i * 7919) % 1_000_000)
        updated = created + timedelta(hours=2, microseconds=(i * 104729) % 1_000_000)
        times: tuple[Any, Any] = (created, updated)
        if text:  # SQLite: the text SQLAlchemy writes
            times = (created.strftime("%Y-%m-%d %H:%M:%S.%f"),
                     updated.strftime("%Y-%m-%d %H:%M:%S.%f"))
        rows.append((i + 1, i % 7 + 1, STAGES[i % 4], f"s3://models/retail_{i % 9}/{i}",
                     f"{i:032x}", "", ("READY", "PENDING", "FAILED")[i % 3], *times,
                     f"m-{i:x}" if i % 5 == 0 else None, f"retail_{i % 9:03d}",
                     [["team", "retail"]], ["champion"] if i % 6 == 0 else []))
    return rows


def pg_version_rows(search: Any) -> list[tuple[Any, ...]]:
    """``version_rows`` as the tree's PostgreSQL read hands them over: the tags and aliases
    as JSON text where it selects them so (store/search.py ``_BRIEFS_AT_ONCE``)."""
    import orjson

    rows = version_rows(text=False)
    if "::text" not in search._BRIEFS_AT_ONCE[0]:
        return rows
    return [(*row[:11], orjson.dumps(row[11]).decode(), orjson.dumps(row[12]).decode())
            for row in rows]


def best(work: Any, repeat: int, runs: int) -> float:
    """µs per call of ``work``, the best of ``runs`` runs of ``repeat`` calls."""
    found = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(repeat):
            work()
        found.append((time.perf_counter() - start) / repeat * 1e6)
    return min(found)


def measure(repeat: int, runs: int) -> dict[str, Any]:
    """This process's tree (PYTHONPATH): µs per page for each phase, and a digest of the
    answers' bytes."""
    import orjson

    from charter.api.mlflow import shapes
    from charter.server.heap import YOUNG_THRESHOLD
    from charter.store import search
    from charter.store.driver import Reader

    models = model_rows()
    pg_versions = pg_version_rows(search)
    sqlite_versions = version_rows(text=True)
    sqlite_briefs = [row[:11] for row in sqlite_versions]
    stub = Reader(_Stub(sqlite_versions), "sqlite")

    def model_briefs() -> list[Any]:
        return [search.model_brief_of(raw) for raw in models]

    def model_dicts(briefs: list[Any]) -> dict[str, Any]:
        return {"registered_models": [shapes.registered_model(b, b.latest) for b in briefs]}

    def version_briefs() -> list[Any]:
        return [search._brief(raw) for raw in pg_versions]

    def version_dicts(briefs: list[Any]) -> dict[str, Any]:
        return {"model_versions": [shapes.model_version(v) for v in briefs]}

    def sqlite_version_briefs() -> list[Any]:
        # briefs_of's own query is what it reads tags from: a stand-in reader answers
        # the tags and aliases the PostgreSQL rows carry.
        return search.briefs_of(stub, sqlite_briefs)

    # The collector as a worker sets it (server/heap.py): what lives long frozen, the
    # youngest generation collected after 10,000 net allocations.
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    mb, vb, sb = model_briefs(), version_briefs(), sqlite_version_briefs()
    md, vd, sd = model_dicts(mb), version_dicts(vb), version_dicts(sb)
    out = {"digest": hashlib.sha256(orjson.dumps(md) + orjson.dumps(vd) + orjson.dumps(sd)
                                    ).hexdigest()[:16]}
    out["models: briefs"] = best(model_briefs, repeat, runs)
    out["models: dicts"] = best(lambda: model_dicts(mb), repeat, runs)
    out["models: encode"] = best(lambda: orjson.dumps(md), repeat, runs)
    out["models: all"] = best(lambda: orjson.dumps(model_dicts(model_briefs())), repeat, runs)
    if hasattr(shapes, "registered_models_response"):  # trees since models were kept
        from charter.domain.records import Stored

        try:
            from charter.api.mlflow.kept import MODELS as held
            forget = held.clear
        except ImportError:  # cad3063's tree kept them in an lru_cache
            forget = shapes._kept_model_json.cache_clear  # type: ignore[attr-defined]

        stored = [Stored(orjson.dumps(raw).decode(), search.model_brief_of_text)
                  for raw in models]

        def answer() -> bytes:
            return bytes(shapes.registered_models_response(stored, "").body)

        assert answer() == orjson.dumps(md)

        def answer_first() -> bytes:
            forget()
            return answer()

        # each model's JSON kept (a worker's searches after the first of these models),
        # and none kept (the first search of them: decoded and shaped, then kept)
        out["models: answer, kept"] = best(answer, repeat, runs)
        out["models: answer, first"] = best(answer_first, repeat, runs)
    out["versions pg: briefs"] = best(version_briefs, repeat, runs)
    out["versions pg: dicts"] = best(lambda: version_dicts(vb), repeat, runs)
    out["versions pg: all"] = best(lambda: orjson.dumps(version_dicts(version_briefs())),
                                   repeat, runs)
    out["versions sqlite: all"] = best(
        lambda: orjson.dumps(version_dicts(sqlite_version_briefs())), repeat, runs)
    return out


class _Stub:
    """A DBAPI connection whose cursor answers briefs_of's tags-and-aliases query from the
    rows (a Reader on it is what briefs_of reads through)."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._extras = [("t", row[0], key, value) for row in rows for key, value in row[11]]
        self._extras += [("a", row[0], alias, "") for row in rows for alias in row[12]]

    def cursor(self) -> _Stub:
        return self

    def execute(self, sql: str, params: Any = ()) -> None:
        pass

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._extras


def callgrind_phases(pages: int) -> None:
    """Each phase ``pages`` times under a C function of its own that the measured code never
    calls, for instruction counts that the machine's load does not move:

        PYTHONPATH=<tree>/src valgrind --tool=callgrind --collect-atstart=no \\
          --toggle-collect=functools_reduce --toggle-collect=starmap_next \\
          --toggle-collect=filter_next --toggle-collect=compress_next \\
          --callgrind-out-file=/tmp/cg.out python bench/render.py --callgrind 20
        callgrind_annotate --inclusive=yes /tmp/cg.out | grep -E 'reduce|_next'

    functools_reduce: model briefs; starmap_next: their MLflow dicts; filter_next:
    PostgreSQL version briefs; compress_next: their dicts. The collector is off, as a
    worker's seldom runs (server/heap.py)."""
    import collections
    import functools
    import itertools

    from charter.api.mlflow import shapes
    from charter.store import search

    models, versions = model_rows(), pg_version_rows(search)
    model_briefs = [search.model_brief_of(raw) for raw in models]
    version_briefs = [search._brief(raw) for raw in versions]
    gc.collect()
    gc.freeze()
    gc.disable()
    functools.reduce(lambda _, __: [search.model_brief_of(raw) for raw in models],
                     range(pages), None)
    collections.deque(itertools.starmap(
        lambda: [shapes.registered_model(b, b.latest) for b in model_briefs], [()] * pages),
        maxlen=0)
    collections.deque(filter(lambda _: not [search._brief(raw) for raw in versions],
                             range(pages)), maxlen=0)
    collections.deque(itertools.compress(
        ([shapes.model_version(v) for v in version_briefs] for _ in range(pages)),
        itertools.repeat(0)), maxlen=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ab", type=Path, help="another tree's src/ to alternate with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--callgrind", type=int, metavar="PAGES",
                        help="run each phase PAGES times for valgrind (callgrind_phases)")
    args = parser.parse_args()
    if args.callgrind:
        callgrind_phases(min(args.callgrind, 1000))
        return
    if args.ab is None:
        found = measure(args.repeat, args.runs)
        if args.json:
            print(json.dumps(found))
        else:
            for key, value in found.items():
                print(f"{key:22} {value if key == 'digest' else f'{value:8.1f} µs'}")
        return
    trees = {"this": HERE_SRC, "other": args.ab.resolve()}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for _ in range(min(args.rounds, 20)):
        for name, src in trees.items():
            # sys.path[0] is bench/; PYTHONPATH (the tree) before the venv's editable install
            done = subprocess.run(
                [sys.executable, __file__, "--json", "--repeat", str(args.repeat),
                 "--runs", str(args.runs)], env={**os.environ, "PYTHONPATH": str(src)},
                capture_output=True, text=True, check=True, timeout=600)
            results[name].append(json.loads(done.stdout))
    digests = {r["digest"] for rs in results.values() for r in rs}
    print(f"load average {os.getloadavg()[0]:.2f}; answers "
          f"{'identical' if len(digests) == 1 else 'DIFFER: ' + ', '.join(sorted(digests))}")
    print(f"{'µs per page':22} {'this tree':>20} {'other':>20}")
    for key in results["this"][0]:
        if key == "digest":
            continue
        cells = []
        for name in trees:
            values = [r[key] for r in results[name] if key in r]
            cells.append(f"{min(values):8.1f}–{max(values):8.1f}" if values else "—")
        print(f"{key:22} {cells[0]:>20} {cells[1]:>20}")


if __name__ == "__main__":
    main()
