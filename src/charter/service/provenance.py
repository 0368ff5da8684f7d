"""Use cases of provenance: a model's allowed signers, signing a version after the fact,
an owner's decision on a held version, and attestations (docs/provenance.md).

Held versions are ``PENDING_REGISTRATION``: they cannot move or take an alias until
an owner releases them (``service.signatures`` holds what registration shares).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

from charter.domain import error_codes as codes
from charter.domain import events
from charter.domain.access import EDIT, READ, REGISTER, Role
from charter.domain.attestations import Envelope, check_subjects, parse_document
from charter.domain.errors import Conflict, NotFound
from charter.domain.records import AttestationRecord, SignerRecord, VersionRecord
from charter.domain.signers import (
    Signer,
    check_signer_edit,
    parse_signer,
)
from charter.domain.values import check_reason
from charter.service.base import ServiceBase
from charter.service.signatures import (
    HELD,
    READY,
    REFUSED,
    admit_signer,
    known_keys,
    read_content,
    read_signature,
    read_signer_key,
    verify_signature,
)
from charter.service.versions import parse_version
from charter.store import models, provenance, versions
from charter.store.driver import Conn
from charter.store.models import ModelRow
from charter.store.versions import VersionRow

SIGNERS = "signers"  # the operation of managing a model's signers (an owner's)
MAX_ATTESTATIONS = 1000


class ProvenanceMixin(ServiceBase):
    def signers(self, name: str) -> list[SignerRecord]:
        """Who may sign ``name``'s versions (empty: anyone, until a signed version pins)."""
        with self._read() as reader:
            model, _ = models.get(reader, name)
            self._require(READ, model)
            return provenance.allowed_signers(reader, model.id)

    def edit_signers(self, name: str, *, add: Iterable[str] = (), remove: Iterable[str] = (),
                     reason: str) -> list[SignerRecord]:
        """An owner adds (a signer, or a PEM public key) or removes allowed signers, audited."""
        reason = check_reason(reason, required=True)
        added = [_signer_entry(item) for item in add]
        removed = [parse_signer(item) for item in remove]
        with self._write() as tx:
            model, _ = models.get(tx, name)
            self._require(SIGNERS, model, needed=Role.OWNER, what="change who may sign it")
            current = {parse_signer(s.signer) for s in provenance.allowed_signers(tx, model.id)}
            check_signer_edit(model.name, current, [s for s, _ in added], removed)
            provenance.remove_signers(tx, model.id, [str(s) for s in removed])
            for signer, pem in added:
                provenance.add_signer(tx, model.id, str(signer), pem, self.actor, tx.now)
            tx.record(events.NewEvent(events.SIGNERS_CHANGED, model.name, reason=reason,
                                      payload={"added": [str(s) for s, _ in added],
                                               "removed": [str(s) for s in removed]}))
            return provenance.allowed_signers(tx, model.id)

    def sign_version(self, name: str, version: int | str, signature: bytes | str | Path, *,
                     signer_key: str | Path | None = None, reason: str = "") -> VersionRecord:
        """Attach a signature to a version registered unsigned; its signer must be allowed
        (or becomes the first allowed one). A signature, once there, never changes."""
        number = parse_version(version)
        record = self._version_record(name, number, REGISTER)
        given = read_signature(signature, signer_key)
        assert given is not None
        if record.signer is not None:
            raise Conflict(codes.SIGNATURE_EXISTS, f"{record.uri} is already signed by "
                           f"{record.signer}", "a version's signature never changes; "
                           "register a new version to sign it again")
        verified = verify_signature(self, name, given, [(f.path, f.size, f.sha256)
                                                        for f in record.files],
                                    subject=record.uri)
        with self._write() as tx:
            model, row = self._provenance_version(tx, REGISTER, name, number)
            if row.signer is not None:
                raise Conflict(codes.SIGNATURE_EXISTS, f"{record.uri} was signed meanwhile",
                               "a version's signature never changes")
            admit_signer(self, tx, model, row.version, verified, hold=False)
            versions.set_signature(tx, row.id, str(verified.signer), verified.bundle_sha256,
                                   tx.now)
            tx.record(events.NewEvent(events.VERSION_SIGNED, model.name, row.version,
                                      reason=reason, payload={
                                          "signer": str(verified.signer),
                                          "signature": verified.bundle_sha256}))
            return versions.record(tx, model.name, row.version)

    def release_hold(self, name: str, version: int | str, *, reason: str) -> VersionRecord:
        """An owner admits a held version's signer: it joins the allowed signers, and the
        version becomes READY."""
        return self._decide_hold(name, version, reason=reason, release=True)

    def reject_hold(self, name: str, version: int | str, *, reason: str) -> VersionRecord:
        """An owner refuses a held version's signer: the version stays unusable
        (FAILED_REGISTRATION), its number is not given out again."""
        return self._decide_hold(name, version, reason=reason, release=False)

    def _decide_hold(self, name: str, version: int | str, *, reason: str, release: bool
                     ) -> VersionRecord:
        reason = check_reason(reason, required=True)
        with self._write() as tx:
            model, row = self._provenance_version(tx, SIGNERS, name, parse_version(version),
                                                  needed=Role.OWNER)
            if row.status != HELD:
                raise Conflict(codes.VERSION_NOT_HELD, f"{model.name} v{row.version} is "
                               f"{row.status}, not held for a signer decision",
                               "only versions registered by an unknown signer under "
                               "unknown_signer = \"hold\" wait for one")
            signer = str(row.signer)
            if release:
                allowed = {s.signer for s in provenance.allowed_signers(tx, model.id)}
                if signer not in allowed:
                    provenance.add_signer(tx, model.id, signer, "", self.actor, tx.now)
                    tx.record(events.NewEvent(events.SIGNERS_CHANGED, model.name, row.version,
                                              reason=reason, payload={"added": [signer],
                                                                      "removed": []}))
            versions.set_status(tx, row.id, READY if release else REFUSED, tx.now)
            tx.record(events.NewEvent(
                events.HOLD_RELEASED if release else events.HOLD_REJECTED, model.name,
                row.version, reason=reason, payload={"signer": signer}))
            return versions.record(tx, model.name, row.version)

    def signature_bundle(self, name: str, version: int | str) -> bytes:
        record = self._version_record(name, parse_version(version))
        if record.signature is None:
            raise NotFound(codes.SIGNATURE_NOT_FOUND, f"{record.uri} is not signed",
                           f"attach one with `charter sign {record.name}/{record.version} "
                           "model.sig`")
        return b"".join(self.blobs.iter_chunks(record.signature))

    # ---- attestations ---------------------------------------------------------------

    def attest(self, name: str, version: int | str, document: bytes | str | Path, *,
               signer_key: str | Path | None = None) -> AttestationRecord:
        """Attach an in-toto statement (bare, or DSSE-signed) about the version's bytes."""
        number = parse_version(version)
        record = self._version_record(name, number, EDIT)
        raw = read_content(document)
        statement, envelope = parse_document(raw)
        check_subjects(statement, [(f.path, f.sha256) for f in record.files], record.digest,
                       subject=record.uri)
        signer = (self._envelope_signer(name, envelope, signer_key)
                  if envelope is not None else None)
        digest, size = self.blobs.put_stream(io.BytesIO(raw))
        with self._write() as tx:
            model, row = self._provenance_version(tx, EDIT, name, number)
            if provenance.has_attestation(tx, row.id, digest):
                raise Conflict(codes.ATTESTATION_EXISTS, f"{record.uri} already has this "
                               f"attestation ({digest[:12]}…)", "attestations are immutable; "
                               "attach a new statement to add evidence")
            if provenance.attestation_count(tx, row.id) >= MAX_ATTESTATIONS:
                raise Conflict(codes.ATTESTATION_TOO_MANY, f"{record.uri} has "
                               f"{MAX_ATTESTATIONS} attestations", "register a new version")
            provenance.add_attestation(
                tx, row.id, sha256=digest, size=size, predicate_type=statement.predicate_type,
                predicate=dict(statement.predicate), signer=str(signer) if signer else None,
                actor=self.actor, now=tx.now)
            tx.record(events.NewEvent(events.ATTESTATION_ADDED, model.name, row.version,
                                      payload={"sha256": digest,
                                               "predicate_type": statement.predicate_type,
                                               "signer": str(signer) if signer else None}))
            return provenance.attestations(tx, model.name, row.version, row.id)[-1]

    def _envelope_signer(self, name: str, envelope: Envelope,
                         signer_key: str | Path | None) -> Signer:
        """Who signed a DSSE envelope: a key sent with it, or one the model's signers keep."""
        with self._read() as reader:
            keys = known_keys(reader, name)
        if signer_key is not None:
            keys.insert(0, read_signer_key(signer_key))
        from charter.signing.envelopes import envelope_signer  # cryptography on first use

        return envelope_signer(envelope, keys)

    def attestations(self, name: str, version: int | str) -> list[AttestationRecord]:
        with self._read() as reader:
            model, row = self._provenance_version(reader, READ, name, parse_version(version))
            return provenance.attestations(reader, model.name, row.version, row.id)

    def attestation_document(self, name: str, version: int | str, sha256: str) -> bytes:
        """The attestation exactly as it was attached."""
        if not any(a.sha256 == sha256 for a in self.attestations(name, version)):
            raise NotFound(codes.ATTESTATION_NOT_FOUND, f"{name} v{version} has no attestation "
                           f"{str(sha256)[:64]!r}", "list them with `charter attestations "
                           f"{name}/{version}`")
        return b"".join(self.blobs.iter_chunks(sha256))

    def _version_record(self, name: str, number: int, operation: str = READ
                        ) -> VersionRecord:
        """The version's record, once the principal may do ``operation`` on its model:
        checked before any of the request's content is, so a model the caller may not
        see answers exactly as one that does not exist."""
        with self._read() as reader:
            model, row = self._provenance_version(reader, operation, name, number)
            return versions.record(reader, model.name, row.version)

    def _provenance_version(self, conn: Conn, operation: str, name: str, number: int, *,
                            needed: Role | None = None) -> tuple[ModelRow, VersionRow]:
        model, via = models.get(conn, name)
        self._require(operation, model, needed=needed,
                      what="decide on held versions" if needed else "")
        return model, versions.row(conn, model, number, via=via)


def _signer_entry(item: str) -> tuple[Signer, str]:
    """An added signer: ``key:sha256:…``/``certificate:…``, or a PEM public key (kept)."""
    if item.lstrip().startswith("-----BEGIN"):
        from charter.signing.envelopes import load_signer_key

        key = load_signer_key(item)
        return key.signer, key.pem
    signer = parse_signer(item)
    return signer, ""
