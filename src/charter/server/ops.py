"""The operator's routes: ``/readyz`` (can this replica serve?) and ``/metrics`` (Prometheus).

``/healthz`` (server/app.py) stays a liveness check: the process answers. ``/readyz``
asks the database (a read of the chain head, no write) and the blob store (the folder,
or the bucket) and answers 503 naming the failing part, so a load balancer stops
sending requests to a replica that cannot serve them. ``/metrics`` needs the
``metrics`` right when authentication is on (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import charter.metrics as metrics
from charter.domain.access import METRICS
from charter.service import RegistryService
from charter.web import PUBLIC, allow, auth_enabled, registry_wide

log = logging.getLogger("charter.ops")

READY_TIMEOUT_S = 5.0  # a probe slower than this counts as failing


async def _probe(name: str, check: Callable[[], object]) -> dict[str, object]:
    try:
        await asyncio.wait_for(run_in_threadpool(check), READY_TIMEOUT_S)
    except Exception as error:  # noqa: BLE001 - any failure makes the part not ready
        reason = (f"no answer within {READY_TIMEOUT_S:g} s" if isinstance(error, TimeoutError)
                  else f"{type(error).__name__}: {str(error)[:300]}")
        log.warning("readiness: %s is failing: %s", name, reason)
        return {"ok": False, "error": reason}
    return {"ok": True}


def install(app: FastAPI) -> None:
    @app.get("/readyz", include_in_schema=False)
    @allow(PUBLIC)
    async def readyz(request: Request) -> JSONResponse:
        service: RegistryService = request.app.state.service
        checks = {"database": await _probe("database", service.db.check_ready),
                  "blob_store": await _probe("blob_store", service.blobs.check_ready)}
        failing = [part for part, result in checks.items() if not result["ok"]]
        if auth_enabled(request):  # strangers may ask; the reasons stay in the server log
            for result in checks.values():
                if "error" in result:
                    result["error"] = "see the server log"
        body = {"status": "not_ready" if failing else "ready", "failing": failing,
                "checks": checks}
        return JSONResponse(body, status_code=503 if failing else 200,
                            headers={"Cache-Control": "no-store"})

    @app.get("/metrics", include_in_schema=False)
    @allow(registry_wide(METRICS))
    async def metrics_text(request: Request) -> Response:
        service: RegistryService = request.app.state.service
        extra: dict[str, tuple[str, float]] = {}
        try:
            counts = await run_in_threadpool(service.outbox_counts)
            extra["charter_outbox_depth"] = (
                "Webhook deliveries waiting in the outbox (all replicas)", counts["pending"])
            extra["charter_webhook_dead_letters"] = (
                "Webhook deliveries given up on, until redelivered (all replicas)",
                counts["dead"])
        except Exception as error:  # noqa: BLE001 - the process's own metrics still answer
            log.warning("metrics: the outbox could not be read: %s", error)
        body = await run_in_threadpool(metrics.exposition, extra)
        return Response(body, media_type=metrics.CONTENT_TYPE,
                        headers={"Cache-Control": "no-store"})
