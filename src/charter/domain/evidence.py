"""Evidence gates: a signature, attestations of given kinds, numbers read from them.

Configured with the other gates of a target stage (docs/provenance.md)::

    [evidence]                                  # short names for predicate types
    eval = "https://example.com/eval/v1"

    [gates.Production]
    require_signature = true
    signers = ["key:sha256:3f2a…"]              # the version's signature must be theirs
    evidence = ["eval", { type = "https://spdx.dev/Document", signers = ["key:sha256:…"] }]
    checks = ["val_auc >= 0.85", "eval.auc >= 0.9"]

A check whose first dotted part is an evidence name reads the newest attestation of
that type (from the stage's signers for it, when the stage names some) instead of a
version tag. Each function here answers ``(passed, detail, fix)``; ``gate_report``
turns them into results. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from charter.domain import error_codes as codes
from charter.domain.attestations import MAX_PREDICATE_TYPE
from charter.domain.errors import InvalidInput
from charter.domain.signers import Signer, describe, parse_signers

MAX_EVIDENCE = 20


@dataclass(frozen=True)
class Evidence:
    """One kind of attestation a stage requires."""

    label: str                 # its name in [evidence], or the predicate type itself
    predicate_type: str
    signers: tuple[Signer, ...] = ()

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class AttestationFacts:
    """An attestation of a version, as gates see it (oldest first in a list)."""

    digest: str                       # sha256 of the stored document
    predicate_type: str
    predicate: Mapping[str, Any] = field(default_factory=dict)
    signer: Signer | None = None


def parse_evidence_names(section: object) -> dict[str, str]:
    """``[evidence]``: name = predicate type URI."""
    if not isinstance(section, Mapping):
        raise InvalidInput(codes.CONFIG_INVALID, "[evidence] must be a table of names",
                           'e.g. eval = "https://example.com/eval/v1"')
    names = {}
    for name, uri in section.items():
        if not str(name).isidentifier() or not isinstance(uri, str) or ":" not in uri \
                or len(uri) > MAX_PREDICATE_TYPE:
            raise InvalidInput(codes.CONFIG_INVALID, f"[evidence] {str(name)[:40]} = "
                               f"{str(uri)[:80]!r} is not name = predicate type URI",
                               'names are identifiers, e.g. eval = "https://example.com/eval/v1"')
        names[str(name)] = uri
    return names


def parse_evidence(value: object, names: Mapping[str, str], *, where: str
                   ) -> tuple[Evidence, ...]:
    """A stage's ``evidence`` list: names, predicate type URIs, or {type, signers} tables."""
    if not isinstance(value, list) or len(value) > MAX_EVIDENCE:
        raise InvalidInput(codes.CONFIG_INVALID, f"{where}: evidence must be a list of at most "
                           f"{MAX_EVIDENCE} kinds",
                           'e.g. evidence = ["eval", "https://spdx.dev/Document"]')
    parsed = []
    for item in value:
        signers: tuple[Signer, ...] = ()
        if isinstance(item, Mapping):
            unknown = sorted(set(item) - {"type", "signers"})
            if unknown or "type" not in item:
                raise InvalidInput(codes.CONFIG_INVALID, f"{where}: an evidence table has type and "
                                   "signers", '{ type = "eval", signers = ["key:sha256:…"] }')
            signers = parse_signers(item.get("signers", []), where=f"{where} evidence")
            item = item["type"]
        parsed.append(Evidence(*_kind(item, names, where=where), signers=signers))
    return tuple(parsed)


def _kind(item: object, names: Mapping[str, str], *, where: str) -> tuple[str, str]:
    if isinstance(item, str) and item in names:
        return item, names[item]
    if isinstance(item, str) and ":" in item and len(item) <= MAX_PREDICATE_TYPE:
        return item, item
    raise InvalidInput(codes.CONFIG_INVALID, f"{where}: evidence {str(item)[:80]!r} is neither a "
                       "name declared in [evidence] nor a predicate type URI",
                       f"declare it: [evidence] {item if isinstance(item, str) else 'name'} = "
                       '"https://…"')


def newest(attestations: Sequence[AttestationFacts], predicate_type: str,
           signers: Sequence[Signer] = ()) -> AttestationFacts | None:
    """The newest attestation of a type, signed by one of ``signers`` when any are named."""
    for found in reversed(attestations):
        if found.predicate_type == predicate_type and (
                not signers or found.signer in signers):
            return found
    return None


def evidence_test(required: Evidence, attestations: Sequence[AttestationFacts],
                  subject: str) -> tuple[bool, str, str]:
    found = newest(attestations, required.predicate_type, required.signers)
    if found is not None:
        by = f"signed by {found.signer}" if found.signer else "unsigned"
        return True, f"attestation {found.digest[:12]}… ({by})", ""
    fix = (f"attach one: `charter attest {subject} statement.json`"
           + (f", signed by {describe(required.signers)}" if required.signers else ""))
    others = [a for a in attestations if a.predicate_type == required.predicate_type]
    if others:
        return (False, f"{len(others)} attestation(s) of {required.predicate_type}, none "
                f"signed by {describe(required.signers)}", fix)
    return False, f"no attestation of {required.predicate_type}", fix


def signature_test(signer: Signer | None, subject: str) -> tuple[bool, str, str]:
    if signer is not None:
        return True, f"signed by {signer}", ""
    return (False, "the version is not signed",
            "register a signed version: `charter register NAME ./folder --signature "
            f"model.sig` (or attach one to {subject} with `charter sign`)")


def signers_test(signer: Signer | None, allowed: Sequence[Signer]) -> tuple[bool, str, str]:
    if signer is not None and signer in allowed:
        return True, f"signed by {signer}", ""
    who = f"signed by {signer}" if signer else "not signed"
    return (False, f"{who}; needs one of {describe(allowed)}",
            f"register a version signed by one of {describe(allowed)}")
