"""Answers of the MLflow surface's read calls, kept while the registry has not changed.

Every change to the registry appends an audit event, and the chain head's ``seq``
counts them in the database itself. An answer is kept under the ``seq`` read just
before it was computed, and served only while the ``seq`` is still that one: then it
is the registry's answer at that ``seq``, whichever worker process or replica makes the
next change. Checking costs one primary-key read; a hit then skips the use case and
the JSON encoding.

Only principals who may read every model share answers (the local admin of an
unauthenticated server, admins, a registry-wide role): their answers do not depend
on who asks. Others, whose view depends on their grants, are answered afresh.
Only answers with status 200 are kept, each at most ``MAX_ITEM`` bytes, in an LRU bounded
by bytes: ``charter serve --answer-cache-mb`` (docs/configuration.md), per worker, counted
in the server's memory; 0 keeps nothing. ``stats()`` reports hits, misses and size.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from starlette.responses import Response

from charter.metrics import answer_cache, answer_cache_bytes
from charter.registry import ServerRegistry
from charter.web import run_read

DEFAULT_MB = 32  # per worker (config.Settings.answer_cache_mb)
MAX_ITEM = 256 * 1024
ENTRY_OVERHEAD = 256  # bytes an entry costs beyond its body: its key, tuple and links


class AnswerCache:
    """A per-process LRU of (generation, body) by request key, bounded by ``max_bytes``
    (bodies, keys and per-entry overhead, so many small answers cannot outgrow it)."""

    def __init__(self, max_bytes: int = DEFAULT_MB * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[int, bytes, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # the thread pool answers PostgreSQL reads
        self.hits = self.misses = self.evictions = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def stats(self) -> dict[str, int | float]:
        """Counters since start, for /metrics and the bench: hits, misses, hit_rate,
        evictions, entries, bytes (what is held) and max_bytes (the configured bound)."""
        with self._lock:
            asked = self.hits + self.misses
            return {"hits": self.hits, "misses": self.misses,
                    "hit_rate": round(self.hits / asked, 4) if asked else 0.0,
                    "evictions": self.evictions, "entries": len(self._items),
                    "bytes": self._bytes, "max_bytes": self.max_bytes}

    def get(self, key: Hashable, generation: int) -> bytes | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] != generation:
                self.misses += 1
                answer_cache(hit=False)
                return None
            self._items.move_to_end(key)
            self.hits += 1
            answer_cache(hit=True)
            return item[1]

    def put(self, key: Hashable, generation: int, body: bytes) -> None:
        size = len(body) + _key_size(key) + ENTRY_OVERHEAD
        if len(body) > MAX_ITEM or size > self.max_bytes:
            return
        with self._lock:
            before = self._bytes
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[2]
            self._items[key] = (generation, body, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, _, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped
                self.evictions += 1
            answer_cache_bytes(self._bytes - before)  # charter_answer_cache_bytes


def _key_size(key: Hashable) -> int:
    """The bytes a request key holds (its query string and body; the handler is shared)."""
    parts = key if isinstance(key, tuple) else (key,)
    return sum(len(part) for part in parts if isinstance(part, (bytes, str)))


async def answer(cache: AnswerCache, service: ServerRegistry, key: Hashable,
                 compute: Callable[[], Response]) -> Response:
    """The cached answer for ``key`` if the registry has not changed since, else ``compute``'s.

    The check runs on the event loop (on PostgreSQL one prepared statement,
    store/driver.py ``HeadReader``): a hit takes no thread hop; ``compute`` runs where
    reads run (charter/web.py ``run_read``). An answer is kept under the ``seq`` read
    before it was computed: it saw that state or a later one, and if a later one, the
    ``seq`` has moved for good (it only grows), so it is never served. No second reading
    is needed."""
    if not service.principal.sees_all or not cache.enabled:
        return await run_read(service, compute)
    before = await service.db.loop_generation()
    body = cache.get(key, before)
    if body is not None:
        return Response(body, media_type="application/json")
    response = await run_read(service, compute)
    if response.status_code == 200:
        cache.put(key, before, bytes(response.body))
    return response
