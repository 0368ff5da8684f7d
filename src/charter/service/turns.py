"""The write turn as the service's callers see it: how long a use case's first write may
wait for it (``turn_wait``) and what it raises when the wait runs out (``TurnBusy``).

The turn itself is the store's (``store/database.py``); the web's event loop sets the
wait through here, so nothing above the service imports the store (charter.web).
"""

from charter.store.database import TurnBusy, turn_wait

__all__ = ["TurnBusy", "turn_wait"]
