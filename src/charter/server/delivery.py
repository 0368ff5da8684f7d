"""The webhook delivery worker's place in the server: started with the app, stopped with it.

Every server process runs one (``[webhooks] worker = false`` turns it off, e.g. on
replicas that should only answer requests); they share the outbox safely, see
``charter.store.webhooks``.
"""

from __future__ import annotations

from fastapi import FastAPI

from charter.service.delivery import DeliveryWorker


def install_worker(app: FastAPI) -> None:
    def start() -> None:
        service = app.state.service
        settings = service.policies.webhooks
        if settings.worker:
            app.state.delivery_worker = DeliveryWorker(service.db, settings, clock=service.clock)
            app.state.delivery_worker.start()

    def stop() -> None:
        worker = getattr(app.state, "delivery_worker", None)
        if worker is not None:
            worker.stop()
            app.state.delivery_worker = None

    app.router.add_event_handler("startup", start)
    app.router.add_event_handler("shutdown", stop)
