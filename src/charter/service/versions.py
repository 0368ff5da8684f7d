"""Use cases on versions: register (from a source or from files), describe, tag, alias, delete."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter.artifacts.tree import local_files
from charter.domain import error_codes as codes
from charter.domain import events
from charter.domain.access import ALIAS, DELETE, EDIT, READ, REGISTER
from charter.domain.errors import InvalidInput, NotFound
from charter.domain.interface import INTERFACE_TAGS, Interface, parse_interface_text
from charter.domain.lifecycle import Stage, check_deletable, parse_stage
from charter.domain.manifest import manifest_digest
from charter.domain.naming import Finding
from charter.domain.records import VersionLocation, VersionRecord
from charter.domain.sources import check_source
from charter.domain.uris import MAX_VERSION
from charter.domain.values import (
    check_alias,
    check_description,
    check_reason,
    check_run_id,
    check_tag,
)
from charter.service.base import ServiceBase, tag_not_found
from charter.service.consumer_reports import check_not_served
from charter.service.declared import (
    declared,
    given_interface,
    record_declared,
    set_once,
)
from charter.service.models import check_new_name, insert_model, name_is_taken
from charter.service.ports import Progress
from charter.service.signatures import (
    VerifiedSignature,
    admit_signer,
    read_signature,
    require_ready,
    verify_signature,
)
from charter.store import at_once, interfaces, models, versions
from charter.store.database import WriteTx
from charter.store.models import ModelRow
from charter.store.versions import StoredFile, VersionRow


class VersionsMixin(ServiceBase):
    def register(self, name: str, source: str = "", *, path: str | Path | None = None,
                 run_id: str = "", description: str = "", tags: dict[str, str] | None = None,
                 create_model: bool = True, reason: str = "",
                 progress: Progress | None = None,
                 signature: bytes | str | Path | None = None,
                 signer_key: str | Path | None = None,
                 interface: Interface | dict[str, Any] | str | None = None,
                 model_id: str = "") -> VersionRecord:
        """Register the next version of ``name``, from a source URI or a local file/folder.

        Files are stored (and hashed) before the version row is written, so a version
        is visible only once every file it names is in the blob store. A ``signature``
        (an OpenSSF model-signing bundle; ``signer_key`` the signer's public key if the
        registry does not know it yet) must cover exactly those files. ``interface``
        declares the version's inputs, outputs and params (else an ``MLmodel`` among
        the files, or an interface tag, does: docs/contracts.md); ``model_id`` is the
        MLflow 3 logged model it came from.
        """
        if bool(source) == bool(path):
            raise InvalidInput(codes.VERSION_SOURCE_REQUIRED,
                               "Give exactly one of a source URI or a local path",
                               "e.g. charter register fraud_detector ./model_dir")
        findings = check_registration(self, name, source, run_id, description, tags,
                                      create_model)
        explicit = given_interface(interface)
        given = read_signature(signature, signer_key)
        stored = (store_files(self, Path(path), progress,
                             skip=signature if isinstance(signature, Path) else None)
                  if path else [])
        verified = (verify_signature(self, name, given, stored, subject=f"{name}'s new version")
                    if given is not None else None)
        return insert_version(self, Registration(name, source, run_id, description, tags or {},
                                                 stored, create_model, findings, reason,
                                                 verified, explicit, model_id))

    def get_version(self, name: str, version: int | str) -> VersionRecord:
        return read_version(self, name, version)

    def version_location(self, name: str, version: int | str) -> VersionLocation:
        """Where version ``version`` of ``name`` is downloaded from (MLflow's
        get-download-uri): its number, source and whether its files are stored, in one
        statement that builds none of its tags, files and aliases; refused as
        ``get_version`` refuses (the long way tells a former name's number, a missing
        model or version)."""
        number = parse_version(version)
        with self._hiding(), self.db.one_statement() as single:
            found = (at_once.version_location(single, name, number) if single is not None
                     else None)
            if found is not None:
                model, location = found
                self._require(READ, model)
                return location
        return VersionLocation.of(read_version(self, name, number))

    def list_versions(self, name: str, *, stage: str | None = None) -> list[VersionRecord]:
        wanted = parse_stage(stage).value if stage is not None else None
        with self._read() as reader:
            model, _ = models.get(reader, name)
            self._require(READ, model)
            rows = versions.rows(reader, model.id, stage=wanted, newest_first=True)
            return versions.records(reader, model.name, rows)

    def update_version(self, name: str, version: int | str, *, description: str) -> VersionRecord:
        check_description(description)
        with self._write() as tx:
            model, row = self._version_for(tx, EDIT, name, version)
            versions.set_description(tx, row.id, description, tx.now)
            tx.record(events.NewEvent(events.VERSION_UPDATED, model.name, row.version,
                                      payload={"description": description,
                                               "previous": row.description}))
            return versions.record(tx, model.name, row.version)

    def set_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        check_tag(key, value)
        with self._write() as tx:
            model, row = self._version_for(tx, EDIT, name, version)
            previous = versions.tag(tx, row.id, key)
            versions.set_tag(tx, row.id, key, value, tx.now)
            tx.record(events.NewEvent(events.TAG_SET, model.name, row.version,
                                      payload={"key": key, "value": value,
                                               "previous": previous}))
            if key in INTERFACE_TAGS:  # an MLflow client declares the interface (docs/mlflow.md)
                set_once(tx, model, row, parse_interface_text(value), interfaces.TAG)

    def delete_version_tag(self, name: str, version: int | str, key: str) -> None:
        with self._write() as tx:
            model, row = self._version_for(tx, EDIT, name, version)
            previous = versions.tag(tx, row.id, key)
            if previous is None:
                raise tag_not_found(f"{model.name} v{row.version}", key)
            versions.delete_tag(tx, row.id, key)
            tx.record(events.NewEvent(events.TAG_DELETED, model.name, row.version,
                                      payload={"key": key, "previous": previous}))

    def set_alias(self, name: str, alias: str, version: int | str) -> None:
        check_alias(alias)
        alias = alias.lower()
        with self._write() as tx:
            model, row = self._version_for(tx, ALIAS, name, version)
            require_ready(model.name, row)
            previous = versions.alias_target(tx, model.id, alias)
            versions.set_alias(tx, model.id, alias, row.id)
            tx.record(events.NewEvent(events.ALIAS_SET, model.name, row.version,
                                      payload={"alias": alias, "previous": previous}))

    def delete_alias(self, name: str, alias: str) -> None:
        with self._write() as tx:
            model, _ = models.get(tx, name)
            self._require(ALIAS, model)
            number = versions.alias_target(tx, model.id, alias)
            if number is None:
                raise alias_not_found(model.name, alias)
            versions.delete_alias(tx, model.id, alias.lower())
            tx.record(events.NewEvent(events.ALIAS_DELETED, model.name, number,
                                      payload={"alias": alias.lower()}))

    def get_version_by_alias(self, name: str, alias: str) -> VersionRecord:
        if self.db.dialect == "postgresql":  # one statement (store/at_once.py)
            with self._one_read() as single:
                found = at_once.version_by_alias(single, name, alias)
                if found is not None:
                    model, record = found
                    self._require(READ, model)
                    if record is None:
                        raise alias_not_found(model.name, alias)
                    return record
        with self._read() as reader:
            model, _ = models.get(reader, name)
            self._require(READ, model)
            number = versions.alias_target(reader, model.id, alias)
            if number is None:
                raise alias_not_found(model.name, alias)
            return versions.record(reader, model.name, number)

    def delete_version(self, name: str, version: int | str, *, reason: str,
                       force: bool = False) -> None:
        """Delete an Archived version; its number is never given out again. A version a
        live consumer serves is refused unless an owner ``force``s it."""
        reason = check_reason(reason, required=True)
        with self._write() as tx:
            model, row = self._version_for(tx, DELETE, name, version)
            check_deletable(Stage(row.stage), name=model.name, version=row.version)
            check_not_served(self, tx, model, row.version, action="delete", force=force,
                             reason=reason)
            versions.delete(tx, row.id)
            models.touch(tx, model.id, tx.now)
            tx.record(events.NewEvent(events.VERSION_DELETED, model.name, row.version,
                                      from_stage=row.stage, reason=reason,
                                      payload={"digest": row.digest, "source": row.source}))

    def _version_for(self, tx: WriteTx, operation: str, name: str, version: int | str
                     ) -> tuple[ModelRow, VersionRow]:
        """The model (``operation`` on it allowed) and its version, a former name's
        number mapped."""
        model, via = models.get(tx, name)
        self._require(operation, model)
        return model, versions.row(tx, model, parse_version(version), via=via)


# ---- shared with uploads and the file reads ---------------------------------------

def read_version(service: ServiceBase, name: str, version: int | str) -> VersionRecord:
    """Version ``version`` of ``name`` (a former name's number mapped), if the principal
    may read the model."""
    number = parse_version(version)
    if service.principal.sees_all:  # one statement, no read transaction
        with service.db.one_statement() as single:
            found = at_once.record_at_once(single, name, number) if single else None
        if found is not None:
            return found
    with service._read() as reader:
        service._check_read(reader, name)
        return versions.record(reader, name, number)


@dataclass(frozen=True)
class Registration:
    """A version about to be written: checked, its files (if any) already stored."""

    name: str
    source: str
    run_id: str
    description: str
    tags: dict[str, str]
    files: list[StoredFile]
    create_model: bool
    findings: list[Finding]
    reason: str
    signature: VerifiedSignature | None = None
    interface: Interface | None = None    # given explicitly
    model_id: str = ""                    # MLflow 3's logged model


def check_registration(service: ServiceBase, name: str, source: str, run_id: str,
                       description: str, tags: dict[str, str] | None, create_model: bool
                       ) -> list[Finding]:
    """Every check a registration passes before any byte is stored; the name's findings."""
    service._check_may_register(name, create_model)
    check_run_id(run_id)
    if source:
        check_source(source, run_id=run_id, policy=service.policies.sources)
    check_description(description)
    for key, value in (tags or {}).items():
        check_tag(key, value)
    # Only a model about to be created has its name checked; MLflow's surface never
    # creates one here, and an existing name was checked when it was created.
    return ([] if not create_model or name_is_taken(service, name)
            else check_new_name(service, name))


def store_files(service: ServiceBase, root: Path, progress: Progress | None, *,
                skip: Path | None = None) -> list[StoredFile]:
    """Store a file or a folder's files; ``skip`` is a signature file inside the folder,
    which its own signature cannot cover and which is not part of the model."""
    stored = []
    leave_out = skip.resolve() if skip is not None else None
    for relative, file in local_files(root):
        if leave_out is not None and Path(file).resolve() == leave_out:
            continue
        digest, size = service.blobs.put_file(file, progress)
        stored.append((relative, size, digest))
    return stored


def insert_version(service: ServiceBase, new: Registration) -> VersionRecord:
    """Write the next version of ``new.name`` (creating the model when allowed), audited."""
    found = declared(service, explicit=new.interface, files=new.files, tags=new.tags,
                     model_id=new.model_id, source=new.source, run_id=new.run_id)
    with service._write() as tx:
        # The common case in one statement: a model of that name, its counter taken (a
        # refusal below rolls the count back with the rest of the write).
        taken = models.take_next_number(tx, new.name, tx.now)
        if taken is not None:
            model, number, has_signers = taken
            service._require(REGISTER, model)
        else:
            model = _model_for_new_version(service, tx, new)
            number, has_signers = models.next_version_number(tx, model.id, tx.now), True
        status = admit_signer(service, tx, model, number, new.signature,
                              may_have_signers=has_signers)
        digest = manifest_digest([(p, d) for p, _, d in new.files]) if new.files else ""
        signed = new.signature
        answer = versions.insert(
            tx, model.id, number, model_name=model.name, stage=Stage.NONE.value,
            source=new.source, run_id=new.run_id, description=new.description, digest=digest,
            now=tx.now, status=status, signer=str(signed.signer) if signed else None,
            signature=signed.bundle_sha256 if signed else None,
            logged_model_id=found.model_id, tags=new.tags.items(), files=new.files)
        record_declared(tx, model.id, number, found)
        payload: dict[str, object] = {"source": new.source, "run_id": new.run_id,
                                      "digest": digest, "files": len(new.files)}
        if found.interface is not None:
            payload["interface"] = found.origin
        if found.model_id:
            payload["model_id"] = found.model_id
        if signed is not None:
            payload.update(signer=str(signed.signer), signature=signed.bundle_sha256,
                           status=status)
        tx.record(events.NewEvent(
            events.VERSION_REGISTERED, model.name, number, to_stage=Stage.NONE.value,
            reason=new.reason, payload=payload))
        return answer


def _model_for_new_version(service: ServiceBase, tx: WriteTx, new: Registration) -> ModelRow:
    """The model a version is registered under when no model has ``new.name`` now: the
    one it redirects to, or a new one when that is allowed."""
    if not new.create_model or models.redirect_of(tx, new.name):
        model, _ = models.get(tx, new.name)
        service._require(REGISTER, model)
        return model
    return insert_model(service, tx, new.name, "", new.findings, new.reason)


def alias_not_found(model: str, alias: str) -> NotFound:
    return NotFound(codes.ALIAS_NOT_FOUND, f"{model} has no alias '{alias}'",
                    f"set it with `charter alias {model} {alias} VERSION`", {"alias": alias})


def parse_version(version: int | str) -> int:
    text = str(version).strip()
    if text.lower().startswith("v"):
        text = text[1:]
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_VERSION:
        raise InvalidInput(codes.VERSION_INVALID, f"'{version}' is not a version number",
                           f"versions are whole numbers from 1 to {MAX_VERSION}, e.g. 3 or v3")
    return int(text)

