"""OpenSSF model-signing bundles made by the real `model_signing` library (key and
certificate, offline), verified against digests the way the server does: without the
model's bytes."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from tests.provenance_kit import (
    make_authority,
    make_key,
    model_folder,
    sign_with_certificate,
    sign_with_key,
)

from charter.domain.errors import InvalidInput
from charter.domain.signed_files import check_signed_files
from charter.domain.signers import CERTIFICATE, KEY
from charter.signing.envelopes import load_signer_key
from charter.signing.model_bundles import verify_bundle


def digests(folder: Path) -> list[tuple[str, str]]:
    return sorted((p.relative_to(folder).as_posix(), hashlib.sha256(p.read_bytes()).hexdigest())
                  for p in folder.rglob("*") if p.is_file())


@pytest.fixture()
def signed_model(tmp_path: Path) -> tuple[Path, Path, object]:
    key = make_key(tmp_path / "keys")
    folder = model_folder(tmp_path / "model")
    return folder, sign_with_key(folder, key, tmp_path / "model.sig"), key


def test_a_key_signed_bundle_verifies_to_its_signer_and_the_folders_digests(
        signed_model: tuple[Path, Path, object]) -> None:
    folder, signature, key = signed_model
    signer_key = load_signer_key(key.public_pem)            # type: ignore[attr-defined]
    manifest = verify_bundle(signature.read_bytes(), keys=[signer_key], certificate_roots=[])
    assert manifest.signer == signer_key.signer and manifest.signer.kind == KEY
    # The fingerprint is the one model-signing itself writes as the bundle's key hint.
    hint = json.loads(signature.read_text())["verificationMaterial"]["publicKey"]["hint"]
    assert manifest.signer.id == f"sha256:{hint}"
    assert [(r.path, r.digest) for r in manifest.resources] == digests(folder)
    check_signed_files(manifest, digests(folder), subject="m/1")


def test_the_signers_key_is_found_among_several_by_the_bundles_hint(
        signed_model: tuple[Path, Path, object], tmp_path: Path) -> None:
    _, signature, key = signed_model
    others = [load_signer_key(make_key(tmp_path / "o", f"k{i}").public_pem) for i in range(3)]
    mine = load_signer_key(key.public_pem)                   # type: ignore[attr-defined]
    found = verify_bundle(signature.read_bytes(), keys=[*others, mine], certificate_roots=[])
    assert found.signer == mine.signer


def test_a_bundle_whose_key_charter_does_not_have_is_refused_naming_the_fingerprint(
        signed_model: tuple[Path, Path, object], tmp_path: Path) -> None:
    _, signature, _ = signed_model
    stranger = load_signer_key(make_key(tmp_path / "s").public_pem)
    with pytest.raises(InvalidInput) as refused:
        verify_bundle(signature.read_bytes(), keys=[stranger], certificate_roots=[])
    assert refused.value.code == "signature.key_unknown"
    assert "--signer-key" in refused.value.hint


def tampered(signature: Path, how: str) -> bytes:
    bundle = json.loads(signature.read_text())
    envelope = bundle["dsseEnvelope"]
    if how == "signature":
        raw = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
        raw[-1] ^= 1
        envelope["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()
    else:  # the payload: claim other bytes for a file, keep the signature
        payload = json.loads(base64.b64decode(envelope["payload"]))
        payload["predicate"]["resources"][0]["digest"] = "0" * 64
        envelope["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    return json.dumps(bundle).encode()


@pytest.mark.parametrize("how", ["signature", "payload"])
def test_a_tampered_bundle_is_refused(signed_model: tuple[Path, Path, object], how: str) -> None:
    _, signature, key = signed_model
    with pytest.raises(InvalidInput) as refused:
        verify_bundle(tampered(signature, how), keys=[load_signer_key(
            key.public_pem)], certificate_roots=[])        # type: ignore[attr-defined]
    assert refused.value.code == "signature.invalid"
    assert refused.value.message.startswith("The model signature does not verify")


@pytest.mark.parametrize("bundle", [b"", b"{}", b"\xff", b'{"verificationMaterial": {}}',
                                    b"[" * 100000, json.dumps({"verificationMaterial": {
                                        "publicKey": {"hint": "x"}}, "dsseEnvelope": {}}).encode()])
def test_bytes_that_are_no_bundle_are_refused_as_invalid(bundle: bytes, tmp_path: Path) -> None:
    key = load_signer_key(make_key(tmp_path).public_pem)
    with pytest.raises(InvalidInput) as refused:
        verify_bundle(bundle, keys=[key], certificate_roots=[])
    assert refused.value.code in ("signature.invalid", "signature.key_unknown")


def test_files_changed_after_signing_are_named(signed_model: tuple[Path, Path, object]) -> None:
    folder, signature, key = signed_model
    manifest = verify_bundle(signature.read_bytes(), keys=[load_signer_key(
        key.public_pem)], certificate_roots=[])             # type: ignore[attr-defined]
    (folder / "model.pkl").write_bytes(b"retrained")
    (folder / "notes.txt").write_text("added after signing")
    with pytest.raises(InvalidInput) as refused:
        check_signed_files(manifest, digests(folder), subject="fraud_detector/2")
    assert refused.value.code == "signature.files_mismatch"
    assert refused.value.details["problems"] == [
        "notes.txt: in the version but not signed",
        f"model.pkl: the signature says sha256 {hashlib.sha256(b'weights ' * 100).hexdigest()[:12]}"
        f"…, the stored file is {hashlib.sha256(b'retrained').hexdigest()[:12]}…"]


def test_a_certificate_signed_bundle_verifies_against_the_configured_root(tmp_path: Path) -> None:
    authority = make_authority(tmp_path / "ca")
    folder = model_folder(tmp_path / "model")
    signature = sign_with_certificate(folder, authority, tmp_path / "model.sig")
    manifest = verify_bundle(signature.read_bytes(), keys=[],
                             certificate_roots=[authority.root_path])
    assert manifest.signer.kind == CERTIFICATE
    assert manifest.signer.id == authority.subject == "O=Acme,CN=release-bot"
    check_signed_files(manifest, digests(folder), subject="m/1")


def test_a_certificate_from_another_authority_or_without_roots_is_refused(tmp_path: Path) -> None:
    authority, stranger = make_authority(tmp_path / "ca"), make_authority(tmp_path / "other")
    signature = sign_with_certificate(model_folder(tmp_path / "model"), authority,
                                      tmp_path / "model.sig").read_bytes()
    with pytest.raises(InvalidInput) as refused:
        verify_bundle(signature, keys=[], certificate_roots=[stranger.root_path])
    assert refused.value.code == "signature.invalid"
    with pytest.raises(InvalidInput) as refused:
        verify_bundle(signature, keys=[], certificate_roots=[])
    assert refused.value.code == "signature.no_roots"


def test_a_certificate_not_made_for_signing_is_refused(tmp_path: Path) -> None:
    authority = make_authority(tmp_path / "ca", digital_signature=False)
    signature = sign_with_certificate(model_folder(tmp_path / "model"), authority,
                                      tmp_path / "model.sig").read_bytes()
    with pytest.raises(InvalidInput) as refused:
        verify_bundle(signature, keys=[], certificate_roots=[authority.root_path])
    assert "cannot be used for signing" in refused.value.message


def test_p384_keys_sign_too(tmp_path: Path) -> None:
    key = make_key(tmp_path, curve=ec.SECP384R1())
    signature = sign_with_key(model_folder(tmp_path / "m"), key, tmp_path / "m.sig")
    found = verify_bundle(signature.read_bytes(), keys=[load_signer_key(key.public_pem)],
                          certificate_roots=[])
    assert found.signer == load_signer_key(key.public_pem).signer


def test_without_model_signing_installed_a_signature_gets_one_line_saying_what_to_install(
        signed_model: tuple[Path, Path, object]) -> None:
    _, signature, key = signed_model
    script = (
        "import sys, builtins\n"
        "real = builtins.__import__\n"
        "def refuse(name, *a, **k):\n"
        "    if name.startswith('model_signing'): raise ImportError(name)\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = refuse\n"
        "from pathlib import Path\n"
        "from charter.signing.envelopes import load_signer_key\n"
        "from charter.signing.model_bundles import verify_bundle\n"
        "try:\n"
        f"    verify_bundle(Path({str(signature)!r}).read_bytes(),\n"
        f"                  keys=[load_signer_key(Path({str(key.public_path)!r}).read_text())],\n"
        "                  certificate_roots=[])\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error.code, error.hint)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == ("Unavailable signing.unavailable install it where the "
                                   "registry runs: pip install 'charter-registry[signing]'")
