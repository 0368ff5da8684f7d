"""The brief refresher: makes the model briefs a change forgot (PostgreSQL), in a thread of
the server process.

Searches read a model's kept brief, or make it on the spot when a change forgot it
(store/model_briefs.py): answers are right either way, the refresher only makes them cheap
again. Every server process runs one; they share the work safely (a refresh skips the
models another holds). It looks for forgotten briefs only when the registry changed since
it last found none — an idle registry costs it one read of the chain head per round — and
while writes go on, every few seconds only: a brief made between two writes of its model
would be forgotten by the next one, and forgetting a kept brief costs that write an update
of the model's row (bench/README.md, "Model briefs kept on PostgreSQL").
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from charter.store import model_briefs
from charter.store.database import Database

log = logging.getLogger("charter.briefs")

EVERY_S = 0.5       # a round: how soon after the registry goes quiet its briefs are kept
BUSY_EVERY_S = 5.0  # how often while it never goes quiet for a round
BATCH = 20          # models per transaction: a writer to one of them waits for these


class BriefRefresher:
    def __init__(self, db: Database, every: float = EVERY_S, busy_every: float = BUSY_EVERY_S,
                 batch: int = BATCH, clock: Callable[[], float] = time.monotonic) -> None:
        self.db, self.every, self.busy_every, self.batch = db, every, busy_every, batch
        self.clock = clock
        self._clean_at: int | None = None  # the chain head when no brief was forgotten
        self._seen: int | None = None      # the chain head at the last round
        self._made_at = clock()            # when the last refresh ran
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="charter-briefs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def round(self) -> int:
        """One round: refresh when the registry changed and has been quiet since the last
        round, or has not been for ``busy_every``; how many briefs were made."""
        head, seen = self.db.generation(), self._seen
        self._seen = head
        if head == self._clean_at:
            return 0
        if head != seen and self.clock() - self._made_at < self.busy_every:
            return 0  # writes are going on: wait for a quiet round
        return self.run_once(head)

    def run_once(self, head: int | None = None) -> int:
        """Make every forgotten brief no other process holds; how many were made."""
        head = self.db.generation() if head is None else head
        self._made_at = self.clock()
        if head == self._clean_at:
            return 0
        made = 0
        while not self._stop.is_set():
            with self.db.housekeeping() as session:
                count = model_briefs.refresh(session, self.batch)
            made += count
            if count < self.batch:
                break
        # Briefs a writer still held were skipped. Its commit moves the head, but a writer
        # that rolls back does not: the registry is taken for clean only when no brief is
        # forgotten now (else the next round looks again).
        with self.db.housekeeping() as session:
            if not model_briefs.forgotten(session):
                self._clean_at = head
        return made

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self.every):
            try:
                self.round()
            except Exception:  # a busy or lost database: the next round tries again
                # once per outage, not every half second while the database is away
                (log.debug if failing else log.warning)(
                    "could not make the forgotten model briefs", exc_info=True)
                failing = True
            else:
                failing = False
