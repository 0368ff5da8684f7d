"""Reading a logged model's ``MLmodel`` from the MLflow tracking server an admin named in
Charter's settings (``[mlflow] tracking_uri``; docs/configuration.md), for a version whose
client declared no interface itself.

Only that server is ever asked: the request's source gives the run id, the path under the
run and the logged-model id, never an address (DESIGN §4: sources are not fetched). Two
of the tracking server's own routes serve the file: a logged model's artifacts (MLflow 3,
``models:/m-…`` sources and a ``model_id``) and a run's (``runs:/<run_id>/<path>``). A
server that is down, slow, or does not have the file declares nothing; registration goes
on without an interface.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from charter.artifacts.mlmodel import FILE_NAME, MAX_BYTES
from charter.domain import error_codes as codes
from charter.domain.errors import CharterError, InvalidInput
from charter.domain.paths import safe_relative_path

if TYPE_CHECKING:  # httpx when a signature is fetched: opening a registry needs no HTTP client
    import httpx

TIMEOUT_S = 5.0
_MODEL_ID = re.compile(r"m-[0-9a-f]{1,64}")
_RUN_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")


def check_tracking_uri(uri: object) -> str:
    """``http://`` or ``https://`` and a host: the one address Charter reads signatures from."""
    text = uri if isinstance(uri, str) else ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise InvalidInput(codes.CONFIG_INVALID,
                           f"[mlflow] tracking_uri {str(uri)[:80]!r} is not an http(s) address",
                           'e.g. tracking_uri = "http://mlflow.internal:5000"')
    return text.rstrip("/")


def mlmodel_location(source: str, run_id: str, model_id: str) -> tuple[str, dict[str, str]] | None:
    """The tracking server's route and query for the MLmodel of a version with this source
    (None when neither a logged model nor a run names it)."""
    if not model_id and source.startswith("models:/m-"):
        model_id = source.removeprefix("models:/").split("/", 1)[0]
    if _MODEL_ID.fullmatch(model_id):
        return (f"/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files",
                {"artifact_file_path": FILE_NAME})
    if source.startswith("runs:/"):
        run, _, path = source.removeprefix("runs:/").partition("/")
        run = run or run_id
        if not _RUN_ID.fullmatch(run):
            return None
        try:
            where = f"{safe_relative_path(path.strip('/'))}/{FILE_NAME}" if path.strip("/") \
                else FILE_NAME
        except CharterError:
            return None
        return "/get-artifact", {"run_id": run, "path": where}
    return None


def fetch_mlmodel(tracking_uri: str, source: str, run_id: str, model_id: str,
                  *, transport: httpx.BaseTransport | None = None) -> bytes | None:
    """The MLmodel's bytes from the configured tracking server, or None."""
    found = mlmodel_location(source, run_id, model_id)
    if found is None:
        return None
    route, query = found
    import httpx

    try:
        with httpx.Client(base_url=tracking_uri, timeout=TIMEOUT_S, transport=transport,
                          follow_redirects=False) as client, \
                client.stream("GET", route, params=query) as answer:
            if answer.status_code != 200:
                return None
            body = b""
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    return None
            return body
    except httpx.HTTPError:
        return None
