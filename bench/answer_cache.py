"""The MLflow answer cache's hit rate and memory by its configured size, in-process.

    .venv/bin/python bench/answer_cache.py --home DIR [--requests 20000] [--sizes 8,64]
        [--one-off 0.5] [--policies doorkeeper,all] [--pattern zipf|cycle]

Opens the populated home ``DIR`` read-only in spirit (only MLflow reads are sent; use
a copy, since opening migrates it), builds the app once per cache size
(``answer_cache_mb``) and sends ``--requests`` search-model-versions by name over
httpx's ASGI transport, the model drawn from every model in the registry with a
Zipf-like skew (a few models are asked for often, most rarely; fixed seed), or with
``--pattern cycle`` every model in turn, over and over (a job walking the registry; with
more answers than fit, least recently used alone would serve none). ``--one-off F``
makes that share of the requests carry a unique extra parameter (a cold benchmark's
``_u=``, a scan), so no two are alike. ``--policies`` compares the cache's admission:
``doorkeeper`` (the server's: kept at the second ask) and ``all`` (every answer kept).
Prints the cache's own counters (``AnswerCache.stats()``: hits, misses, hit rate,
stored, evictions, entries, bytes held) and the mean time per request, with the load
average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if "PYTHONPATH" not in os.environ:
    sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402

from charter.api.mlflow.cache import AnswerCache  # noqa: E402
from charter.bootstrap import build_service  # noqa: E402
from charter.config import Settings  # noqa: E402
from charter.server.app import create_app  # noqa: E402


def names(home: Path) -> list[str]:
    service = build_service(Settings.load({"home": home}), actor="bench")
    found, token = [], ""
    while True:
        page = service.list_models(max_results=1000, page_token=token)
        found += [m.name for m in page.items]
        token = page.next_token
        if not token:
            service.db.dispose()
            return found


async def drive(home: Path, size_mb: int, asked: list[tuple[str, str]],
                policy: str) -> tuple[dict[str, float], float]:
    settings = Settings.load({"home": home, "answer_cache_mb": size_mb})
    service = build_service(settings, actor="bench")
    app = create_app(service, settings)
    app.state.answers = AnswerCache(size_mb * 1024 * 1024, admit_first_ask=policy == "all")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        began = time.perf_counter()
        for name, unique in asked:
            params = {"filter": f"name = '{name}'", **({"_u": unique} if unique else {})}
            answer = await client.get("/api/2.0/mlflow/model-versions/search", params=params)
            answer.raise_for_status()
        elapsed = time.perf_counter() - began
    stats = app.state.answers.stats()
    service.db.dispose()
    return stats, elapsed / len(asked) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--sizes", default="8,64")
    parser.add_argument("--one-off", type=float, default=0.0,
                        help="share of requests made unique by an extra parameter")
    parser.add_argument("--policies", default="doorkeeper",
                        help="comma-separated: doorkeeper (kept when asked again), all")
    parser.add_argument("--pattern", choices=("zipf", "cycle"), default="zipf",
                        help="zipf: skewed toward a few models; cycle: every model in turn")
    args = parser.parse_args()
    everyone = names(args.home)
    rng = random.Random(15)
    weights = [1 / (rank + 1) for rank in range(len(everyone))]  # Zipf, s = 1
    drawn = (rng.choices(everyone, weights=weights, k=args.requests) if args.pattern == "zipf"
             else [everyone[n % len(everyone)] for n in range(args.requests)])
    asked = [(name, str(n) if rng.random() < args.one_off else "")
             for n, name in enumerate(drawn)]
    print(f"{len(everyone)} models; {args.requests} searches by name, "
          f"{len(set(asked))} distinct, {sum(1 for _, u in asked if u)} of them one-off")
    for size in (int(s) for s in args.sizes.split(",")):
        for policy in args.policies.split(","):
            stats, mean_ms = asyncio.run(drive(args.home, size, asked, policy))
            with open("/proc/loadavg") as load:
                avg = " ".join(load.read().split()[:3])
            print(f"answer_cache_mb={size:<4} {policy:<10} hit rate {stats['hit_rate']:.1%}  "
                  f"hits {stats['hits']}  misses {stats['misses']}  stored {stats['stored']}  "
                  f"colder {stats.get('colder', 0)}  "
                  f"evictions {stats['evictions']}  entries {stats['entries']}  held "
                  f"{stats['bytes'] / 1e6:.1f} MB  mean {mean_ms:.2f} ms/request  load {avg}",
                  flush=True)


if __name__ == "__main__":
    main()
