"""The checkpoint timer's place in the server: started with the app, stopped with it.

Writes sign checkpoints as they happen (every N events); the timer signs the last
events of a registry that went quiet once ``[audit] checkpoint_every`` has passed.
Every server process runs one; the write turn makes them agree (docs/provenance.md).
"""

from __future__ import annotations

from fastapi import FastAPI

from charter.service.checkpoints import CheckpointTimer

MAX_INTERVAL_S = 60.0


def install_checkpoint_timer(app: FastAPI) -> None:
    def start() -> None:
        service = app.state.service
        checkpointer = service.checkpointer
        if checkpointer is not None:
            every = min(MAX_INTERVAL_S, checkpointer.schedule.every.total_seconds() / 2)
            app.state.checkpoint_timer = CheckpointTimer(service, max(every, 0.5))
            app.state.checkpoint_timer.start()

    def stop() -> None:
        timer = getattr(app.state, "checkpoint_timer", None)
        if timer is not None:
            timer.stop()
            app.state.checkpoint_timer = None

    app.router.add_event_handler("startup", start)
    app.router.add_event_handler("shutdown", stop)
