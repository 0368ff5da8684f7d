"""Upload sessions: what a registration by upload keeps while its files arrive.

They live in the blob store's staging area, not in the database, so every replica
that shares the blobs shares the sessions and no migration is needed::

    staging/uploads/<id>/session.json          who, for which model, when
    staging/uploads/<id>/files/<sha256(path)>  one record per stored file: path, size, sha256
    staging/uploads/<id>/commit.json           the commit claim, then the version it made

Records are JSON; every function takes the staging area (``Staging``: the blob
store) and an upload id the service has checked.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from charter.domain.manifest import ManifestEntry

UPLOADS = "uploads"


class StagedEntry(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def modified(self) -> datetime: ...


class Staging(Protocol):
    """The blob store's staging area: small records under server-made keys."""

    def put_staged(self, key: str, data: bytes, *, exclusive: bool = False) -> bool: ...
    def get_staged(self, key: str) -> bytes | None: ...
    def list_staged(self, prefix: str) -> Sequence[StagedEntry]: ...
    def delete_staged(self, key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class OpenUpload:
    """An upload session as it was opened: by ``actor``, for the next version of ``model``."""

    id: str
    model: str
    actor: str
    created_at: datetime
    create_model: bool


@dataclass
class StagedUpload:
    """A session as garbage collection sees it: its last write and its files' digests."""

    last_write: datetime = datetime.min.replace(tzinfo=UTC)
    digests: set[str] = field(default_factory=set)


def _session_key(upload_id: str) -> str:
    return f"{UPLOADS}/{upload_id}/session.json"


def _commit_key(upload_id: str) -> str:
    return f"{UPLOADS}/{upload_id}/commit.json"


def _file_key(upload_id: str, path: str) -> str:
    # Named by a digest of the path: the client's path never becomes part of a key.
    return f"{UPLOADS}/{upload_id}/files/{hashlib.sha256(path.encode()).hexdigest()}.json"


def _dump(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True).encode()


def _load(data: bytes | None) -> dict[str, Any] | None:
    return json.loads(data) if data else None


def open_session(staging: Staging, upload: OpenUpload) -> None:
    staging.put_staged(_session_key(upload.id), _dump({
        "id": upload.id, "model": upload.model, "actor": upload.actor,
        "created_at": upload.created_at.isoformat(), "create_model": upload.create_model}),
        exclusive=True)


def session(staging: Staging, upload_id: str) -> OpenUpload | None:
    found = _load(staging.get_staged(_session_key(upload_id)))
    if found is None:
        return None
    return OpenUpload(upload_id, found["model"], found["actor"],
                      datetime.fromisoformat(found["created_at"]), bool(found["create_model"]))


def has_file(staging: Staging, upload_id: str, path: str) -> bool:
    return staging.get_staged(_file_key(upload_id, path)) is not None


def record_file(staging: Staging, upload_id: str, entry: ManifestEntry, at: datetime) -> bool:
    """Record a stored file of the session; False if its path was recorded already."""
    return staging.put_staged(_file_key(upload_id, entry.path), _dump({
        "path": entry.path, "size": entry.size, "sha256": entry.sha256,
        "at": at.isoformat()}), exclusive=True)


def received(staging: Staging, upload_id: str) -> list[ManifestEntry]:
    """Every file of the session stored so far, sorted."""
    entries = []
    for info in staging.list_staged(f"{UPLOADS}/{upload_id}/files"):
        record = _load(staging.get_staged(info.key))
        if record is not None:
            entries.append(ManifestEntry(record["path"], record["size"], record["sha256"]))
    return sorted(entries)


def committed_version(staging: Staging, upload_id: str) -> tuple[bool, int | None]:
    """Whether a commit was claimed, and the version it made once it is done."""
    state = _load(staging.get_staged(_commit_key(upload_id)))
    return (state is not None, state.get("version") if state is not None else None)


def claim_commit(staging: Staging, upload_id: str, at: datetime) -> bool:
    """Claim the session's one commit; False if it was claimed already."""
    return staging.put_staged(_commit_key(upload_id),
                              _dump({"state": "committing", "at": at.isoformat()}),
                              exclusive=True)


def release_commit(staging: Staging, upload_id: str) -> None:
    """The commit failed: the session may be committed again."""
    staging.delete_staged(_commit_key(upload_id))


def mark_committed(staging: Staging, upload_id: str, version: int, at: datetime) -> None:
    staging.put_staged(_commit_key(upload_id), _dump(
        {"state": "committed", "version": version, "at": at.isoformat()}))


def forget(staging: Staging, upload_id: str) -> None:
    """Remove the session's records (its blobs stay, for a version or for gc)."""
    staging.delete_staged(f"{UPLOADS}/{upload_id}")


def staged_uploads(staging: Staging) -> dict[str, StagedUpload]:
    """Every session in the staging area, by id."""
    found: dict[str, StagedUpload] = defaultdict(StagedUpload)
    for info in staging.list_staged(UPLOADS):
        parts = info.key.split("/")
        if len(parts) < 3:
            continue
        upload = found[parts[1]]
        upload.last_write = max(upload.last_write, info.modified)
        if parts[2] == "files":
            record = _load(staging.get_staged(info.key))
            if record is not None:
                upload.digests.add(record["sha256"])
    return dict(found)
