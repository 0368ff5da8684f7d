"""The remote half of provenance: signatures, allowed signers, held versions,
attestations, checkpoints and proofs (docs/provenance.md).

Same method names, parameters and records as the embedded service
(``charter.service.provenance``, ``.checkpoints``), with one difference that is the
point: given a checkpoint, ``verify_audit`` walks the server's event feed and
recomputes every hash here, and ``prove_resolution`` answers a proof the caller
checks here (``signing.audit``), so neither verdict rests on the server's word.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from charter.client import records
from charter.client.session import Session, segment
from charter.domain import error_codes as codes
from charter.domain.checkpoints import SignedCheckpoint, find_checkpoint, parse_checkpoint
from charter.domain.errors import InvalidInput
from charter.domain.proofs import AsOfProof, parse_proof
from charter.domain.records import (
    AttestationRecord,
    AuditPoint,
    AuditReport,
    EventRecord,
    SignerRecord,
    VersionRecord,
)

FEED_PAGE = 10_000


def read_checkpoint(source: str, *, token: str | None = None) -> SignedCheckpoint:
    """A saved checkpoint from a file, or fetched from a URL (e.g. a Charter server's
    /api/v1/checkpoints/latest, or wherever a webhook receiver keeps them)."""
    import json

    if source.startswith(("http://", "https://")):
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = httpx.get(source, headers=headers, timeout=30, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise InvalidInput(codes.CHECKPOINT_UNREACHABLE, f"Cannot fetch {source}: {exc}",
                               "check the URL, or save the checkpoint to a file") from exc
        if not response.is_success:
            raise InvalidInput(codes.CHECKPOINT_UNREACHABLE, f"{source} answered "
                               f"{response.status_code}", "check the URL (and CHARTER_TOKEN "
                               "for a server with authentication)")
        text = response.text
    else:
        try:
            text = Path(source).read_text()
        except OSError as exc:
            raise InvalidInput(codes.CHECKPOINT_UNREADABLE, f"Cannot read {source}: "
                               f"{exc.strerror}", "pass a saved checkpoint's file or URL") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidInput(codes.CHECKPOINT_INVALID, f"{source} holds no JSON",
                           "pass a checkpoint as the server published it") from None
    return find_checkpoint(data)


def _version(name: str, version: int | str) -> str:
    return f"/models/{segment(name)}/versions/{segment(version)}"


def signed_text(given: bytes | str | Path) -> str:
    """A document's text as the JSON body carries it (a Path is read here, locally)."""
    if isinstance(given, Path):
        return given.read_text()
    return given.decode() if isinstance(given, bytes) else given


def signer_text(signer_key: str | Path | None) -> str | None:
    return signer_key.read_text() if isinstance(signer_key, Path) else signer_key


class ProvenanceClient:
    _session: Session
    actor: str

    def _call(self, method: str, path: str, *, json: Any = None,
              params: Any = None) -> Any:  # provided by RemoteRegistry
        raise NotImplementedError

    def signers(self, name: str) -> list[SignerRecord]:
        return records.signers(self._call("GET", f"/models/{segment(name)}/signers"))

    def edit_signers(self, name: str, *, add: Iterable[str] = (), remove: Iterable[str] = (),
                     reason: str) -> list[SignerRecord]:
        body = {"add": list(add), "remove": list(remove), "reason": reason}
        return records.signers(self._call("PATCH", f"/models/{segment(name)}/signers",
                                          json=body))

    def sign_version(self, name: str, version: int | str, signature: bytes | str | Path, *,
                     signer_key: str | Path | None = None, reason: str = "") -> VersionRecord:
        body = {"signature": signed_text(signature), "signer_key": signer_text(signer_key),
                "reason": reason}
        return records.version(self._call("PUT", _version(name, version) + "/signature",
                                          json=body))

    def signature_bundle(self, name: str, version: int | str) -> bytes:
        return self._session.raw(_version(name, version) + "/signature", actor=self.actor)

    def release_hold(self, name: str, version: int | str, *, reason: str) -> VersionRecord:
        return records.version(self._call("POST", _version(name, version) + "/hold/release",
                                          json={"reason": reason}))

    def reject_hold(self, name: str, version: int | str, *, reason: str) -> VersionRecord:
        return records.version(self._call("POST", _version(name, version) + "/hold/reject",
                                          json={"reason": reason}))

    def attest(self, name: str, version: int | str, document: bytes | str | Path, *,
               signer_key: str | Path | None = None) -> AttestationRecord:
        answer = self._call("POST", _version(name, version) + "/attestations",
                            json={"document": signed_text(document),
                                  "signer_key": signer_text(signer_key)})
        return records.attestations({"attestations": [answer]})[0]

    def attestations(self, name: str, version: int | str) -> list[AttestationRecord]:
        return records.attestations(self._call("GET", _version(name, version)
                                               + "/attestations"))

    def attestation_document(self, name: str, version: int | str, sha256: str) -> bytes:
        return self._session.raw(f"{_version(name, version)}/attestations/{segment(sha256)}",
                                 actor=self.actor)

    # ---- checkpoints and proofs ---------------------------------------------------------

    def checkpoints(self, *, after: int = 0, limit: int = 100) -> list[SignedCheckpoint]:
        answer = self._call("GET", "/checkpoints", params={"after": after, "limit": limit})
        return [parse_checkpoint(c) for c in answer["checkpoints"]]

    def latest_checkpoint(self) -> SignedCheckpoint:
        return parse_checkpoint(self._call("GET", "/checkpoints/latest"))

    def sign_checkpoint(self) -> SignedCheckpoint:
        return parse_checkpoint(self._call("POST", "/checkpoints"))

    def prove_resolution(self, uri: str, as_of: datetime) -> AsOfProof:
        return parse_proof(self._call("GET", "/proofs",
                                      params={"uri": uri, "as_of": as_of.isoformat()}))

    def verify_audit(self, *, checkpoint: SignedCheckpoint | None = None,
                     trusted_keys: Collection[str] = (), full: bool = False) -> AuditReport:
        """The server's own verdict (``full``: over every event, not only those after the
        point its last verify proved); given a checkpoint, this client's: it pages the
        event feed and recomputes the whole chain itself."""
        if checkpoint is None and not trusted_keys:
            return records.audit_report(self._call("GET", "/audit/verify",
                                                   params={"full": "true"} if full else None))
        # Imported here: cryptography is loaded only by those who verify.
        from charter.signing.audit import audit_report, prove_records, trust_for

        trusted, warning = trust_for(checkpoint, trusted_keys)
        proof = prove_records(self._pages(), given=[checkpoint] if checkpoint else [],
                              trusted_keys=trusted)
        return audit_report(proof, None, None, [warning] if warning else [])

    def audit_verified(self) -> AuditPoint:
        found = self._call("GET", "/audit/verified")
        return AuditPoint(found["seq"], found["time"], found["full_seq"], found["full_time"])

    def _pages(self) -> Iterator[list[EventRecord]]:
        after = 0
        while True:
            page = records.events(self._call("GET", "/events",
                                             params={"after": after, "limit": FEED_PAGE}))
            if page:
                yield page
            if len(page) < FEED_PAGE:
                return
            after = page[-1].seq
