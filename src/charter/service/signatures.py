"""Checking a signature and the signer continuity of a name: what registering a signed
version and attaching a signature later share (docs/provenance.md).

A signature is verified before the version is written: the bundle's own signature
first (``signing.model_bundles``), then its manifest against the digests the server
stored (``domain.signed_files``). Inside the registration's write transaction the
name's allowed signers decide (``domain.signers.judge_signer``): the first signed
version pins its signer, an unknown one is refused or held for an owner.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from charter.domain import error_codes as codes
from charter.domain import events
from charter.domain.errors import Conflict, InvalidInput
from charter.domain.signed_files import check_signed_files
from charter.domain.signers import Signer, UnknownSigner, Verdict, judge_signer, parse_signer
from charter.service.base import ServiceBase
from charter.store import models, provenance
from charter.store.database import WriteTx
from charter.store.driver import Conn
from charter.store.models import ModelRow
from charter.store.versions import StoredFile, VersionRow

if TYPE_CHECKING:  # cryptography on first signature: reading a registry needs none
    from charter.signing.envelopes import SignerKey

READY, HELD, REFUSED = "READY", "PENDING_REGISTRATION", "FAILED_REGISTRATION"


@dataclass(frozen=True)
class Signature:
    """A signature bundle as a client sent it, and the signer's public key if it sent one."""

    bundle: bytes
    signer_key: SignerKey | None = None


@dataclass(frozen=True)
class VerifiedSignature:
    signer: Signer
    bundle_sha256: str
    public_key: str          # the PEM that verified it, for a key signer; else ""


def read_signature(signature: bytes | str | Path | None, signer_key: str | Path | None
                   ) -> Signature | None:
    """What ``register --signature FILE --signer-key FILE`` hands the service; checked
    before any byte of the model is stored."""
    if signature is None:
        if signer_key is not None:
            raise InvalidInput(codes.SIGNATURE_MISSING, "A signer key was given without a "
                               "signature", "pass the .sig file too: --signature model.sig")
        return None
    return Signature(read_content(signature),
                     read_signer_key(signer_key) if signer_key is not None else None)


def read_content(given: bytes | str | Path) -> bytes:
    """A document as sent (bytes, or text), or a local file (a Path: the CLI's and SDK's
    embedded use; a string is never taken for a path, so no client names a server file)."""
    if isinstance(given, Path):
        return given.read_bytes()
    return given if isinstance(given, bytes) else given.encode()


def read_signer_key(signer_key: str | Path) -> SignerKey:
    """A signer's public key: PEM text, or a .pub file given as a Path."""
    from charter.signing.envelopes import load_signer_key

    return load_signer_key(signer_key.read_text() if isinstance(signer_key, Path)
                           else signer_key)


def known_keys(conn: Conn, name: str) -> list[SignerKey]:
    """The public keys of ``name``'s allowed key signers, as kept when they were pinned."""
    from charter.signing.envelopes import load_signer_key

    model = models.find(conn, name)
    if model is None:
        return []
    return [load_signer_key(s.public_key) for s in provenance.allowed_signers(conn, model.id)
            if s.public_key]


def verify_signature(service: ServiceBase, name: str, signature: Signature,
                     files: Sequence[StoredFile], *, subject: str) -> VerifiedSignature:
    """Check the bundle and that it covers exactly ``files``; store the bundle as a blob."""
    if not files:
        raise InvalidInput(codes.SIGNATURE_NO_FILES, f"{subject} holds no files for the signature "
                           "to cover", "register the signed folder itself: "
                           "`charter register NAME ./folder --signature model.sig`")
    with service._read() as reader:
        keys = known_keys(reader, name)
    if signature.signer_key is not None:
        keys.insert(0, signature.signer_key)
    from charter.signing.model_bundles import verify_bundle

    manifest = verify_bundle(signature.bundle, keys=keys,
                             certificate_roots=service.policies.certificate_roots)
    check_signed_files(manifest, [(path, digest) for path, _, digest in files],
                       subject=subject)
    digest, _ = service.blobs.put_stream(io.BytesIO(signature.bundle))
    pem = next((k.pem for k in keys if k.signer == manifest.signer), "")
    return VerifiedSignature(manifest.signer, digest, pem)


def admit_signer(service: ServiceBase, tx: WriteTx, model: ModelRow, number: int,
                 verified: VerifiedSignature | None, *, hold: bool = True,
                 may_have_signers: bool = True) -> str:
    """Signer continuity for a new version (or a signature attached to one): pin the
    first signer, accept an allowed one, hold or refuse another. Answers the status.
    ``may_have_signers`` False: the caller knows the model has no allowed signers (no
    read for them, with the chain head locked)."""
    allowed = provenance.allowed_signers(tx, model.id) if may_have_signers else []
    policy = service.policies.signing
    mode = policy.unknown_signer_for(model.name, service._former_names(tx, model, policy.models))
    signer = verified.signer if verified is not None else None
    verdict = judge_signer(model.name, {parse_signer(a.signer) for a in allowed}, signer,
                           mode if hold else UnknownSigner.REFUSE)
    if verified is None:
        return READY
    if verdict is Verdict.PIN:
        provenance.add_signer(tx, model.id, str(verified.signer), verified.public_key,
                              service.actor, tx.now)
        tx.record(events.NewEvent(
            events.SIGNERS_CHANGED, model.name, number,
            reason=f"pinned by the first signed version, v{number}",
            payload={"added": [str(verified.signer)], "removed": []}))
    elif verdict is Verdict.ACCEPT and verified.public_key:
        provenance.remember_key(tx, model.id, str(verified.signer), verified.public_key)
    return HELD if verdict is Verdict.HOLD else READY




def require_ready(model_name: str, row: VersionRow) -> None:
    """A held (or refused) version moves nowhere and takes no alias."""
    if row.status == READY:
        return
    if row.status == HELD:
        raise Conflict(codes.VERSION_HELD, f"{model_name} v{row.version} is held: it was signed "
                       f"by {row.signer}, whom {model_name} does not allow yet",
                       f"an owner decides: `charter hold release {model_name}/{row.version} "
                       f"--reason …` (or `hold reject`)", {"status": row.status})
    raise Conflict(codes.VERSION_NOT_READY, f"{model_name} v{row.version} is {row.status}",
                   "its signer was refused; register a version signed by an allowed signer",
                   {"status": row.status})
