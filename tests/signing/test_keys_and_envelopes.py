"""Ed25519 checkpoint keys on disk, and DSSE-signed attestations checked with signer keys."""

from __future__ import annotations

import base64
import dataclasses
import json
import stat
from pathlib import Path

import pytest
from tests.provenance_kit import dsse, make_key, statement

from charter.domain.attestations import parse_document
from charter.domain.checkpoints import Checkpoint, parse_checkpoint
from charter.domain.errors import InvalidInput
from charter.signing.envelopes import envelope_signer, load_signer_key
from charter.signing.keys import create_key, load_key, trusted_key_id, verify_checkpoint

POINT = Checkpoint(12, "ab" * 32, "2025-03-01T10:00:00.000000Z")


def test_a_created_key_is_private_to_its_owner_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "checkpoint.key"
    created = create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_key(path)
    assert loaded.key_id == created.key_id and len(loaded.key_id) == 64
    assert trusted_key_id(loaded.public_key) == trusted_key_id(loaded.public_pem()) \
        == trusted_key_id(loaded.key_id) == loaded.key_id


def test_an_existing_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.key"
    create_key(path)
    before = path.read_bytes()
    with pytest.raises(InvalidInput) as refused:
        create_key(path)
    assert refused.value.code == "key.exists" and path.read_bytes() == before


@pytest.mark.parametrize(("content", "code"), [
    (None, "key.not_found"), (b"not a key", "key.invalid"), ("ec", "key.invalid")])
def test_a_missing_or_wrong_key_file_is_a_clear_error(tmp_path: Path, content: object,
                                                      code: str) -> None:
    path = tmp_path / "checkpoint.key"
    if content == "ec":
        path.write_bytes(make_key(tmp_path).private_path.read_bytes())
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(InvalidInput) as refused:
        load_key(path)
    assert refused.value.code == code and "charter key create" in refused.value.hint


def test_a_signed_checkpoint_verifies_and_any_change_breaks_it(tmp_path: Path) -> None:
    key = create_key(tmp_path / "k")
    signed = key.sign(POINT)
    assert verify_checkpoint(signed) and verify_checkpoint(parse_checkpoint(signed.to_dict()))
    for changed in (dataclasses.replace(POINT, seq=13), dataclasses.replace(POINT, hash="cd" * 32),
                    dataclasses.replace(POINT, time="2025-03-01T10:00:00.000001Z")):
        assert not verify_checkpoint(dataclasses.replace(signed, checkpoint=changed))


def test_a_checkpoint_resigned_by_another_key_does_not_pass_as_the_first(tmp_path: Path) -> None:
    mine, theirs = create_key(tmp_path / "a"), create_key(tmp_path / "b")
    forged = theirs.sign(POINT)
    assert verify_checkpoint(forged)                                 # valid for *their* key
    assert forged.key_id != mine.key_id                              # so trust decides
    claimed = dataclasses.replace(forged, key_id=mine.key_id)        # or claims mine: no
    assert not verify_checkpoint(claimed)


def test_trusted_keys_refuse_what_is_no_ed25519_key(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        trusted_key_id(make_key(tmp_path).public_pem)
    with pytest.raises(InvalidInput):
        trusted_key_id("zz")


# --- DSSE-signed attestations -----------------------------------------------------------


@pytest.mark.parametrize("ed25519", [False, True])
def test_a_dsse_attestation_is_attributed_to_the_key_that_signed_it(tmp_path: Path,
                                                                   ed25519: bool) -> None:
    key = make_key(tmp_path, ed25519=ed25519)
    other = load_signer_key(make_key(tmp_path, "other").public_pem)
    mine = load_signer_key(key.public_pem)
    _, envelope = parse_document(dsse(statement({"model.pkl": "a" * 64}), key))
    assert envelope is not None
    assert envelope_signer(envelope, [other, mine]) == mine.signer


def test_an_envelope_whose_payload_changed_after_signing_is_refused(tmp_path: Path) -> None:
    key = make_key(tmp_path)
    document = json.loads(dsse(statement({"model.pkl": "a" * 64}, {"auc": 0.5}), key))
    payload = json.loads(base64.b64decode(document["payload"]))
    payload["predicate"]["auc"] = 0.99
    document["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    _, envelope = parse_document(json.dumps(document).encode())
    assert envelope is not None
    with pytest.raises(InvalidInput) as refused:
        envelope_signer(envelope, [load_signer_key(key.public_pem)])
    assert refused.value.code == "attestation.signature_invalid"


def test_a_signed_envelope_without_any_key_to_check_it_is_refused(tmp_path: Path) -> None:
    _, envelope = parse_document(dsse(statement({"m": "a" * 64}), make_key(tmp_path)))
    assert envelope is not None
    with pytest.raises(InvalidInput) as refused:
        envelope_signer(envelope, [])
    assert refused.value.code == "attestation.signer_key_required"


@pytest.mark.parametrize("pem", ["", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                                 "\udcff"])
def test_a_signer_key_that_is_no_public_key_is_refused(pem: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        load_signer_key(pem)
    assert refused.value.code == "signer.key_invalid"


def test_signer_keys_are_canonical_so_one_key_has_one_fingerprint(tmp_path: Path) -> None:
    key = make_key(tmp_path)
    messy = key.public_pem.replace("\n", "\r\n") + "\n\n"
    assert load_signer_key(messy).fingerprint == load_signer_key(key.public_pem).fingerprint
