"""in-toto statements and DSSE envelopes: parsing and the subject rule."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from charter.domain.attestations import (
    IN_TOTO_PAYLOAD,
    MISSING,
    STATEMENT_V1,
    Subject,
    pae,
    parse_document,
    predicate_value,
    subject_problems,
)
from charter.domain.errors import InvalidInput

A, B, C = "a" * 64, "b" * 64, "c" * 64
FILES = [("model.pkl", A), ("params.json", B)]
EVAL = "https://example.com/eval/v1"


def statement(*subjects: tuple[str, str], **changes: Any) -> dict[str, Any]:
    body = {"_type": STATEMENT_V1, "predicateType": EVAL, "predicate": {"auc": 0.93},
            "subject": [{"name": n, "digest": {"sha256": d}} for n, d in subjects]}
    body.update(changes)
    return body


def envelope(body: dict[str, Any], payload_type: str = IN_TOTO_PAYLOAD) -> dict[str, Any]:
    payload = base64.b64encode(json.dumps(body).encode()).decode()
    return {"payloadType": payload_type, "payload": payload,
            "signatures": [{"keyid": "k1", "sig": base64.b64encode(b"sig").decode()}]}


def test_a_bare_statement_parses_unsigned() -> None:
    parsed, signed = parse_document(json.dumps(statement(("model.pkl", A))).encode())
    assert signed is None
    assert parsed.subjects == (Subject("model.pkl", A),)
    assert parsed.predicate_type == EVAL and parsed.predicate == {"auc": 0.93}


def test_a_dsse_envelope_and_a_sigstore_bundle_parse_to_the_same_statement() -> None:
    body = statement(("model.pkl", A))
    bare, _ = parse_document(json.dumps(body).encode())
    for document in (envelope(body), {"mediaType": "x", "dsseEnvelope": envelope(body)}):
        parsed, signed = parse_document(json.dumps(document).encode())
        assert parsed == bare
        assert signed is not None and signed.signatures[0].sig == b"sig"
        assert signed.pae() == pae(IN_TOTO_PAYLOAD, json.dumps(body).encode())


def test_pae_is_dsse_v1() -> None:
    assert pae("t", b"hello") == b"DSSEv1 1 t 5 hello"


@pytest.mark.parametrize("document", [
    b"not json", b"\xff\xfe", b"[]", b"[[[[" * 10000,
    json.dumps(statement(("m", A), _type="https://in-toto.io/Statement/v0.1")).encode(),
    json.dumps(statement(("m", A), predicateType="not a uri")).encode(),
    json.dumps(statement(("m", A), predicate=[1, 2])).encode(),
    json.dumps(statement()).encode(),                                     # no subjects
    json.dumps(statement(("m", "abc"))).encode(),                         # short digest
    json.dumps(statement(subject=[{"name": "m", "digest": {"sha512": A}}])).encode(),
    json.dumps(envelope(statement(("m", A)), payload_type="text/plain")).encode(),
    json.dumps({**envelope(statement(("m", A))), "signatures": []}).encode(),
    json.dumps({**envelope(statement(("m", A))), "payload": "%%%"}).encode(),
])
def test_malformed_attestations_are_refused_as_invalid(document: bytes) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_document(document)
    assert refused.value.code == "attestation.invalid"
    assert refused.value.hint


def test_an_oversized_attestation_is_refused_before_parsing() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_document(b" " * (4 * 1024 * 1024 + 1))
    assert refused.value.code == "attestation.too_large"


@pytest.mark.parametrize(("subjects", "problems"), [
    ([("model.pkl", A)], 0),
    ([("model.pkl", A), ("params.json", B)], 0),
    ([("anything", A)], 0),                   # a name that is no path: matched by digest
    ([("", "d" * 64)], 0),                    # the version's manifest digest
    ([("model.pkl", B)], 1),                  # names a file, with another file's bytes
    ([("model.pkl", C)], 1),                  # other bytes
    ([("model.pkl", A), ("weights.bin", C)], 1),
])
def test_subjects_must_be_the_versions_bytes(subjects: list[tuple[str, str]],
                                             problems: int) -> None:
    parsed, _ = parse_document(json.dumps(statement(*subjects)).encode())
    assert len(subject_problems(parsed, FILES, "d" * 64)) == problems


def test_predicate_values_are_read_by_dotted_path() -> None:
    predicate = {"auc": 0.9, "metrics": {"f1": 0.8, "by": {"eu": 1}}}
    assert predicate_value(predicate, ("auc",)) == 0.9
    assert predicate_value(predicate, ("metrics", "by", "eu")) == 1
    assert predicate_value(predicate, ("metrics", "missing")) is MISSING
    assert predicate_value(predicate, ("auc", "deeper")) is MISSING
