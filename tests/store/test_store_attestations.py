"""Attestations on a real database (SQLite and PostgreSQL), and gates that require a
signature and evidence and read numbers from it."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.provenance_kit import EVAL, dsse, make_key, model_folder, sign_with_key, statement

from charter.domain import events
from charter.domain.errors import Conflict, InvalidInput
from charter.service import RegistryService
from charter.signing.envelopes import load_signer_key

NAME = "fraud_detector"
WEIGHTS = hashlib.sha256(b"weights " * 100).hexdigest()   # model_folder's model.pkl


@pytest.fixture
def version(registry: RegistryService, tmp_path: Path) -> Any:
    return registry.register(NAME, path=model_folder(tmp_path / "model"))


def test_an_attestation_about_the_versions_bytes_is_kept_as_sent(
        registry: RegistryService, version: Any) -> None:
    document = json.dumps(statement({"model.pkl": WEIGHTS})).encode()
    attached = registry.attest(NAME, 1, document)
    assert (attached.predicate_type, attached.predicate, attached.signer) == (
        EVAL, {"auc": 0.93}, None)
    assert attached.sha256 == hashlib.sha256(document).hexdigest()
    assert registry.attestations(NAME, 1) == [attached]
    assert registry.attestation_document(NAME, 1, attached.sha256) == document
    [added] = [e for e in registry.history(NAME) if e.action == events.ATTESTATION_ADDED]
    assert added.payload == {"sha256": attached.sha256, "predicate_type": EVAL, "signer": None}
    with pytest.raises(Conflict) as twice:
        registry.attest(NAME, 1, document)
    assert twice.value.code == "attestation.exists"


def test_an_attestation_for_other_bytes_is_refused_changing_nothing(
        registry: RegistryService, version: Any, given: Any) -> None:
    before = given.state()
    for subjects in ({"model.pkl": "0" * 64}, {"other.bin": "1" * 64},
                     {"model.pkl": version.files[0].sha256}):       # another file's digest
        with pytest.raises(InvalidInput) as refused:
            registry.attest(NAME, 1, json.dumps(statement(subjects)).encode())
        assert refused.value.code == "attestation.subject_mismatch"
    assert given.state() == before
    assert registry.attestations(NAME, 1) == []


def test_a_dsse_signed_attestation_is_attributed_to_its_signer(
        registry: RegistryService, version: Any, tmp_path: Path) -> None:
    scanner = make_key(tmp_path / "scanner", "scanner")
    document = dsse(statement({"model.pkl": WEIGHTS}, {"findings": 0},
                              "https://example.com/scan/v1"), scanner)
    attached = registry.attest(NAME, 1, document, signer_key=scanner.public_pem)
    assert attached.signer == str(load_signer_key(scanner.public_pem).signer)
    forged = json.loads(document)
    payload = json.loads(base64.b64decode(forged["payload"]))
    payload["predicate"]["findings"] = 7
    forged["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    with pytest.raises(InvalidInput) as refused:
        registry.attest(NAME, 1, json.dumps(forged).encode(), signer_key=scanner.public_pem)
    assert refused.value.code == "attestation.signature_invalid"
    with pytest.raises(InvalidInput) as keyless:
        registry.attest(NAME, 1, document.replace(b'"keyid": ""', b'"keyid": "x"'))
    assert keyless.value.code == "attestation.signer_key_required"


GATES = f"""
[evidence]
eval = "{EVAL}"

[gates.Production]
require_signature = true
evidence = ["eval"]
checks = ["eval.auc >= 0.9"]
"""


def test_production_requires_a_signature_and_attested_evidence(
        make_registry: Any, tmp_path: Path) -> None:
    (tmp_path / "charter.toml").write_text(GATES)
    registry = make_registry()
    folder = model_folder(tmp_path / "model")
    release = make_key(tmp_path / "release", "release")
    signature = sign_with_key(folder, release, tmp_path / "model.sig")
    registry.register(NAME, path=folder)                               # v1 unsigned
    registry.register(NAME, path=folder, signature=signature, signer_key=release.public_path)
    for number in (1, 2):
        registry.transition(NAME, number, "Staging", reason="validate")
    failing = {r.name for r in registry.check_gates(NAME, 1, "Production").failures}
    assert failing == {"signature", "evidence:eval", "check:eval.auc >= 0.9"}
    low = statement({"model.pkl": WEIGHTS}, {"auc": 0.85})
    registry.attest(NAME, 2, json.dumps(low).encode())
    with pytest.raises(Conflict) as refused:
        registry.transition(NAME, 2, "Production", reason="ship")
    assert refused.value.code == "gate.failed"
    assert "eval.auc is 0.85; needs >= 0.9" in json.dumps(refused.value.details)
    registry.attest(NAME, 2, json.dumps(statement({"model.pkl": WEIGHTS}, {"auc": 0.94})).encode())
    assert registry.check_gates(NAME, 2, "Production").passed
    assert registry.transition(NAME, 2, "Production", reason="ship").stage == "Production"


def test_gc_keeps_the_blobs_of_attestations(registry: RegistryService, version: Any) -> None:
    attached = registry.attest(NAME, 1, json.dumps(statement({"model.pkl": WEIGHTS})).encode())
    registry.collect_garbage(apply=True, grace=timedelta(0))
    assert registry.blobs.exists(attached.sha256)
