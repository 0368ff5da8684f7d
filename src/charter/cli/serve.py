"""``charter serve``: the registry server (REST v1, the MLflow surface, the web UI)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from charter.cli.state import state
from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput


class LogFormat(StrEnum):
    text = "text"
    json = "json"


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    workers: Annotated[int, typer.Option(
        min=1, help="Worker processes (each a full server; state lives in the database).")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    log_format: Annotated[LogFormat, typer.Option(
        envvar="CHARTER_LOG_FORMAT",
        help="text: uvicorn's lines. json: one JSON object per line (time, level, "
             "request_id, principal, method, route, status, duration_ms, error_code), "
             "and a line per request; see docs/operations.md.")] = LogFormat.text,
    answer_cache_mb: Annotated[int | None, typer.Option(
        "--answer-cache-mb", min=0, metavar="MB",
        help="Memory each worker keeps for answers of MLflow reads, valid until the next "
             "change (default 16, or CHARTER_ANSWER_CACHE_MB, or [server] answer_cache_mb; "
             "0 turns it off). An answer is kept when its request is asked a second time. "
             "Counted in the server's memory: workers x MB.")] = None,
    kept_models_mb: Annotated[int | None, typer.Option(
        "--kept-models-mb", min=0, metavar="MB",
        help="PostgreSQL: memory each worker keeps for the JSON of the models its searches "
             "wrote, by what each model's row read (default 8, or CHARTER_KEPT_MODELS_MB, "
             "or [server] kept_models_mb; 0 turns it off). Never stale: a changed model "
             "reads as another row. Counted in the server's memory: workers x MB.")] = None,
) -> None:
    """Serve the registry over HTTP: REST under /api/v1, MLflow's under /api/2.0/mlflow, UI at /.

    Example: charter serve --port 8080, then mlflow.set_registry_uri("http://127.0.0.1:8080")

    For operators: /healthz (alive), /readyz (database and blob store answer; 503 names
    the failing part), /metrics (Prometheus; needs the `metrics` right when auth is on),
    and --log-format json for log shippers. Every answer has an X-Request-ID header.
    Deploying replicas, alerts and backups: docs/operations.md.
    """
    current = state(ctx)
    if current.is_remote:
        raise InvalidInput(codes.CLI_REMOTE_UNSUPPORTED, "serve runs a server; it cannot serve "
                           "another server", "drop --registry, or give a database URL or folder")
    # Imported here: uvicorn and the app are heavy, and only this command needs them.
    from charter.config import Settings
    from charter.server.access import check_exposure
    from charter.server.run import serve as run_server

    settings = Settings.load({**current.settings_overrides(),
                              "answer_cache_mb": answer_cache_mb,
                              "kept_models_mb": kept_models_mb})
    check_exposure(host, settings.auth_enabled)  # no auth: loopback only (docs/access.md)
    typer.echo(f"Charter on http://{host}:{port}  (data: {settings.database_url}; auth "
               f"{'on' if settings.auth_enabled else 'off'})", err=True)
    run_server(settings, host=host, port=port, workers=workers, log_level=log_level,
               log_format=log_format.value)
