"""The answer cache's admission replayed without a server: hit rates per case of
bench/scale.py's warm run, and of a walk over more answers than fit.

    .venv/bin/python bench/cache_replay.py [--age-after 10,3,1]

One worker's AnswerCache (16 MB, the default) sees bench/scale.py's cases in their order,
each as the requests that worker gets in a warm run — the case's distinct requests in turn,
as wrk sends them: about half of what the case's 1 s warm-up and 5 s run asked at the rate
it reached (s22, bench/README.md) — then the one-off requests (the cold run's ``_u=``:
counted, never kept). Answers are synthetic bodies of each case's answer size. Printed:
each case's hit rate with least recently used alone (no admission) and with the frequency
admission at each ``Frequency.AGE_AFTER``; then a walk over 2,000 answers of 17.7 kB,
20,000 asks. Nothing is timed: a hit rate is a count. Keys are strings, whose hashes
Python salts per process: the doorkeeper's collisions move a case by a few points from
run to run.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if "PYTHONPATH" not in os.environ:
    sys.path.insert(0, str(ROOT / "src"))

from charter.api.mlflow import cache as answers  # noqa: E402

# (case, distinct requests, answer bytes, warm asks to one worker, one-off asks after)
CASES = [("rm_get", 2000, 970, 18000, 11000), ("rm_get_missing", 2000, 270, 25000, 12000),
         ("rm_search_like", 25, 66470, 33000, 7000), ("rm_search_tag", 100, 19050, 45000, 9000),
         ("latest_production", 2000, 390, 42000, 21000), ("alias", 2000, 390, 39000, 20000),
         ("mv_get", 2000, 370, 40000, 21000), ("download_uri", 2000, 60, 43000, 22000),
         ("mv_search_name", 2000, 17700, 6500, 6000), ("mv_search_tag", 2000, 370, 30000, 12000),
         ("mv_search_run", 2000, 370, 32000, 12000)]


def served(cache: answers.AnswerCache, key: str, body: bytes) -> bool:
    """One request as ``answers.answer`` makes it; whether the cache served it."""
    if not cache.worth_checking(key):
        return False
    if cache.get(key, 1) is not None:
        return True
    cache.put(key, 1, body)
    return False


def replay(lru: bool) -> list[float]:
    cache = answers.AnswerCache(answers.DEFAULT_MB * 1024 * 1024)
    if lru:
        cache._colder = lambda key, generation, size: False  # type: ignore[method-assign]
    rng, rates, unique = random.Random(1), [], 0
    for name, distinct, size, warm, cold in CASES:
        body, start = b"x" * size, rng.randrange(distinct)
        hits = sum(served(cache, f"{name}-{(start + n) % distinct}", body) for n in range(warm))
        rates.append(hits / warm)
        for _ in range(cold):
            unique += 1
            cache.worth_checking(f"once-{unique}")
    return rates


def walk(lru: bool) -> float:
    cache = answers.AnswerCache(answers.DEFAULT_MB * 1024 * 1024)
    if lru:
        cache._colder = lambda key, generation, size: False  # type: ignore[method-assign]
    body = b"x" * 17_700
    return sum(served(cache, f"model-{n % 2000}", body) for n in range(20_000)) / 20_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--age-after", default="10,3,1",
                        help="comma-separated Frequency.AGE_AFTER values to compare")
    ages = [int(a) for a in parser.parse_args().age_after.split(",")]
    columns: dict[str, list[float]] = {"lru": replay(lru=True)}
    walks = {"lru": walk(lru=True)}
    for age in ages:
        answers.Frequency.AGE_AFTER = age
        columns[f"age {age}"], walks[f"age {age}"] = replay(lru=False), walk(lru=False)
    print(f"{'case':20}" + "".join(f"{label:>9}" for label in columns))
    for index, (name, *_) in enumerate(CASES):
        print(f"{name:20}" + "".join(f"{rates[index]:9.1%}" for rates in columns.values()))
    print(f"{'walk 2,000 x 17.7 kB':20}" + "".join(f"{rate:9.1%}" for rate in walks.values()))


if __name__ == "__main__":
    main()
