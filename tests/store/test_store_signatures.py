"""Signed versions and signer continuity on a real database (SQLite and PostgreSQL):
bundles made by the real `model_signing` library, verified against the digests the
registry stored; refusals change nothing."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from tests.provenance_kit import (
    make_authority,
    make_key,
    model_folder,
    sign_with_certificate,
    sign_with_key,
)

from charter.domain import events
from charter.domain.errors import Conflict, InvalidInput
from charter.service import RegistryService
from charter.signing.envelopes import load_signer_key

NAME = "fraud_detector"


@pytest.fixture
def alice(tmp_path: Path) -> Any:
    return make_key(tmp_path / "alice", "alice")


@pytest.fixture
def signed(tmp_path: Path, alice: Any) -> tuple[Path, Path]:
    folder = model_folder(tmp_path / "model")
    return folder, sign_with_key(folder, alice, tmp_path / "model.sig")


def events_of(registry: RegistryService, action: str) -> list[Any]:
    return [e for e in registry.history(NAME) if e.action == action]


def test_a_signed_folder_registers_with_its_signer_who_is_pinned(
        registry: RegistryService, signed: tuple[Path, Path], alice: Any) -> None:
    folder, signature = signed
    version = registry.register(NAME, path=folder, signature=signature,
                                signer_key=alice.public_path)
    signer = str(load_signer_key(alice.public_pem).signer)
    assert (version.signer, version.status) == (signer, "READY")
    assert version.signature == hashlib.sha256(signature.read_bytes()).hexdigest()
    assert registry.signature_bundle(NAME, 1) == signature.read_bytes()
    assert [s.signer for s in registry.signers(NAME)] == [signer]
    [pinned] = events_of(registry, events.SIGNERS_CHANGED)
    assert pinned.payload["added"] == [signer] and "first signed version" in pinned.reason
    [registered] = events_of(registry, events.VERSION_REGISTERED)
    assert registered.payload["signer"] == signer
    # The key was kept: the next bundle by it needs no key sent along.
    again = registry.register(NAME, path=folder, signature=signature)
    assert again.signer == signer and again.status == "READY"


def test_a_pinned_name_refuses_unsigned_versions_and_other_signers_changing_nothing(
        registry: RegistryService, given: Any, signed: tuple[Path, Path], alice: Any,
        tmp_path: Path) -> None:
    folder, signature = signed
    registry.register(NAME, path=folder, signature=signature, signer_key=alice.public_path)
    before = given.state()
    with pytest.raises(Conflict) as unsigned:
        registry.register(NAME, "s3://bucket/model.pkl")
    assert unsigned.value.code == "signature.required"
    with pytest.raises(Conflict) as unsigned_files:
        registry.register(NAME, path=folder)
    assert unsigned_files.value.code == "signature.required"
    mallory = make_key(tmp_path / "mallory", "mallory")
    forged = sign_with_key(folder, mallory, tmp_path / "mallory.sig")
    with pytest.raises(Conflict) as stranger:
        registry.register(NAME, path=folder, signature=forged, signer_key=mallory.public_path)
    assert stranger.value.code == "signer.unknown"
    assert str(load_signer_key(mallory.public_pem).signer) in stranger.value.message
    assert given.state() == before


def test_files_that_differ_from_the_signed_digests_are_refused_naming_them(
        registry: RegistryService, given: Any, signed: tuple[Path, Path], alice: Any) -> None:
    folder, signature = signed
    (folder / "model.pkl").write_bytes(b"retrained after signing")
    before = given.state()
    with pytest.raises(InvalidInput) as refused:
        registry.register(NAME, path=folder, signature=signature, signer_key=alice.public_path)
    assert refused.value.code == "signature.files_mismatch"
    assert "model.pkl" in refused.value.message
    assert given.state() == before


def test_a_tampered_bundle_is_refused(registry: RegistryService, given: Any,
                                      signed: tuple[Path, Path], alice: Any,
                                      tmp_path: Path) -> None:
    folder, signature = signed
    bundle = json.loads(signature.read_text())
    payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    payload["predicate"]["resources"][0]["digest"] = "0" * 64
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    tampered = tmp_path / "tampered.sig"
    tampered.write_text(json.dumps(bundle))
    before = given.state()
    with pytest.raises(InvalidInput) as refused:
        registry.register(NAME, path=folder, signature=tampered, signer_key=alice.public_path)
    assert refused.value.code == "signature.invalid"
    assert given.state() == before


def test_a_signature_file_inside_the_folder_is_left_out_of_the_version(
        registry: RegistryService, tmp_path: Path, alice: Any) -> None:
    folder = model_folder(tmp_path / "model")
    signature = sign_with_key(folder, alice, folder / "model.sig")  # model_signing's default
    version = registry.register(NAME, path=folder, signature=signature,
                                signer_key=alice.public_path)
    assert sorted(f.path for f in version.files) == ["conf/params.json", "model.pkl"]


def test_a_signature_needs_files_to_cover(registry: RegistryService,
                                          signed: tuple[Path, Path], alice: Any) -> None:
    _, signature = signed
    with pytest.raises(InvalidInput) as refused:
        registry.register(NAME, "s3://bucket/model.pkl", signature=signature,
                          signer_key=alice.public_path)
    assert refused.value.code == "signature.no_files"


def test_an_unknown_signer_is_held_for_an_owner_when_configured(
        make_registry: Any, tmp_path: Path, signed: tuple[Path, Path], alice: Any) -> None:
    (tmp_path / "charter.toml").write_text('[signing]\nunknown_signer = "hold"\n')
    registry = make_registry()
    folder, signature = signed
    registry.register(NAME, path=folder, signature=signature, signer_key=alice.public_path)
    bob = make_key(tmp_path / "bob", "bob")
    by_bob = sign_with_key(folder, bob, tmp_path / "bob.sig")
    held = registry.register(NAME, path=folder, signature=by_bob, signer_key=bob.public_path)
    assert held.status == "PENDING_REGISTRATION" and held.version == 2
    assert registry.resolve(f"models:/{NAME}/latest").version.version == 1
    assert registry.resolve(f"models:/{NAME}/None").version.version == 1
    with pytest.raises(Conflict) as moving:
        registry.transition(NAME, 2, "Staging", reason="try")
    assert moving.value.code == "version.held" and "hold release" in moving.value.hint
    with pytest.raises(Conflict):
        registry.set_alias(NAME, "challenger", 2)
    released = registry.release_hold(NAME, 2, reason="bob joined the release team")
    assert released.status == "READY"
    assert str(load_signer_key(bob.public_pem).signer) in {s.signer for s in registry.signers(
        NAME)}
    registry.transition(NAME, 2, "Staging", reason="validate")
    carol = make_key(tmp_path / "carol", "carol")
    by_carol = sign_with_key(folder, carol, tmp_path / "carol.sig")
    registry.register(NAME, path=folder, signature=by_carol, signer_key=carol.public_path)
    refused = registry.reject_hold(NAME, 3, reason="unknown key")
    assert refused.status == "FAILED_REGISTRATION"
    with pytest.raises(Conflict) as done:
        registry.release_hold(NAME, 3, reason="changed my mind")
    assert done.value.code == "version.not_held"
    assert [e.action for e in registry.history(NAME)][-2:] == [
        events.VERSION_REGISTERED, events.HOLD_REJECTED]


def test_owners_edit_the_allowed_signers_by_fingerprint_or_public_key(
        registry: RegistryService, signed: tuple[Path, Path], alice: Any,
        tmp_path: Path) -> None:
    registry.create_model(NAME)
    bob = make_key(tmp_path / "bob", "bob")
    after = registry.edit_signers(NAME, add=[bob.public_pem], reason="bob releases")
    assert [s.public_key for s in after] == [load_signer_key(bob.public_pem).pem]
    folder, _ = signed
    by_bob = sign_with_key(folder, bob, tmp_path / "bob.sig")
    assert registry.register(NAME, path=folder, signature=by_bob).status == "READY"
    alice_signer = str(load_signer_key(alice.public_pem).signer)
    registry.edit_signers(NAME, add=[alice_signer], remove=[after[0].signer],
                          reason="bob left")
    assert [s.signer for s in registry.signers(NAME)] == [alice_signer]
    with pytest.raises(Conflict):
        registry.edit_signers(NAME, remove=[after[0].signer], reason="again")
    with pytest.raises(InvalidInput):
        registry.edit_signers(NAME, add=[alice_signer], reason="")
    changes = events_of(registry, events.SIGNERS_CHANGED)
    assert [c.payload["removed"] for c in changes] == [[], [after[0].signer]]


def test_a_signature_is_attached_to_an_unsigned_version_once(
        registry: RegistryService, signed: tuple[Path, Path], alice: Any) -> None:
    folder, signature = signed
    registry.register(NAME, path=folder)
    version = registry.sign_version(NAME, 1, signature, signer_key=alice.public_path,
                                    reason="signed after the fact")
    assert version.signer == str(load_signer_key(alice.public_pem).signer)
    assert events_of(registry, events.VERSION_SIGNED)[0].payload["signer"] == version.signer
    with pytest.raises(Conflict) as again:
        registry.sign_version(NAME, 1, signature)
    assert again.value.code == "signature.exists"


def test_a_certificate_signed_model_is_checked_against_the_configured_roots(
        make_registry: Any, tmp_path: Path) -> None:
    authority = make_authority(tmp_path / "ca")
    (tmp_path / "charter.toml").write_text(
        f'[signing]\ncertificate_roots = ["{authority.root_path}"]\n')
    registry = make_registry()
    folder = model_folder(tmp_path / "model")
    signature = sign_with_certificate(folder, authority, tmp_path / "model.sig")
    version = registry.register(NAME, path=folder, signature=signature)
    assert version.signer == f"certificate:{authority.subject}"


def test_an_upload_commit_carries_the_signature_too(
        registry: RegistryService, signed: tuple[Path, Path], alice: Any) -> None:
    folder, signature = signed
    upload = registry.start_upload(NAME)
    manifest = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        record = registry.upload_file(NAME, upload.id, relative, [path.read_bytes()])
        manifest.append(record.to_dict())
    version = registry.commit_upload(NAME, upload.id, manifest,
                                     signature=signature.read_text(),
                                     signer_key=alice.public_pem)
    assert version.signer == str(load_signer_key(alice.public_pem).signer)


def test_gc_keeps_the_blobs_of_signatures(registry: RegistryService,
                                          signed: tuple[Path, Path], alice: Any) -> None:
    from datetime import timedelta

    folder, signature = signed
    version = registry.register(NAME, path=folder, signature=signature,
                                signer_key=alice.public_path)
    registry.collect_garbage(apply=True, grace=timedelta(0))
    assert version.signature is not None and registry.blobs.exists(version.signature)
    assert registry.signature_bundle(NAME, 1) == signature.read_bytes()
