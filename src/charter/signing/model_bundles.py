"""Verify an OpenSSF model-signing bundle and say what it signed, without the model's bytes.

model-signing's public ``verify(model_path, signature_path)`` re-hashes a folder on
disk. The server already has every file's sha256, so it asks the library's verifier
for the signed manifest only (the signature and the certificate chain are checked
by the library) and compares digests in ``domain.signed_files``: the cost does not
grow with the model's size. That verifier is not public API; ``pyproject.toml``
pins the minor version and tests/signing pins the behaviour.

Key-signed bundles carry only a hint of their key (the sha256 of its PEM); the key
itself comes from the request or from the name's allowed signers. Certificate-signed
bundles carry their chain and are checked against the configured roots
(``[signing] certificate_roots``). Sigstore keyless bundles need the public Sigstore
instance and are refused.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography import x509

from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput, Unavailable
from charter.domain.signed_files import SignedManifest, SignedResource
from charter.domain.signers import CERTIFICATE, Signer, parse_signer
from charter.signing.envelopes import SignerKey

MAX_BUNDLE = 64 * 1024 * 1024


def _library() -> Any:
    """model-signing's verifiers, imported on first use (importing it takes ~1.5 s)."""
    try:
        from model_signing._signing import sign_certificate, sign_ec_key, sign_sigstore_pb
    except ImportError:
        raise Unavailable(codes.SIGNING_UNAVAILABLE,
                          "This Charter cannot verify model signatures: the model-signing "
                          "package is not installed",
                          "install it where the registry runs: "
                          "pip install 'charter-registry[signing]'") from None
    return sign_certificate, sign_ec_key, sign_sigstore_pb


def verify_bundle(bundle: bytes, *, keys: Sequence[SignerKey],
                  certificate_roots: Sequence[Path]) -> SignedManifest:
    """Check the bundle's signature; answer its signer and the manifest it signed."""
    material = _material(bundle)
    certificates, ec_key, sigstore_pb = _library()
    with tempfile.TemporaryDirectory(prefix="charter-sig-") as folder:
        path = Path(folder) / "model.sig"
        path.write_bytes(bundle)
        signature = _read(sigstore_pb, path)
        if "x509CertificateChain" in material:
            verifier = _certificate_verifier(certificates, certificate_roots)
            signer = _certificate_signer(material)
        elif "publicKey" in material:
            key = _key_for(material["publicKey"], keys)
            pem = Path(folder) / "signer.pub"
            pem.write_text(key.pem)
            verifier, signer = ec_key.Verifier(pem), key.signer
        else:
            raise InvalidInput(codes.SIGNATURE_UNSUPPORTED, "The bundle is a Sigstore keyless "
                               "signature; checking it needs the public Sigstore instance",
                               "sign with a key (model_signing sign key) or a certificate "
                               "(model_signing sign certificate)")
        manifest = _verify(verifier, signature)
    return _signed_manifest(signer, manifest)


def _material(bundle: bytes) -> dict[str, Any]:
    if len(bundle) > MAX_BUNDLE:
        raise InvalidInput(codes.SIGNATURE_TOO_LARGE, f"The signature is {len(bundle)} bytes; the "
                           f"limit is {MAX_BUNDLE}", "sign the model folder, not its archive")
    try:
        document = json.loads(bundle.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        document = None
    material = document.get("verificationMaterial") if isinstance(document, dict) else None
    if not isinstance(material, dict) or not isinstance(document.get("dsseEnvelope"), dict):
        raise InvalidInput(codes.SIGNATURE_INVALID, "The signature is not an OpenSSF model-signing "
                           "bundle (JSON with verificationMaterial and dsseEnvelope)",
                           "send the .sig file `model_signing sign` wrote")
    return material


# The library parses and checks bytes a client sent; whatever it raises on them
# (ValueError, KeyError, pydantic or OpenSSL errors) is that client's bad signature.
def _read(sigstore_pb: Any, path: Path) -> Any:
    try:
        return sigstore_pb.Signature.read(path)
    except Exception as error:  # noqa: BLE001 - see above
        raise _invalid(error) from None


def _verify(verifier: Any, signature: Any) -> Any:
    try:
        return verifier.verify(signature)
    except Exception as error:  # noqa: BLE001 - see above
        raise _invalid(error) from None


def _invalid(error: Exception) -> InvalidInput:
    detail = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
    return InvalidInput(codes.SIGNATURE_INVALID, "The model signature does not verify"
                        + (f": {detail}" if detail else f" ({type(error).__name__})"),
                        "sign the model again and send the .sig file unchanged; a bundle "
                        "edited after signing never verifies")


def _key_for(public_key: object, keys: Sequence[SignerKey]) -> SignerKey:
    hint = public_key.get("hint") if isinstance(public_key, dict) else None
    if not hint and len(keys) == 1:
        return keys[0]
    for key in keys:
        if key.fingerprint == hint:
            return key
    raise InvalidInput(codes.SIGNATURE_KEY_UNKNOWN,
                       f"The model was signed by key sha256:{str(hint)[:64]}, and Charter has "
                       "no public key with that fingerprint",
                       "send the signer's public key with it (--signer-key key.pub), or have an "
                       "owner add the key to the model's allowed signers")


def _certificate_verifier(certificates: Any, roots: Sequence[Path]) -> Any:
    if not roots:
        raise InvalidInput(codes.SIGNATURE_NO_ROOTS, "The model is signed with a certificate, and "
                           "this registry trusts no certificate authority for model signing",
                           "have the operator set [signing] certificate_roots to the CA "
                           "bundle(s) that issue signing certificates")
    try:
        return certificates.Verifier(list(roots))
    except (OSError, ValueError) as error:
        raise Unavailable(codes.SIGNING_ROOTS_UNREADABLE, f"The configured certificate roots "
                          f"cannot be read: {error}", "fix [signing] certificate_roots") from None


def _certificate_signer(material: dict[str, Any]) -> Signer:
    try:
        der = base64.b64decode(material["x509CertificateChain"]["certificates"][0]["rawBytes"])
        subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise _invalid(error) from None
    return parse_signer(f"{CERTIFICATE}:{subject}")


def _signed_manifest(signer: Signer, manifest: Any) -> SignedManifest:
    serialization = manifest.serialization_type
    resources = tuple(sorted(
        SignedResource(str(rd.identifier), rd.digest.algorithm, rd.digest.digest_hex)
        for rd in manifest.resource_descriptors()))
    return SignedManifest(signer, str(serialization.get("method", "")),
                          str(serialization.get("hash_type", "")), resources)
