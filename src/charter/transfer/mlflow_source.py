"""Read an MLflow Model Registry through its REST API (2.0), page by page.

Two listings give everything the import needs: ``registered-models/search``
(names, descriptions, tags, aliases, creation times) and ``model-versions/search``
without a filter (every version with its stage, source, run id, tags and times).
Authentication as the MLflow client does it: a bearer token, or a user name and
password (``MLFLOW_TRACKING_TOKEN``, ``MLFLOW_TRACKING_USERNAME``/``_PASSWORD``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from charter.domain import error_codes as codes
from charter.domain.consolidation import SourceModel, SourceRegistry, SourceVersion
from charter.domain.errors import CharterError, InvalidInput, PermissionDenied, Unauthenticated

API = "/api/2.0/mlflow"
PAGE_SIZE = 1000  # registered-models/search allows at most 1000 per page


class MlflowSource:
    def __init__(self, url: str, *, token: str = "", username: str = "", password: str = "",
                 timeout: float = 30.0, transport: httpx.BaseTransport | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(codes.MLFLOW_URL_INVALID, f"{url!r} is not an MLflow server URL",
                               "give the tracking server's address, e.g. http://mlflow:5000")
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        auth = httpx.BasicAuth(username, password) if username else None
        self._http = httpx.Client(base_url=self.url + API, headers=headers, auth=auth,
                                  timeout=timeout, transport=transport)

    @classmethod
    def from_env(cls, url: str, env: Mapping[str, str]) -> MlflowSource:
        return cls(url, token=env.get("MLFLOW_TRACKING_TOKEN", ""),
                   username=env.get("MLFLOW_TRACKING_USERNAME", ""),
                   password=env.get("MLFLOW_TRACKING_PASSWORD", ""))

    def read(self) -> SourceRegistry:
        try:
            models = tuple(_model(m) for m in self._pages("registered-models/search",
                                                          "registered_models"))
            versions = tuple(_version(v) for v in self._pages("model-versions/search",
                                                              "model_versions"))
        finally:
            self._http.close()
        return SourceRegistry(self.url, models, versions)

    def _pages(self, path: str, key: str) -> Iterator[dict[str, Any]]:
        token, seen = "", set()
        while True:
            params = {"max_results": PAGE_SIZE, **({"page_token": token} if token else {})}
            body = self._get(path, params)
            yield from body.get(key, [])
            token = body.get("next_page_token", "")
            if not token or token in seen:
                return
            seen.add(token)

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise CharterError(codes.MLFLOW_UNREACHABLE,
                               f"cannot reach MLflow at {self.url}: {exc}",
                               "check the URL and that the tracking server is running") from exc
        if response.status_code in (401, 403):
            kind = Unauthenticated if response.status_code == 401 else PermissionDenied
            raise kind("mlflow.denied", f"MLflow at {self.url} refused {path} "
                       f"({response.status_code})", "set MLFLOW_TRACKING_TOKEN, or "
                       "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            detail = body.get("message", "") if isinstance(body, dict) else response.text[:200]
            raise CharterError(codes.MLFLOW_ERROR, f"MLflow at {self.url} answered {path} with "
                               f"{response.status_code}: {detail}",
                               "is this an MLflow tracking server with a model registry?")
        return body


def _pairs(items: list[dict[str, Any]] | None, key: str, value: str) -> dict[str, Any]:
    return {item[key]: item.get(value, "") for item in items or []}


def _model(data: dict[str, Any]) -> SourceModel:
    return SourceModel(
        name=data["name"], created_ms=int(data.get("creation_timestamp", 0)),
        updated_ms=int(data.get("last_updated_timestamp", 0)),
        description=data.get("description", "") or "",
        tags=_pairs(data.get("tags"), "key", "value"),
        aliases={a: int(v) for a, v in _pairs(data.get("aliases"), "alias", "version").items()})


def _version(data: dict[str, Any]) -> SourceVersion:
    return SourceVersion(
        name=data["name"], version=int(data["version"]),
        created_ms=int(data.get("creation_timestamp", 0)),
        updated_ms=int(data.get("last_updated_timestamp", 0)),
        stage=data.get("current_stage", "None") or "None", source=data.get("source", ""),
        run_id=data.get("run_id", "") or "", description=data.get("description", "") or "",
        tags=_pairs(data.get("tags"), "key", "value"), status=data.get("status", "READY"))
