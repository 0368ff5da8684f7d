"""Attestations: in-toto statements about a version's bytes, signed (DSSE) or not.

A statement (in-toto Statement v1) names its subjects by digest and carries a
predicate — an evaluation report, a scan, an SBOM — typed by a URI::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "model.pkl", "digest": {"sha256": "…"}}],
     "predicateType": "https://example.com/eval/v1",
     "predicate": {"auc": 0.93}}

A signed one comes in a DSSE envelope (``payloadType``, base64 ``payload``,
``signatures``), or in a Sigstore bundle holding one (``dsseEnvelope``). The
signature is over the envelope's PAE bytes; checking it needs a key and is done
outside the domain. Here: parsing, the subject rule (every subject is one of the
version's files, or the version's own digest) and reading a predicate's values.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
IN_TOTO_PAYLOAD = "application/vnd.in-toto+json"
MAX_DOCUMENT = 4 * 1024 * 1024      # bytes of one attestation as uploaded
MAX_SUBJECTS = 10_000
MAX_PREDICATE_TYPE = 500
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TYPE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+")


@dataclass(frozen=True, order=True)
class Subject:
    name: str
    sha256: str


@dataclass(frozen=True)
class Statement:
    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: Mapping[str, Any]


@dataclass(frozen=True)
class EnvelopeSignature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[EnvelopeSignature, ...]

    def pae(self) -> bytes:
        return pae(self.payload_type, self.payload)


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what a DSSE signature signs."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _bad(message: str, hint: str = "") -> InvalidInput:
    return InvalidInput(codes.ATTESTATION_INVALID, message, hint or
                        "send an in-toto Statement v1 (JSON), or a DSSE envelope holding one")


def parse_document(raw: bytes) -> tuple[Statement, Envelope | None]:
    """An uploaded attestation: a bare statement, a DSSE envelope, or a Sigstore bundle
    with a DSSE envelope. Answers the statement and the envelope, if signed."""
    if len(raw) > MAX_DOCUMENT:
        raise InvalidInput(codes.ATTESTATION_TOO_LARGE, f"The attestation is {len(raw)} bytes; the "
                           f"limit is {MAX_DOCUMENT}", "attach a summary and keep the full "
                           "report as a version file")
    document = _json(raw, "The attestation")
    if isinstance(document, dict) and isinstance(document.get("dsseEnvelope"), dict):
        document = document["dsseEnvelope"]
    if isinstance(document, dict) and "payloadType" in document:
        envelope = parse_envelope(document)
        if envelope.payload_type != IN_TOTO_PAYLOAD:
            raise _bad(f"The envelope's payloadType is {envelope.payload_type[:80]!r}, not "
                       f"{IN_TOTO_PAYLOAD}")
        return parse_statement(_json(envelope.payload, "The envelope's payload")), envelope
    return parse_statement(document), None


def _json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _bad(f"{what} is not JSON in UTF-8") from None


def parse_envelope(data: Mapping[str, Any]) -> Envelope:
    payload_type, payload, signatures = (data.get("payloadType"), data.get("payload"),
                                         data.get("signatures"))
    if not isinstance(payload_type, str) or not isinstance(payload, str):
        raise _bad("A DSSE envelope needs payloadType and payload (base64) strings")
    if not isinstance(signatures, list) or not signatures:
        raise _bad("The DSSE envelope has no signatures",
                   "send the statement itself to attach it unsigned")
    parsed = []
    for item in signatures[:16]:
        if not isinstance(item, dict) or not isinstance(item.get("sig"), str):
            raise _bad("Each DSSE signature is an object with a base64 sig")
        keyid = item.get("keyid", "")
        parsed.append(EnvelopeSignature(keyid if isinstance(keyid, str) else "",
                                        _b64(item["sig"], "a signature")))
    return Envelope(payload_type, _b64(payload, "the payload"), tuple(parsed))


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        try:  # DSSE allows the URL-safe alphabet too
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise _bad(f"The envelope's {what} is not base64") from None


def parse_statement(data: object) -> Statement:
    if not isinstance(data, dict):
        raise _bad("The attestation is not a JSON object")
    if data.get("_type") != STATEMENT_V1:
        raise _bad(f"_type is {str(data.get('_type'))[:80]!r}, not {STATEMENT_V1}")
    predicate_type = data.get("predicateType")
    if (not isinstance(predicate_type, str) or len(predicate_type) > MAX_PREDICATE_TYPE
            or not _TYPE_URI.fullmatch(predicate_type)):
        raise _bad(f"predicateType {str(predicate_type)[:80]!r} is not a URI",
                   "e.g. \"predicateType\": \"https://example.com/eval/v1\"")
    predicate = data.get("predicate", {})
    if not isinstance(predicate, dict):
        raise _bad("predicate must be a JSON object")
    return Statement(_subjects(data.get("subject")), predicate_type, predicate)


def _subjects(value: object) -> tuple[Subject, ...]:
    if not isinstance(value, list) or not value or len(value) > MAX_SUBJECTS:
        raise _bad("subject must be a list of 1 to 10000 {name, digest} objects",
                   'e.g. "subject": [{"name": "model.pkl", "digest": {"sha256": "…"}}]')
    subjects = []
    for item in value:
        digest = item.get("digest") if isinstance(item, dict) else None
        sha = digest.get("sha256") if isinstance(digest, dict) else None
        name = item.get("name", "") if isinstance(item, dict) else ""
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha.lower()):
            raise _bad(f"subject {str(item)[:120]} has no sha256 digest",
                       "every subject needs digest.sha256 (64 hex digits): Charter matches "
                       "subjects to a version's files by sha256")
        subjects.append(Subject(name if isinstance(name, str) else "", sha.lower()))
    return tuple(subjects)


def subject_problems(statement: Statement, files: Iterable[tuple[str, str]],
                     version_digest: str) -> list[str]:
    """Why the statement is not about this version's bytes (empty: it is).

    A subject matches a file whose sha256 it names (and whose path it names, when its
    name is one of the version's paths), or the version's digest (its manifest).
    """
    by_path = dict(files)
    digests = set(by_path.values()) | ({version_digest} if version_digest else set())
    problems = []
    for subject in statement.subjects:
        if subject.name in by_path and by_path[subject.name] != subject.sha256:
            problems.append(f"{subject.name}: the attestation says sha256 "
                            f"{subject.sha256[:12]}…, the version's file is "
                            f"{by_path[subject.name][:12]}…")
        elif subject.sha256 not in digests:
            problems.append(f"{subject.name or '(unnamed)'}: sha256 {subject.sha256[:12]}… "
                            "is none of the version's files")
    return problems


def check_subjects(statement: Statement, files: Iterable[tuple[str, str]],
                   version_digest: str, *, subject: str) -> None:
    problems = subject_problems(statement, files, version_digest)
    if problems:
        raise InvalidInput(
            codes.ATTESTATION_SUBJECT_MISMATCH,
            f"The attestation is not about {subject}'s bytes: {'; '.join(problems[:5])}",
            "attest the files this version holds (`charter show` lists their sha256), or "
            "attach it to the version whose bytes it describes", {"problems": problems[:100]})


# --- reading predicate values (for gates) ----------------------------------------------

MISSING = object()


def predicate_value(predicate: Mapping[str, Any], path: tuple[str, ...]) -> object:
    """The value at a dotted path (``metrics.auc``) in a predicate, or MISSING."""
    node: object = predicate
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node
