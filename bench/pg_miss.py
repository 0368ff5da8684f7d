"""CPU per version read that misses the answer cache on PostgreSQL, in one process.

    createdb -h 127.0.0.1 -U postgres misses
    PYTHONPATH=$PWD/src python bench/pg_miss.py populate postgresql://postgres@127.0.0.1:5432/misses
    PYTHONPATH=$PWD/src python bench/pg_miss.py run postgresql://postgres@127.0.0.1:5432/misses

``run`` reads versions with ``RegistryService.get_version`` from 8 threads (the server's
thread pool does the same for a miss) and prints the process's CPU per read and the rate.
Run it with PYTHONPATH on two trees, one after the other, to compare them at one moment
(bench/README.md, PostgreSQL).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from charter.bootstrap import build_service
from charter.config import Settings

NAMES = ["fraud_detector", "churn_predictor", "credit_scorer", "spam_filter", "search_ranker",
         "price_forecaster", "demand_forecaster", "sentiment_classifier", "intent_classifier",
         "review_summarizer", "risk_scorer", "ticket_router"]
VERSIONS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("populate", "run"))
    parser.add_argument("database", help="postgresql://user@host:port/db (an empty database)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--reads", type=int, default=4000)
    args = parser.parse_args()
    settings = Settings.load({"home": Path(tempfile.mkdtemp(prefix="pg-miss-")),
                              "database_url": args.database}, env={})
    service = build_service(settings, actor="bench")
    if args.step == "populate":
        for name in NAMES:
            for v in range(VERSIONS):
                service.register(name, "s3://models-bucket/fraud/model.pkl",
                                 tags={"commit": f"c{v}"})
            service.set_alias(name, "champion", 3)
        return

    def work(k: int) -> None:
        for i in range(args.reads // args.threads):
            service.get_version(NAMES[(i * 7 + k) % len(NAMES)], 1 + i % VERSIONS)

    work(0)  # connections opened, statements prepared
    cpu, wall = time.process_time(), time.perf_counter()
    threads = [threading.Thread(target=work, args=(k,)) for k in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"CPU per read {cpu / args.reads * 1e6:.0f} µs, {args.reads / wall:,.0f} reads/s, "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
