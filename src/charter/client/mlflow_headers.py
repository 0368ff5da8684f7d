"""An MLflow request header provider: MLflow clients report as a Charter consumer.

Installed with Charter as the ``mlflow.request_header_provider`` entry point
``charter-consumer``, so any MLflow client in an environment where Charter is installed
sends ``X-Charter-Consumer: $CHARTER_CONSUMER`` on every registry call when that
variable is set (and nothing when it is not). Charter's MLflow surface then records
what the lookups answered (docs/mlflow.md, "Consumers").

MLflow only calls ``in_context()`` and ``request_headers()``; the class needs nothing
of MLflow, so importing it never imports MLflow.
"""

from __future__ import annotations

import os

from charter.domain.consumers import HEADER

ENV = "CHARTER_CONSUMER"


class ConsumerHeaderProvider:
    """Adds ``X-Charter-Consumer`` from ``CHARTER_CONSUMER`` when it is set."""

    def in_context(self) -> bool:
        return bool(os.environ.get(ENV, "").strip())

    def request_headers(self) -> dict[str, str]:
        return {HEADER: os.environ[ENV].strip()}
