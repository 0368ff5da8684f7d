"""Register a version by uploading its files: start, send each file, commit (or abort).

An upload session lives in the blob store's staging area, not in the database, so
every replica that shares the blobs shares the sessions and no migration is
needed::

    staging/uploads/<id>/session.json          who, for which model, when
    staging/uploads/<id>/files/<sha256(path)>  one record per stored file: path, size, sha256
    staging/uploads/<id>/commit.json           the commit claim, then the version it made

A file's bytes go straight into the blob store, hashed on the way; the commit
compares the client's manifest with what the server hashed and registers the
version through the same transaction as a local registration. Until then no
version exists: an abandoned session and its blobs are collected by ``gc``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from charter.artifacts.common import Spliceable
from charter.domain.errors import Conflict, IntegrityFailure, InvalidInput, NotFound
from charter.domain.manifest import ManifestEntry, compare_manifest, parse_manifest
from charter.domain.paths import safe_relative_path
from charter.domain.records import FileRecord, VersionRecord
from charter.service.base import BlobWriter
from charter.service.models import check_new_name, name_is_taken
from charter.service.versions import (
    Registration,
    VersionsMixin,
    check_registration,
    insert_version,
)
from charter.store.models import lookup_key

UPLOADS = "uploads"


@dataclass(frozen=True)
class UploadRecord:
    id: str
    model: str
    actor: str
    created_at: datetime
    files: list[FileRecord] = field(default_factory=list)
    version: int | None = None          # set once committed
    wants_digest_first: bool = False    # send X-Charter-Sha256 with each file (S3 stores)

    def to_dict(self) -> dict[str, Any]:
        return {"upload_id": self.id, "model": self.model, "actor": self.actor,
                "created_at": self.created_at.isoformat(),
                "files": [f.to_dict() for f in self.files], "version": self.version,
                "wants_digest_first": self.wants_digest_first}


class FileUpload:
    """One file of a session being written; ``finish`` records it, ``abort`` drops it."""

    def __init__(self, service: UploadsMixin, upload_id: str, path: str,
                 writer: BlobWriter) -> None:
        self._service, self._upload_id, self.path, self.writer = (
            service, upload_id, path, writer)

    def write(self, chunk: bytes | memoryview) -> None:
        self.writer.write(chunk)

    def receive(self, source: Spliceable, count: int) -> bool:
        """Let ``source`` write the next ``count`` bytes into the blob itself, when the
        store can take them that way (a local folder: splice); False otherwise."""
        receive = getattr(self.writer, "receive", None)
        return bool(receive(source, count)) if receive is not None else False

    def abort(self) -> None:
        self.writer.abort()

    def transit_checksum(self) -> str:
        """XXH3-128 of the bytes received, for the sender to compare with its own."""
        return self.writer.transit_checksum()

    def finish(self) -> FileRecord:
        try:
            digest, size = self.writer.commit()
        except IntegrityFailure as error:  # the sender's X-Charter-Sha256 did not match
            raise InvalidInput("upload.digest_mismatch", f"{self.path}: {error.message}",
                               error.hint, {"path": self.path, **error.details}) from None
        record = {"path": self.path, "size": size, "sha256": digest,
                  "at": self._service.clock().isoformat()}
        stored = self._service.blobs.put_staged(file_key(self._upload_id, self.path),
                                                _dump(record), exclusive=True)
        if not stored:
            raise file_exists(self.path)
        return FileRecord(self.path, size, digest)


class UploadsMixin(VersionsMixin):
    def start_upload(self, name: str, *, create_model: bool = True) -> UploadRecord:
        """Open an upload session for the next version of ``name``; the name is checked now.

        The principal must be allowed to register ``name`` (or to create models, for a new
        one) here, not only by the API's route table: every surface meets the same rule.
        """
        self._check_may_register(name, create_model)
        if not name_is_taken(self, name):
            if not create_model:
                self.get_model(name)  # raises model.not_found
            check_new_name(self, name)
        upload_id = uuid.uuid4().hex
        now = self.clock()
        session = {"id": upload_id, "model": name, "actor": self.actor,
                   "created_at": now.isoformat(), "create_model": create_model}
        self.blobs.put_staged(session_key(upload_id), _dump(session), exclusive=True)
        return UploadRecord(upload_id, name, self.actor, now,
                            wants_digest_first=self.blobs.wants_digest_first)

    def get_upload(self, name: str, upload_id: str) -> UploadRecord:
        session = self._session(name, upload_id)
        commit = self._commit_state(upload_id)
        return UploadRecord(upload_id, session["model"], session["actor"],
                            datetime.fromisoformat(session["created_at"]),
                            [FileRecord(e.path, e.size, e.sha256) for e in
                             self._received(upload_id)],
                            commit.get("version") if commit else None,
                            self.blobs.wants_digest_first)

    def begin_file(self, name: str, upload_id: str, path: str, *,
                   expected_sha256: str | None = None) -> FileUpload:
        """Check the session and the path, then open a blob writer for the file's bytes."""
        path = safe_relative_path(path)
        self._session(name, upload_id)
        if self._commit_state(upload_id) is not None:
            raise upload_committed(upload_id)
        if self.blobs.get_staged(file_key(upload_id, path)) is not None:
            raise file_exists(path)
        if expected_sha256 is not None:
            expected_sha256 = _check_expected(expected_sha256)
        return FileUpload(self, upload_id, path, self.blobs.writer(expected_sha256))

    def upload_file(self, name: str, upload_id: str, path: str, chunks: Iterable[bytes], *,
                    expected_sha256: str | None = None) -> FileRecord:
        """Store one file of the session from chunks (the embedded form of the PUT route)."""
        upload = self.begin_file(name, upload_id, path, expected_sha256=expected_sha256)
        try:
            for chunk in chunks:
                upload.write(chunk)
        except BaseException:
            upload.abort()
            raise
        return upload.finish()

    def commit_upload(self, name: str, upload_id: str, manifest: list[dict[str, Any]], *,
                      source: str = "", run_id: str = "", description: str = "",
                      tags: dict[str, str] | None = None, reason: str = "") -> VersionRecord:
        """Register the version once every manifest entry was stored with that size and sha256."""
        session = self._session(name, upload_id)
        claimed = parse_manifest(manifest)
        findings = check_registration(self, session["model"], source, run_id, description,
                                      tags, session["create_model"])
        problems = compare_manifest(claimed, self._received(upload_id))
        if problems:
            raise InvalidInput("upload.mismatch", "The manifest does not match the uploaded "
                               f"files: {'; '.join(problems[:5])}",
                               "upload the missing files again, or fix the manifest",
                               {"problems": problems[:100]})
        missing = [e.path for e in claimed if not self.blobs.exists(e.sha256)]
        if missing:
            raise Conflict("upload.expired", f"The stored bytes of {missing[0]!r} were collected",
                           "the session was idle for too long; upload the version again")
        claim = {"state": "committing", "at": self.clock().isoformat()}
        if not self.blobs.put_staged(commit_key(upload_id), _dump(claim), exclusive=True):
            raise upload_committed(upload_id)
        stored = [(e.path, e.size, e.sha256) for e in claimed]
        try:
            record = insert_version(self, Registration(
                session["model"], source, run_id, description, tags or {}, stored,
                session["create_model"], findings, reason))
        except BaseException:
            self.blobs.delete_staged(commit_key(upload_id))
            raise
        done = {"state": "committed", "version": record.version, "at": self.clock().isoformat()}
        self.blobs.put_staged(commit_key(upload_id), _dump(done))
        return record

    def abort_upload(self, name: str, upload_id: str) -> None:
        """Forget the session; its blobs are collected by ``gc`` unless a version uses them."""
        self._session(name, upload_id)
        if self._commit_state(upload_id) is not None:
            raise upload_committed(upload_id)
        self.blobs.delete_staged(f"{UPLOADS}/{upload_id}")

    # ---- the staging records --------------------------------------------------------

    def _session(self, name: str, upload_id: str) -> dict[str, Any]:
        """The session, if it exists, is for ``name`` and belongs to the caller."""
        data = self.blobs.get_staged(session_key(_check_id(upload_id)))
        session = json.loads(data) if data else None
        if (session is None or session["actor"] != self.actor
                or lookup_key(session["model"]) != lookup_key(name)):
            raise NotFound("upload.not_found", f"There is no upload {upload_id} for {name!r:.80}",
                           "start one with POST /api/v1/models/{name}/uploads; sessions idle "
                           "longer than the gc grace period are collected")
        return session

    def _commit_state(self, upload_id: str) -> dict[str, Any] | None:
        data = self.blobs.get_staged(commit_key(upload_id))
        return json.loads(data) if data else None

    def _received(self, upload_id: str) -> list[ManifestEntry]:
        entries = []
        for info in self.blobs.list_staged(f"{UPLOADS}/{upload_id}/files"):
            data = self.blobs.get_staged(info.key)
            if data:
                record = json.loads(data)
                entries.append(ManifestEntry(record["path"], record["size"], record["sha256"]))
        return sorted(entries)


def session_key(upload_id: str) -> str:
    return f"{UPLOADS}/{upload_id}/session.json"


def commit_key(upload_id: str) -> str:
    return f"{UPLOADS}/{upload_id}/commit.json"


def file_key(upload_id: str, path: str) -> str:
    # Named by a digest of the path: the client's path never becomes part of a key.
    return f"{UPLOADS}/{upload_id}/files/{hashlib.sha256(path.encode()).hexdigest()}.json"


def _check_id(upload_id: str) -> str:
    if not isinstance(upload_id, str) or len(upload_id) != 32 or not all(
            c in "0123456789abcdef" for c in upload_id):
        raise NotFound("upload.not_found", f"{str(upload_id)[:80]!r} is not an upload id",
                       "upload ids are the 32 hex characters POST …/uploads answered")
    return upload_id


def _check_expected(value: str) -> str:
    text = value.strip().lower()
    if len(text) != 64 or not all(c in "0123456789abcdef" for c in text):
        raise InvalidInput("upload.invalid_digest", f"X-Charter-Sha256 {value[:80]!r} is not "
                           "a sha256 digest", "send 64 hex characters, or leave the header out")
    return text


def file_exists(path: str) -> Conflict:
    return Conflict("upload.file_exists", f"{path!r} was already uploaded in this session",
                    "stored files are immutable; start a new upload to change it",
                    {"path": path})


def upload_committed(upload_id: str) -> Conflict:
    return Conflict("upload.committed", f"Upload {upload_id} was already committed",
                    "a version's files are immutable; start a new upload for a new version")


def _dump(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True).encode()
