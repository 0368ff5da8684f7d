"""Where a use case runs, as the service's callers see it: how long a use case's first
write may wait for the write turn (``turn_wait``) and what it raises when the wait runs
out (``TurnBusy``); and what a use case run on the event loop raises when it reaches I/O
that would block the loop (``NeedsThread``).

The turn and the loop's reads are the store's (``store/database.py``,
``store/pg_loop.py``); the web's event loop reaches them through here, so nothing above
the service imports the store (charter.web).
"""

from charter.store.database import NeedsThread, TurnBusy, turn_wait

__all__ = ["NeedsThread", "TurnBusy", "turn_wait"]
