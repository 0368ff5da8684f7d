"""Each searched model's MLflow JSON, kept by the text the store read it as.

A model search on PostgreSQL hands each model over as its row's text (``Stored``,
store/search.py ``model_briefs``); the text holds every field the model's JSON shows, so
the JSON written for one text is right for every later read of that same text — on this
worker, whatever changed meanwhile in any worker or replica: a changed model reads as
another text. Decoding and shaping were most of a search's server CPU (80 models: ~0.8 of
1.7 ms; bench/README.md "Model searches keep each model's JSON").

Bounded in bytes per worker (``Settings.kept_models_mb``; 0: nothing kept), the least
recently used dropped first; a model whose text and JSON together pass ``ITEM_LIMIT`` is
shaped each time instead. What makes the JSON must be a pure function of the text: no
setting, principal or request may change it (api/mlflow/shapes.py ``registered_model``).
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict

ITEM_LIMIT = 64 * 1024
# An entry's own cost beyond its key and value: the ordered dict's slot and link, the
# (JSON, cost) pair (tracemalloc over 3,200 entries: ~173 bytes).
_ENTRY_OVERHEAD = 176


class KeptJson:
    """JSON bytes kept by the raw text they were made from; thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.held_bytes = 0
        self._held: OrderedDict[str, tuple[bytes, int]] = OrderedDict()  # JSON, its cost
        self._lock = threading.Lock()

    def get(self, raw: str) -> bytes | None:
        with self._lock:
            found = self._held.get(raw)
            if found is None:
                return None
            self._held.move_to_end(raw)
            return found[0]

    def keep(self, raw: str, made: bytes) -> None:
        size = sys.getsizeof(raw) + sys.getsizeof(made) + _ENTRY_OVERHEAD
        if size > min(ITEM_LIMIT, self.max_bytes):
            return
        with self._lock:
            if raw in self._held:
                return
            self._held[raw] = (made, size)
            self.held_bytes += size
            self._trim()

    def resize(self, max_bytes: int) -> None:
        with self._lock:
            self.max_bytes = max_bytes
            self._trim()

    def _trim(self) -> None:
        while self._held and self.held_bytes > self.max_bytes:
            self.held_bytes -= self._held.popitem(last=False)[1][1]

    def clear(self) -> None:
        with self._lock:
            self._held.clear()
            self.held_bytes = 0

    def __len__(self) -> int:
        return len(self._held)


# One per worker process, sized by create_app from the settings: with several apps in one
# process (tests) the last one's setting holds for all — harmless, since what is kept
# depends on the text alone.
MODELS = KeptJson(8 * 1024 * 1024)
