"""Public keys of signers, and DSSE envelope signatures checked with them.

A signer's key is named by the sha256 of its PEM public key (SubjectPublicKeyInfo),
the value OpenSSF model-signing bundles carry as their key hint, so one fingerprint
names a key for model signatures and attestations alike. Keys are ECDSA on P-256,
P-384 or P-521 (what model-signing signs with) or Ed25519 (attestations only).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from charter.domain import error_codes as codes
from charter.domain.attestations import Envelope
from charter.domain.errors import InvalidInput
from charter.domain.signers import Signer, key_signer

MAX_PEM = 16 * 1024
_CURVES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256, "secp384r1": hashes.SHA384, "secp521r1": hashes.SHA512}

PublicKey = ec.EllipticCurvePublicKey | Ed25519PublicKey


@dataclass(frozen=True)
class SignerKey:
    """A public key as Charter keeps it: canonical PEM, and the signer it proves."""

    pem: str
    key: PublicKey

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.pem.encode()).hexdigest()

    @property
    def signer(self) -> Signer:
        return key_signer(self.fingerprint)


def load_signer_key(pem: str) -> SignerKey:
    """Parse a PEM public key; refuse other kinds and unsupported curves."""
    try:
        key = serialization.load_pem_public_key(pem.encode()[:MAX_PEM])
    except (ValueError, TypeError, UnicodeEncodeError):
        key = None
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name not in _CURVES:
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey | Ed25519PublicKey):
        raise InvalidInput(codes.SIGNER_KEY_INVALID, "The signer's public key is not a PEM "
                           "ECDSA (P-256, P-384, P-521) or Ed25519 public key",
                           "send the .pub file of the key that signed, e.g. the output of "
                           "`openssl ec -in key.pem -pubout`")
    canonical = key.public_bytes(serialization.Encoding.PEM,
                                 serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return SignerKey(canonical, key)


def _verifies(key: PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        if isinstance(key, Ed25519PublicKey):
            key.verify(signature, message)
        else:
            key.verify(signature, message, ec.ECDSA(_CURVES[key.curve.name]()))
    except (InvalidSignature, ValueError):
        return False
    return True


def envelope_signer(envelope: Envelope, keys: Sequence[SignerKey]) -> Signer:
    """The signer whose key verifies one of the envelope's signatures over its PAE bytes.

    Refused when no key does: an envelope whose signature Charter cannot check is not
    recorded as signed by anyone."""
    message = envelope.pae()
    for signature in envelope.signatures:
        for key in keys:
            if _verifies(key.key, signature.sig, message):
                return key.signer
    if not keys:
        raise InvalidInput(codes.ATTESTATION_SIGNER_KEY_REQUIRED,
                           "The attestation is signed, but Charter has no public key to check "
                           "the signature with", "send the signer's public key with it "
                           "(--signer-key key.pub), or attach the bare statement unsigned")
    raise InvalidInput(codes.ATTESTATION_SIGNATURE_INVALID,
                       "The attestation's signature does not verify with "
                       f"{', '.join(k.signer.short for k in keys)}",
                       "sign the envelope's PAE bytes with the key whose public half you send, "
                       "and do not change the payload after signing")
