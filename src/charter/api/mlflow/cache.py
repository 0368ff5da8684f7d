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
Only answers with status 200 are kept, each at most ``MAX_ITEM`` bytes, in a bounded LRU.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from starlette.responses import Response

from charter.service import RegistryService
from charter.web import run_read

MAX_ENTRIES = 4096
MAX_BYTES = 8 * 1024 * 1024  # per worker: the server tree stays within its memory budget
MAX_ITEM = 256 * 1024


class AnswerCache:
    """A per-process LRU of (generation, status, body) by request key."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[int, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # the thread pool answers PostgreSQL reads
        self.hits = self.misses = 0

    def get(self, key: Hashable, generation: int) -> bytes | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] != generation:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[1]

    def put(self, key: Hashable, generation: int, body: bytes) -> None:
        if len(body) > MAX_ITEM:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old[1])
            self._items[key] = (generation, body)
            self._bytes += len(body)
            while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= len(dropped)


async def answer(cache: AnswerCache, service: RegistryService, key: Hashable,
                 compute: Callable[[], Response]) -> Response:
    """The cached answer for ``key`` if the registry has not changed since, else ``compute``'s.

    The check runs on the event loop (on PostgreSQL one prepared statement,
    store/driver.py ``HeadReader``): a hit takes no thread hop; ``compute`` runs where
    reads run (charter/web.py ``run_read``). An answer is kept under the ``seq`` read
    before it was computed: it saw that state or a later one, and if a later one, the
    ``seq`` has moved for good (it only grows), so it is never served. No second reading
    is needed."""
    if not service.principal.sees_all:
        return await run_read(service, compute)
    before = await service.db.loop_generation()
    body = cache.get(key, before)
    if body is not None:
        return Response(body, media_type="application/json")
    response = await run_read(service, compute)
    if response.status_code == 200:
        cache.put(key, before, bytes(response.body))
    return response
