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

And every ``TRIM_EVERY_S`` the worker hands the free pages inside glibc's heap back to
the system (``malloc_trim``): an answer of tens of kB is malloc'd, and after a burst of
them the freed chunks lie between live ones, where glibc keeps their pages resident.
Measured after the 100,000-version benchmark: 3–4 MB a worker (bench/README.md,
"Server memory"); a trim takes 0.2–3.3 ms on the event loop (3.3 ms with ~30 MB of holes).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import sys
from collections.abc import Callable

from fastapi import FastAPI

YOUNG_THRESHOLD = 10_000  # net allocations between two collections of the youngest generation
TRIM_EVERY_S = 10.0


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where there is none (musl, macOS)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """Give the heap's free pages back to the system; whether this platform can."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


def install_heap_settings(app: FastAPI) -> None:
    before: list[tuple[int, int, int]] = []
    timer: list[asyncio.TimerHandle] = []

    def trim_then_again() -> None:
        release_free_memory()
        timer[:] = [asyncio.get_running_loop().call_later(TRIM_EVERY_S, trim_then_again)]

    def start() -> None:
        before.append(gc.get_threshold())
        gc.collect()
        gc.freeze()
        _, middle, oldest = before[-1]
        gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)
        if _TRIM is not None:
            timer[:] = [asyncio.get_running_loop().call_later(TRIM_EVERY_S, trim_then_again)]

    def stop() -> None:
        for handle in timer:
            handle.cancel()
        timer.clear()
        if before:
            gc.set_threshold(*before.pop())
            gc.unfreeze()

    app.router.add_event_handler("startup", start)
    app.router.add_event_handler("shutdown", stop)
