"""Pointing the real MLflow client at a test's servers, and putting it back afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import mlflow


@contextmanager
def mlflow_client_env(env: dict[str, str]) -> Iterator[None]:
    """Set ``env`` (the client's retry and timeout variables) for the block; restore them,
    and the tracking and registry URIs the block may set, when it ends."""
    saved_env = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    saved_uris = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved_uris[0])
        mlflow.set_registry_uri(saved_uris[1])
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
