"""``charter serve``: migrate once, then run uvicorn (one process or N workers)."""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile

import uvicorn

from charter.bootstrap import build_service
from charter.config import Settings
from charter.metrics import MULTIPROC_ENV
from charter.server.access import check_exposure
from charter.server.app import MIGRATED_ENV, create_app
from charter.server.logs import FORMAT_ENV, uvicorn_config
from charter.server.protocol import HTTP_PROTOCOL


def settings_env(settings: Settings) -> dict[str, str]:
    """What worker processes need to rebuild the same settings."""
    env = {"CHARTER_HOME": str(settings.home), "CHARTER_DATABASE_URL": settings.database_url,
           "CHARTER_BLOB_ROOT": str(settings.blob_root),
           "CHARTER_NAMING_MODE": settings.naming_mode,
           "CHARTER_AUTH": "on" if settings.auth_enabled else "off",
           "CHARTER_AUTH_DEFAULT_ROLE": settings.auth_default_role,
           "CHARTER_ANSWER_CACHE_MB": str(settings.answer_cache_mb),
           "CHARTER_KEPT_MODELS_MB": str(settings.kept_models_mb)}
    if settings.config_file:
        env["CHARTER_CONFIG"] = str(settings.config_file)
    return env


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8080,
          workers: int = 1, log_level: str = "warning", log_format: str = "text") -> None:
    check_exposure(host, settings.auth_enabled)  # before anything binds or migrates
    service = build_service(settings, actor="server")  # migrates once, before any worker
    options: dict[str, object] = dict(
        host=host, port=port, log_level=log_level, loop="uvloop", http=HTTP_PROTOCOL,
        timeout_graceful_shutdown=10, access_log=False)
    log_config = uvicorn_config(log_format, log_level)
    if log_config is not None:
        options["log_config"] = log_config  # uvicorn applies it, in every worker too
    os.environ[FORMAT_ENV] = log_format
    if workers <= 1:
        uvicorn.run(create_app(service, settings, log_format=log_format),
                    **options)  # type: ignore[arg-type]
        return
    # Several workers: this process becomes the small supervisor (server/supervisor.py),
    # which forks workers that each build the app from the environment.
    service.db.dispose()
    os.environ.update(settings_env(settings))
    os.environ[MIGRATED_ENV] = "1"
    # glibc gives each thread that allocates its own malloc arena, up to 8 per core; the
    # workers' thread pools would keep memory in many of them. Two are plenty here.
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    # Each worker writes its metrics to files here, and a scrape of any worker reads them
    # all (charter.metrics); the supervisor removes the directory when it stops.
    private_metrics = MULTIPROC_ENV not in os.environ
    if private_metrics:
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="charter-metrics-")
    spec = {"host": host, "port": port, "workers": workers,
            "private_metrics_dir": private_metrics,
            "uvicorn": {k: v for k, v in options.items() if k not in ("host", "port")}}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "charter.server.supervisor", json.dumps(spec)])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

