"""``RemoteRegistry``: the Registry interface over a Charter server's REST v1.

Same method names, parameters, return types and error classes as the embedded
``RegistryService``, so code written against ``charter.connect(...)`` does not care
where the registry lives. One keep-alive connection pool per instance; close it
with ``close()`` or use the registry as a context manager.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from charter.artifacts.cache import BlobCache
from charter.artifacts.destination import pull_into
from charter.client import records, transfer
from charter.client.access import AccessClientMixin
from charter.client.governance import GovernanceClient
from charter.client.interfaces import InterfaceClient, interface_body
from charter.client.provenance import ProvenanceClient, signed_text, signer_text
from charter.client.session import Session, segment
from charter.domain import error_codes as codes
from charter.domain.consumers import HEADER as CONSUMER_HEADER
from charter.domain.consumers import ConsumerRecord, ConsumersView
from charter.domain.errors import InvalidInput
from charter.domain.interface import Interface
from charter.domain.lifecycle import ANY, Stage
from charter.domain.naming import Finding
from charter.domain.paths import safe_relative_path
from charter.domain.records import (
    EventRecord,
    FileRecord,
    ModelRecord,
    Page,
    Resolution,
    VersionRecord,
)

Progress = Callable[[int], None]  # the service's type; not imported, to keep the client light


def default_actor() -> str:
    """Who to claim to be: ``CHARTER_ACTOR``, else the OS user (as the embedded registry)."""
    try:
        return os.environ.get("CHARTER_ACTOR") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


class RemoteRegistry(AccessClientMixin, GovernanceClient, ProvenanceClient, InterfaceClient):
    def __init__(self, url: str, *, token: str | None = None, actor: str | None = None,
                 timeout: float | httpx.Timeout | None = None,
                 transport: httpx.BaseTransport | None = None,
                 cache_dir: str | Path | None = None) -> None:
        self._session = Session(url, token=token, timeout=timeout, transport=transport)
        self.url = self._session.url
        self.actor = actor or default_actor()
        self.cache = BlobCache(cache_dir)  # where pulled blobs are kept (charter.artifacts.cache)

    def __repr__(self) -> str:
        return f"RemoteRegistry({self.url!r}, actor={self.actor!r})"

    def as_actor(self, actor: str) -> RemoteRegistry:
        """The same connection pool, acting for someone else (as the service's ``as_actor``)."""
        other = object.__new__(RemoteRegistry)
        other.__dict__.update(self.__dict__, actor=actor)
        return other

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> RemoteRegistry:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, *, json: Any = None, params: Any = None,
              headers: dict[str, str] | None = None) -> Any:
        return self._session.call(method, path, actor=self.actor, json=json, params=params,
                                  headers=headers)

    # ---- models ---------------------------------------------------------------------

    def create_model(self, name: str, *, description: str = "",
                     tags: dict[str, str] | None = None, reason: str = "") -> ModelRecord:
        body = {"name": name, "description": description, "tags": tags or {}, "reason": reason}
        return records.model(self._call("POST", "/models", json=body))

    def get_model(self, name: str) -> ModelRecord:
        return records.model(self._call("GET", _model(name)))

    def list_models(self, *, name_like: str = "", tag: str = "", stage: str = "",
                    max_results: int = 100, page_token: str = "") -> Page:
        params = {"name_like": name_like, "tag": tag, "stage": stage,
                  "max_results": max_results, "page_token": page_token}
        return records.model_page(self._call("GET", "/models", params=params))

    def rename_model(self, name: str, new_name: str, *, reason: str = "") -> ModelRecord:
        body = {"new_name": new_name, "reason": reason}
        return records.model(self._call("POST", _model(name) + "/rename", json=body))

    def update_model(self, name: str, *, description: str, reason: str = "") -> ModelRecord:
        body = {"description": description, "reason": reason}
        return records.model(self._call("PATCH", _model(name), json=body))

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        self._call("PUT", f"{_model(name)}/tags/{segment(key)}", json={"value": value})

    def delete_model_tag(self, name: str, key: str) -> None:
        self._call("DELETE", f"{_model(name)}/tags/{segment(key)}")

    def delete_model(self, name: str, *, reason: str, force: bool = False) -> None:
        self._call("DELETE", _model(name), json={"reason": reason},
                   params={"force": "true"} if force else None)

    # ---- versions -------------------------------------------------------------------

    def register(self, name: str, source: str = "", *, path: str | Path | None = None,
                 run_id: str = "", description: str = "", tags: dict[str, str] | None = None,
                 create_model: bool = True, reason: str = "",
                 progress: Progress | None = None,
                 signature: bytes | str | Path | None = None,
                 signer_key: str | Path | None = None,
                 interface: Interface | dict[str, Any] | str | None = None,
                 model_id: str = "") -> VersionRecord:
        if bool(source) == (path is not None):
            raise InvalidInput(codes.VERSION_SOURCE_REQUIRED,
                               "Give exactly one of a source URI or a local path",
                               "e.g. charter register fraud_detector ./model_dir")
        body: dict[str, Any] = {"source": source, "run_id": run_id,
                                "description": description, "tags": tags or {},
                                "reason": reason}
        if interface is not None:  # parsed here too, so a bad one fails before any upload
            body["interface"] = interface_body(interface)
        if model_id:
            body["model_id"] = model_id
        skip = None
        if signature is not None:  # sent with the commit; the server checks it
            body.update(signature=signed_text(signature), signer_key=signer_text(signer_key))
            skip = signature if isinstance(signature, Path) else None
        if path is not None:  # upload the files: streamed, hashed, committed with a manifest
            del body["source"]
            return records.version(transfer.upload_version(
                self._session, self.actor, name, Path(path), options=body,
                create_model=create_model, progress=progress, skip=skip))
        body["create_model"] = create_model
        return records.version(self._call("POST", _model(name) + "/versions", json=body))

    def get_version(self, name: str, version: int | str) -> VersionRecord:
        return records.version(self._call("GET", _version(name, version)))

    def list_versions(self, name: str, *, stage: str | None = None) -> list[VersionRecord]:
        params = {"stage": stage} if stage is not None else None
        return records.versions(self._call("GET", _model(name) + "/versions", params=params))

    def update_version(self, name: str, version: int | str, *, description: str
                       ) -> VersionRecord:
        body = {"description": description}
        return records.version(self._call("PATCH", _version(name, version), json=body))

    def set_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        self._call("PUT", f"{_version(name, version)}/tags/{segment(key)}",
                   json={"value": value})

    def delete_version_tag(self, name: str, version: int | str, key: str) -> None:
        self._call("DELETE", f"{_version(name, version)}/tags/{segment(key)}")

    def set_alias(self, name: str, alias: str, version: int | str) -> None:
        self._call("PUT", _alias(name, alias), json={"version": version})

    def delete_alias(self, name: str, alias: str) -> None:
        self._call("DELETE", _alias(name, alias))

    def get_version_by_alias(self, name: str, alias: str) -> VersionRecord:
        return records.version(self._call("GET", _alias(name, alias)))

    def delete_version(self, name: str, version: int | str, *, reason: str,
                       force: bool = False) -> None:
        self._call("DELETE", _version(name, version), json={"reason": reason},
                   params={"force": "true"} if force else None)

    # ---- stages ---------------------------------------------------------------------

    def transition(self, name: str, version: int | str, stage: str, *,
                   archive_existing: bool = False, reason: str = "",
                   expect_production: Any = ANY, override_gates: bool = False,
                   accept_breaking: str = "", force: bool = False) -> VersionRecord:
        body: dict[str, Any] = {"stage": str(stage), "archive_existing": archive_existing,
                                "reason": reason}
        if accept_breaking:
            body["accept_breaking"] = accept_breaking
        if expect_production is not ANY:  # absent: no precondition; null: "empty"
            body["expect_production"] = expect_production
        if override_gates:
            body["override_gates"] = True
        if force:
            body["force"] = True
        return records.version(
            self._call("POST", _version(name, version) + "/transition", json=body))

    promote = transition

    def archive(self, name: str, version: int | str, *, reason: str = "",
                force: bool = False) -> VersionRecord:
        return self.transition(name, version, Stage.ARCHIVED.value, reason=reason, force=force)

    def rollback(self, name: str, *, reason: str) -> VersionRecord:
        return records.version(
            self._call("POST", _model(name) + "/rollback", json={"reason": reason}))

    # ---- queries --------------------------------------------------------------------

    def resolve(self, uri: str, *, as_of: datetime | None = None,
                consumer: str | None = None) -> Resolution:
        params = {"uri": uri}
        if as_of is not None:
            params["as_of"] = as_of.isoformat()
        headers = {CONSUMER_HEADER: consumer} if consumer is not None else None
        return records.resolution(self._call("GET", "/resolve", params=params, headers=headers))

    # ---- consumers ------------------------------------------------------------------

    def report_consumer(self, consumer: str, uri: str, *, version: int | str | None = None
                        ) -> ConsumerRecord:
        body = {"consumer": consumer, "uri": uri, "version": version}
        return records.consumer(self._call("POST", "/consumers/report", json=body))

    def consumers(self, name: str, *, include_stale: bool = False) -> ConsumersView:
        params = {"include_stale": "true"} if include_stale else None
        return records.consumers_view(self._call("GET", _model(name) + "/consumers",
                                                 params=params))

    def latest_versions(self, name: str, stages: list[str] | None = None
                        ) -> list[VersionRecord]:
        params = {"stage": list(stages)} if stages else None
        return records.versions(self._call("GET", _model(name) + "/latest", params=params))

    def history(self, name: str, version: int | None = None, *, limit: int = 1000
                ) -> list[EventRecord]:
        params: dict[str, Any] = {"limit": limit}
        if version is not None:
            params["version"] = version
        return records.events(self._call("GET", _model(name) + "/history", params=params))

    def events(self, *, after: int = 0, limit: int = 100) -> list[EventRecord]:
        params = {"after": after, "limit": limit}
        return records.events(self._call("GET", "/events", params=params))

    def lint(self, name: str) -> list[Finding]:
        answer = self._call("GET", "/lint", params={"name": name})
        return records.findings(answer["results"][0])

    def list_files(self, name: str, version: int | str) -> VersionRecord:
        """The version, whose ``files`` are its stored files (none for a source-only one)."""
        return self.get_version(name, version)

    def get_file(self, name: str, version: int | str, path: str) -> FileRecord:
        safe_relative_path(path)  # a hostile path is refused before any lookup
        return self.get_version(name, version).file_at(path)

    def download(self, uri: str, dest: str | Path, progress: Progress | None = None) -> Path:
        """Fetch a version's files into ``dest`` through the pull cache, verifying each sha256.

        Blobs already in the cache are not fetched again; a fetch that broke resumes
        from its last byte. Every file is copied out of the cache and hashed again on
        the way; all of them land in dest, or on any error none
        (``charter.artifacts.destination``).
        """
        version = self.resolve(uri).version
        if not version.files:
            raise InvalidInput(
                codes.VERSION_NO_FILES, f"{version.uri} has no files stored in Charter",
                f"its source is {version.source or '(none)'}; fetch it from there")
        transfers = transfer.Transfers(self._session, self.actor)
        files = _version(version.name, version.version) + "/files/"
        by_path = {file.path: file for file in version.files}

        def put(path: str, staged: Path) -> None:
            file, url = by_path[path], files + quote(path, safe="/")
            self.cache.deliver(file.sha256, file.size,
                               lambda offset: transfers.get_file(url, offset), staged, progress)

        return pull_into(dest, list(by_path), put)


def _model(name: str) -> str:
    return f"/models/{segment(name)}"


def _version(name: str, version: int | str) -> str:
    return f"{_model(name)}/versions/{segment(version)}"


def _alias(name: str, alias: str) -> str:
    return f"{_model(name)}/aliases/{segment(alias)}"
