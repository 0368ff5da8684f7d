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
Answers with status 200 are kept, and misses (a model, version or alias that does not
exist answers 404: a fact of the registry at that ``seq`` as much as a found one is),
each at most ``MAX_ITEM`` bytes, in an LRU bounded by bytes: ``charter serve
--answer-cache-mb`` (docs/configuration.md), per worker, counted in the server's
memory; 0 keeps nothing.

An answer is kept only when its request was asked before, recently: the first time a key
is seen it is only noted (``Doorkeeper``, a fixed table of key hashes), the second time
its answer is kept. Requests asked once — a query with a unique parameter, a scan over
every model — then neither fill the memory nor push out answers that are asked again;
a repeated request costs one more computation per worker.

Once the cache is full, a new answer is kept only if its request has been asked more
often, lately, than the least recently used answer it would push out (``Frequency``, a
fixed table of small counters; an answer of an older ``seq`` is pushed out freely). A
scan over more answers than fit — a job walking every model's versions, again and again
— would otherwise push out each answer just before it is asked again, and none would
ever be served; so the cache keeps the part that fits and serves it, and a request that
grows popular still gets in. ``stats()`` reports hits, misses, what was kept and what
was declined, and the size.
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import NamedTuple

from starlette.responses import Response

from charter.api.errors import mlflow_error_response
from charter.domain.errors import NotFound, outcome
from charter.metrics import answer_cache, answer_cache_admission, answer_cache_bytes
from charter.registry import ServerRegistry
from charter.web import run_read

# Per worker (config.Settings.answer_cache_mb). 16, not 32: skewed searches by name hit 82.0%
# at 16 MB and 83.7% at 32 (bench/answer_cache.py), and at 2 workers the 32 MB kept the
# server tree over its 250 MB at 100,000 versions (bench/README.md, "Server memory").
DEFAULT_MB = 16
MAX_ITEM = 256 * 1024
ENTRY_OVERHEAD = 256  # bytes an entry costs beyond its body: its key, tuple and links
# The doorkeeper remembers about as many keys as the cache holds answers of this size (a
# point read's answer is ~1 kB, a search's tens): a key asked again within that many other
# keys is let in. 8 bytes a slot, so 1/128 of the cache's bound.
DOORKEEPER_BYTES_PER_SLOT = 1024
MIN_DOORKEEPER_SLOTS = 1024
# The statuses of answers kept: a found thing, and a miss (the error body without its
# request id: server/observe.py stamps each answer's own on the way out).
KEPT_STATUSES = frozenset({200, 404})
# A full cache weighs a new answer against at most this many of the least recently used
# ones it would push out (a 256 kB answer may push out hundreds of small ones; the first
# stand for the rest, per byte).
VICTIMS_WEIGHED = 64


class Kept(NamedTuple):
    body: bytes
    status: int


class Doorkeeper:
    """Which keys were asked recently: one 64-bit hash per slot, the slot chosen by the
    hash's low bits. Asking whether a key was seen notes it; a later key landing in the
    same slot forgets it (so "recently" is about ``slots`` other keys). Memory is fixed:
    8 bytes a slot, whatever is asked. A different key with the same 64-bit hash would
    be let in once: harmless, it is only an admission."""

    __slots__ = ("_mask", "_table")

    def __init__(self, slots: int) -> None:
        size = max(MIN_DOORKEEPER_SLOTS, 1 << max(slots - 1, 1).bit_length())  # a power of 2
        self._mask = size - 1
        self._table = array("Q", bytes(8 * size))

    @property
    def slots(self) -> int:
        return len(self._table)

    def seen(self, key: Hashable) -> bool:
        """Whether ``key`` was noted recently; notes it either way."""
        fingerprint = hash(key) & 0xFFFF_FFFF_FFFF_FFFF or 1  # 0 marks an empty slot
        slot = fingerprint & self._mask
        if self._table[slot] == fingerprint:
            return True
        self._table[slot] = fingerprint
        return False


class Frequency:
    """How often each key was asked lately, roughly: a count-min sketch — four rows of
    8-bit counters, a key counted in one counter of each row (chosen by 16 bits of its
    hash each), its estimate the smallest of the four. All counters are halved after
    ``AGE_AFTER`` asks per answer the cache holds (at least ``MIN_AGE_ASKS``), so what was
    popular a while ago fades as fast as the cache turns over. Memory is fixed: 4 bytes a
    column. Two keys sharing all four counters only overestimate each other."""

    __slots__ = ("_counts", "_mask", "_asks")
    # 3: a registry walked over and over keeps a third of its answers served (10: 35%, 1:
    # none) while a new set of requests takes the room nearly as fast as with no counting
    # (10: 64–71% hits where least recently used alone had 76–78%; 3: 72–77%;
    # bench/cache_replay.py, bench/README.md "The answer cache under a scan").
    AGE_AFTER = 3
    MIN_AGE_ASKS = 1024
    _HALF = bytes(n // 2 for n in range(256))

    def __init__(self, width: int) -> None:
        width = min(1 << 16, max(MIN_DOORKEEPER_SLOTS, 1 << max(width - 1, 1).bit_length()))
        self._counts = bytearray(4 * width)
        self._mask = width - 1
        self._asks = 0

    def _cells(self, key: Hashable) -> tuple[int, int, int, int]:
        fingerprint, mask = hash(key) & 0xFFFF_FFFF_FFFF_FFFF, self._mask
        width = mask + 1
        return (fingerprint & mask, width + (fingerprint >> 16 & mask),
                2 * width + (fingerprint >> 32 & mask), 3 * width + (fingerprint >> 48 & mask))

    def add(self, key: Hashable, held: int = 0) -> None:
        """Count an ask of ``key``, the cache holding ``held`` answers."""
        counts = self._counts
        for cell in self._cells(key):
            if counts[cell] < 255:
                counts[cell] += 1
        self._asks += 1
        if self._asks >= max(self.MIN_AGE_ASKS, self.AGE_AFTER * held):
            self._counts = counts.translate(self._HALF)
            self._asks = 0

    def estimate(self, key: Hashable) -> int:
        counts = self._counts
        return min(counts[cell] for cell in self._cells(key))


class AnswerCache:
    """A per-process LRU of (generation, body, status) by request key, bounded by ``max_bytes``
    (bodies, keys and per-entry overhead, so many small answers cannot outgrow it).
    ``admit_first_ask`` keeps answers asked once too (no doorkeeper): for measuring."""

    def __init__(self, max_bytes: int = DEFAULT_MB * 1024 * 1024, *,
                 admit_first_ask: bool = False) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[int, Kept, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # a read sent to the thread pool may answer (web.run_read)
        self._doorkeeper = (None if admit_first_ask or max_bytes <= 0 else
                            Doorkeeper(max_bytes // DOORKEEPER_BYTES_PER_SLOT))
        self._frequency = Frequency(max_bytes // DOORKEEPER_BYTES_PER_SLOT)
        self.hits = self.misses = self.evictions = 0
        self.stored = self.first_asks = self.too_large = self.colder = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def stats(self) -> dict[str, int | float]:
        """Counters since start, for /metrics and the bench: hits, misses, hit_rate;
        what became of the answers computed on a miss — stored, first_asks (asked for the
        first time recently: noted, not kept), too_large, colder (the cache full of answers
        asked as often or more); evictions, entries, bytes (what is held), max_bytes (the
        configured bound) and doorkeeper_slots (0: none)."""
        with self._lock:
            asked = self.hits + self.misses
            return {"hits": self.hits, "misses": self.misses,
                    "hit_rate": round(self.hits / asked, 4) if asked else 0.0,
                    "stored": self.stored, "first_asks": self.first_asks,
                    "too_large": self.too_large, "colder": self.colder,
                    "evictions": self.evictions, "entries": len(self._items),
                    "bytes": self._bytes, "max_bytes": self.max_bytes,
                    "doorkeeper_slots": self._doorkeeper.slots if self._doorkeeper else 0}

    def get(self, key: Hashable, generation: int) -> Kept | None:
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

    def worth_checking(self, key: Hashable) -> bool:
        """Whether ``key``'s answer is held or would be kept: False for a key not asked
        recently (noted now, counted as a miss and a first ask, as ``put`` would), whose
        answer then needs no generation read, saving a statement per one-off request.
        Every ask is counted (``Frequency``): what decides between answers once full."""
        with self._lock:
            self._frequency.add(key, len(self._items))
            if self._doorkeeper is None or key in self._items or self._doorkeeper.seen(key):
                return True
            self.misses += 1
            self.first_asks += 1
        answer_cache(hit=False)
        answer_cache_admission("first_ask")
        return False

    def put(self, key: Hashable, generation: int, body: bytes, status: int = 200) -> bool:
        """Keep ``body`` (answered with ``status``) as the answer to ``key`` at
        ``generation`` if the key was asked recently before (or is held, for an older
        generation) and, when the cache is full, is worth the room (``_colder``);
        whether it was kept."""
        size = len(body) + _key_size(key) + ENTRY_OVERHEAD
        if len(body) > MAX_ITEM or size > self.max_bytes:
            with self._lock:
                self.too_large += 1
            answer_cache_admission("too_large")
            return False
        grown = evicted = 0
        with self._lock:
            old = self._items.pop(key, None)
            if old is None and self._doorkeeper is not None \
                    and not self._doorkeeper.seen(key):
                self.first_asks += 1
                outcome = "first_ask"
            elif old is None and self._colder(key, generation, size):
                self.colder += 1
                outcome = "colder"
            else:
                before, evictions = self._bytes, self.evictions
                self._store(key, generation, Kept(body, status), size, old)
                grown, evicted, outcome = self._bytes - before, self.evictions - evictions, \
                    "stored"
        if outcome == "stored":
            answer_cache_bytes(grown)  # charter_answer_cache_bytes
        answer_cache_admission(outcome, evicted)
        return outcome == "stored"

    def _colder(self, key: Hashable, generation: int, size: int) -> bool:
        """Whether ``key``'s answer (``size`` bytes, computed at ``generation``) is worth
        less than the least recently used answer it would push out (under the lock):
        asked no more often lately. Sizes twice apart or more are weighed per byte: a
        kept answer saves about one computation an ask whatever its size (0.2–0.5 ms of
        the server's CPU, a point read to a page of versions), so many small answers asked
        as often earn the room of a large one — and an answer that needs the room of
        several is weighed against them together (the first ``VICTIMS_WEIGHED`` standing
        for the rest). Closer sizes count as equal, against the first answer alone: a
        scan's pages, a few bytes apart, would otherwise push through. Answers of an older
        registry go freely; an answer older than one held is never kept."""
        needed = self._bytes + size - self.max_bytes
        if needed <= 0 or not self._items:
            return False
        asked, count = self._frequency.estimate, self._frequency.estimate(key)
        first = next(iter(self._items))
        held, _, held_size = self._items[first]
        if held != generation:  # older: never served again; newer: this one never would be
            return held > generation
        if size < 2 * held_size:  # about one answer's room: weighed against it alone
            freed, their_asks = held_size, asked(first)
            if held_size < 2 * size:
                return count <= their_asks
        else:
            freed = their_asks = 0
            for weighed, (victim, (held, _, held_size)) in enumerate(self._items.items()):
                if held > generation:
                    return True
                if held == generation:
                    their_asks += asked(victim)
                freed += held_size
                if freed >= needed or weighed + 1 >= VICTIMS_WEIGHED:
                    break
        return count * freed <= their_asks * size  # per byte

    def _store(self, key: Hashable, generation: int, kept: Kept, size: int,
               old: tuple[int, Kept, int] | None) -> None:
        """Hold the answer, replacing ``old``, then drop the least recently used ones until
        the bound is kept (under the lock)."""
        if old is not None:
            self._bytes -= old[2]
        # A copy: the bytes orjson returns keep its whole output buffer (8,145 bytes held
        # for a 3,177-byte answer, measured with tracemalloc); the copy holds the answer.
        self._items[key] = (generation, kept._replace(body=bytes(memoryview(kept.body))), size)
        self._bytes += size
        self.stored += 1
        while self._bytes > self.max_bytes:
            _, (_, _, dropped) = self._items.popitem(last=False)
            self._bytes -= dropped
            self.evictions += 1


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
    is needed. A request not asked recently is answered without the check: its answer
    is not kept (the doorkeeper), so the ``seq`` would go unused. A miss (NotFound) is
    answered here, in MLflow's error shape, so that it can be kept."""
    if not service.principal.sees_all or not cache.enabled or not cache.worth_checking(key):
        return await run_read(service, compute)
    before = await service.db.loop_generation()
    kept = cache.get(key, before)
    if kept is not None:
        return Response(kept.body, status_code=kept.status, media_type="application/json")
    try:
        response = await run_read(service, compute)
    except NotFound as error:
        if outcome(error).mlflow_status not in KEPT_STATUSES:
            raise
        response = mlflow_error_response(error)
    if response.status_code in KEPT_STATUSES:
        cache.put(key, before, bytes(response.body), response.status_code)
    return response
