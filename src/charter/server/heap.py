"""The garbage collector's settings while the app serves: started with it, undone with it.

Python's cycle collector scans every tracked object on a full (oldest-generation) pass.
A worker holds ~130,000 of them once it has started (modules, FastAPI's and
SQLAlchemy's tables, the registry's service), and a full pass over them stopped the
event loop for 50–130 ms — every request the worker was answering waited, which was
the p99 of the cold MLflow reads at 100,000 versions (bench/README.md). And a search of
80 models keeps a few thousand objects alive at once, so the default first-generation
threshold (700) collected several times per request and promoted short-lived answers
to the older generations, which made the full passes frequent.

So, at startup: collect once, then ``gc.freeze()`` what is left — the objects that live
as long as the process — out of every later pass; and collect the youngest generation
only after ``YOUNG_THRESHOLD`` net allocations, which an answer's objects, freed by
reference counting, seldom reach. Cycles are still collected, later. At shutdown the
frozen objects are handed back to the collector and the thresholds restored, so a
process that starts and stops many apps (the tests) keeps nothing frozen.
"""

from __future__ import annotations

import gc

from fastapi import FastAPI

YOUNG_THRESHOLD = 10_000  # net allocations between two collections of the youngest generation


def install_heap_settings(app: FastAPI) -> None:
    before: list[tuple[int, int, int]] = []

    def start() -> None:
        before.append(gc.get_threshold())
        gc.collect()
        gc.freeze()
        _, middle, oldest = before[-1]
        gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)

    def stop() -> None:
        if before:
            gc.set_threshold(*before.pop())
            gc.unfreeze()

    app.router.add_event_handler("startup", start)
    app.router.add_event_handler("shutdown", stop)
