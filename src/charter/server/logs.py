"""``charter serve --log-format json``: one JSON object per line, for log shippers.

Every line has ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``; a line
logged while a request is answered carries its ``request_id``; the line that closes a
request (logger ``charter.request``) adds ``principal``, ``method``, ``route`` (the
template, never the raw path), ``status``, ``duration_ms`` and ``error_code`` (for an
error answer). docs/operations.md shows an example.

The text format (the default) keeps uvicorn's lines and logs no line per request.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

FORMATS = ("text", "json")
FORMAT_ENV = "CHARTER_LOG_FORMAT"  # how `charter serve` tells its workers
REQUEST_LOGGER = "charter.request"

# The request being answered, for every line logged while it is (set by server/observe.py).
current_request_id: ContextVar[str | None] = ContextVar("charter_request_id", default=None)

# What a request line adds, in this order, when present.
REQUEST_FIELDS = ("request_id", "principal", "method", "route", "path", "status",
                  "duration_ms", "error_code")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or current_request_id.get()
        if request_id:
            line["request_id"] = request_id
        for name in REQUEST_FIELDS[1:]:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def uvicorn_config(log_format: str, level: str) -> dict[str, Any] | None:
    """The ``log_config`` for uvicorn (it applies it in each worker): None keeps uvicorn's
    own text format."""
    if log_format != "json":
        return None
    level = level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "json",
               "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"json": handler},
        "loggers": {
            "uvicorn": {"handlers": ["json"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["json"], "level": level, "propagate": False},
            "charter": {"handlers": ["json"], "level": level, "propagate": False},
        },
    }
