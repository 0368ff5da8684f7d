"""Register a version by uploading its files: start, send each file, commit (or abort).

An upload session lives in the blob store's staging area, not in the database
(``store/uploads.py``), so every replica that shares the blobs shares the sessions.
A file's bytes go straight into the blob store, hashed on the way; the commit
compares the client's manifest with what the server hashed and registers the
version through the same transaction as a local registration. Until then no
version exists: an abandoned session and its blobs are collected by ``gc``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from charter.artifacts.common import Spliceable
from charter.domain import error_codes as codes
from charter.domain.errors import Conflict, IntegrityFailure, InvalidInput, NotFound
from charter.domain.interface import Interface
from charter.domain.manifest import ManifestEntry, compare_manifest, parse_manifest
from charter.domain.paths import safe_relative_path
from charter.domain.records import FileRecord, VersionRecord
from charter.service.base import ServiceBase
from charter.service.declared import given_interface
from charter.service.models import check_new_name, name_is_taken, read_model
from charter.service.ports import BlobWriter
from charter.service.signatures import read_signature, verify_signature
from charter.service.versions import Registration, check_registration, insert_version
from charter.store import uploads
from charter.store.models import lookup_key


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

    def __init__(self, service: ServiceBase, upload_id: str, path: str,
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
            raise InvalidInput(codes.UPLOAD_DIGEST_MISMATCH, f"{self.path}: {error.message}",
                               error.hint, {"path": self.path, **error.details}) from None
        stored = ManifestEntry(self.path, size, digest)
        if not uploads.record_file(self._service.blobs, self._upload_id, stored,
                                   self._service.clock()):
            raise file_exists(self.path)
        return FileRecord(self.path, size, digest)


class UploadsMixin(ServiceBase):
    def start_upload(self, name: str, *, create_model: bool = True) -> UploadRecord:
        """Open an upload session for the next version of ``name``; the name is checked now.

        The principal must be allowed to register ``name`` (or to create models, for a new
        one) here, not only by the API's route table: every surface meets the same rule.
        """
        self._check_may_register(name, create_model)
        if not name_is_taken(self, name):
            if not create_model:
                read_model(self, name)  # raises model.not_found
            check_new_name(self, name)
        upload = uploads.OpenUpload(uuid.uuid4().hex, name, self.actor, self.clock(),
                                    create_model)
        uploads.open_session(self.blobs, upload)
        return UploadRecord(upload.id, name, self.actor, upload.created_at,
                            wants_digest_first=self.blobs.wants_digest_first)

    def get_upload(self, name: str, upload_id: str) -> UploadRecord:
        upload = self._session(name, upload_id)
        _, version = uploads.committed_version(self.blobs, upload_id)
        return UploadRecord(upload_id, upload.model, upload.actor, upload.created_at,
                            [FileRecord(e.path, e.size, e.sha256) for e in
                             uploads.received(self.blobs, upload_id)],
                            version, self.blobs.wants_digest_first)

    def begin_file(self, name: str, upload_id: str, path: str, *,
                   expected_sha256: str | None = None) -> FileUpload:
        """Check the session and the path, then open a blob writer for the file's bytes."""
        path = safe_relative_path(path)
        self._session(name, upload_id)
        if uploads.committed_version(self.blobs, upload_id)[0]:
            raise upload_committed(upload_id)
        if uploads.has_file(self.blobs, upload_id, path):
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
                      tags: dict[str, str] | None = None, reason: str = "",
                      signature: bytes | str | None = None, signer_key: str | None = None,
                      interface: Interface | dict[str, Any] | str | None = None,
                      model_id: str = "") -> VersionRecord:
        """Register the version once every manifest entry was stored with that size and
        sha256, and (with a ``signature``) once the signature covers exactly those files."""
        upload = self._session(name, upload_id)
        claimed = parse_manifest(manifest)
        findings = check_registration(self, upload.model, source, run_id, description,
                                      tags, upload.create_model)
        explicit = given_interface(interface)
        given = read_signature(signature, signer_key)
        problems = compare_manifest(claimed, uploads.received(self.blobs, upload_id))
        if problems:
            raise InvalidInput(codes.UPLOAD_MISMATCH, "The manifest does not match the uploaded "
                               f"files: {'; '.join(problems[:5])}",
                               "upload the missing files again, or fix the manifest",
                               {"problems": problems[:100]})
        missing = [e.path for e in claimed if not self.blobs.exists(e.sha256)]
        if missing:
            raise Conflict(codes.UPLOAD_EXPIRED,
                           f"The stored bytes of {missing[0]!r} were collected",
                           "the session was idle for too long; upload the version again")
        stored = [(e.path, e.size, e.sha256) for e in claimed]
        verified = (verify_signature(self, upload.model, given, stored,
                                     subject=f"{upload.model}'s new version")
                    if given is not None else None)
        if not uploads.claim_commit(self.blobs, upload_id, self.clock()):
            raise upload_committed(upload_id)
        try:
            record = insert_version(self, Registration(
                upload.model, source, run_id, description, tags or {}, stored,
                upload.create_model, findings, reason, verified, explicit, model_id))
        except BaseException:
            uploads.release_commit(self.blobs, upload_id)
            raise
        uploads.mark_committed(self.blobs, upload_id, record.version, self.clock())
        return record

    def abort_upload(self, name: str, upload_id: str) -> None:
        """Forget the session; its blobs are collected by ``gc`` unless a version uses them."""
        self._session(name, upload_id)
        if uploads.committed_version(self.blobs, upload_id)[0]:
            raise upload_committed(upload_id)
        uploads.forget(self.blobs, upload_id)

    def _session(self, name: str, upload_id: str) -> uploads.OpenUpload:
        """The session, if it exists, is for ``name`` and belongs to the caller."""
        upload = uploads.session(self.blobs, _check_id(upload_id))
        if (upload is None or upload.actor != self.actor
                or lookup_key(upload.model) != lookup_key(name)):
            raise NotFound(codes.UPLOAD_NOT_FOUND,
                           f"There is no upload {upload_id} for {name!r:.80}",
                           "start one with POST /api/v1/models/{name}/uploads; sessions idle "
                           "longer than the gc grace period are collected")
        return upload


def _check_id(upload_id: str) -> str:
    if not isinstance(upload_id, str) or len(upload_id) != 32 or not all(
            c in "0123456789abcdef" for c in upload_id):
        raise NotFound(codes.UPLOAD_NOT_FOUND, f"{str(upload_id)[:80]!r} is not an upload id",
                       "upload ids are the 32 hex characters POST …/uploads answered")
    return upload_id


def _check_expected(value: str) -> str:
    text = value.strip().lower()
    if len(text) != 64 or not all(c in "0123456789abcdef" for c in text):
        raise InvalidInput(codes.UPLOAD_INVALID_DIGEST, f"X-Charter-Sha256 {value[:80]!r} is not "
                           "a sha256 digest", "send 64 hex characters, or leave the header out")
    return text


def file_exists(path: str) -> Conflict:
    return Conflict(codes.UPLOAD_FILE_EXISTS, f"{path!r} was already uploaded in this session",
                    "stored files are immutable; start a new upload to change it",
                    {"path": path})


def upload_committed(upload_id: str) -> Conflict:
    return Conflict(codes.UPLOAD_COMMITTED, f"Upload {upload_id} was already committed",
                    "a version's files are immutable; start a new upload for a new version")

