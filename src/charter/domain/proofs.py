"""Proof of a past answer: "models:/fraud_detector/Production was v7 on 1 March".

A proof is the run of audit events from the model's creation up to a signed
checkpoint taken *after* the moment asked about, plus that checkpoint. Anyone can
check it without trusting the registry:

1. the events link and hash from their content to exactly the signed head (a
   changed, dropped or inserted event changes that hash; the checkpoint's
   signature is checked with the trusted key outside the domain);
2. the checkpoint was signed after the moment, so every event up to that moment
   is in the run (event times never go backwards along the chain);
3. the run starts at the model's creation, so no earlier event of it is missing;
4. replaying the model's events up to the moment gives the claimed answer.

Pure: the caller fetches the events and checks the signature.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from charter.domain import error_codes as codes
from charter.domain.checkpoints import SignedCheckpoint, judge_checkpoint, parse_checkpoint
from charter.domain.errors import InvalidInput
from charter.domain.events import MODEL_CREATED, chain_hash, parse_time
from charter.domain.history import PastEvent, Snapshot, replay
from charter.domain.uris import ModelUri, parse_model_uri

MAX_PROOF_EVENTS = 1_000_000


@dataclass(frozen=True)
class ProofEvent:
    fields: Mapping[str, Any]     # every hashed field (events.hashed_fields)
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {"fields": dict(self.fields), "prev_hash": self.prev_hash, "hash": self.hash}


@dataclass(frozen=True)
class AsOfProof:
    uri: str
    as_of: str                     # events.format_time
    version: int | None            # the answer; None: nothing matched then
    model_keys: tuple[str, ...]    # the model's name and former names, lowercase
    events: tuple[ProofEvent, ...]
    checkpoint: SignedCheckpoint

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.uri, "as_of": self.as_of, "version": self.version,
                "model_keys": list(self.model_keys),
                "events": [e.to_dict() for e in self.events],
                "checkpoint": self.checkpoint.to_dict()}

    def model_events(self) -> list[Mapping[str, Any]]:
        """The events of the model up to the moment: the ones the answer rests on."""
        keys = set(self.model_keys)
        return [e.fields for e in self.events
                if str(e.fields["model"]).lower() in keys and e.fields["time"] <= self.as_of]


def parse_proof(data: object) -> AsOfProof:
    if not isinstance(data, Mapping):
        raise _invalid("it is not a JSON object")
    try:
        events = tuple(ProofEvent(dict(e["fields"]), str(e["prev_hash"]), str(e["hash"]))
                       for e in data["events"][:MAX_PROOF_EVENTS])
        version = data["version"]
        return AsOfProof(str(data["uri"]), str(data["as_of"]),
                         int(version) if version is not None else None,
                         tuple(str(k) for k in data["model_keys"]), events,
                         parse_checkpoint(data["checkpoint"]))
    except (KeyError, TypeError, ValueError) as error:
        raise _invalid(f"{type(error).__name__}: {str(error)[:80]}") from None


def _invalid(why: str) -> InvalidInput:
    return InvalidInput(codes.PROOF_INVALID, f"The proof is malformed: {why}",
                        "pass the JSON `charter resolve URI --as-of T --proof --json` printed")


def past_answer(uri: ModelUri, snapshot: Snapshot) -> int | None:
    """What ``uri`` pointed at in ``snapshot`` (None: nothing)."""
    if uri.version is not None:
        return uri.version if uri.version in snapshot.stages else None
    if uri.alias is not None:
        return snapshot.aliases.get(uri.alias.lower())
    if uri.latest:
        return snapshot.latest()
    assert uri.stage is not None
    found = snapshot.in_stage(uri.stage.value)
    return found[-1] if found else None


def check_proof(proof: AsOfProof, *, signature_ok: bool, trusted_keys: Collection[str]
                ) -> list[str]:
    """Why the proof does not prove its answer; empty when it does."""
    problems = _chain_problems(proof.events, proof.checkpoint, signature_ok, trusted_keys)
    if problems:
        return problems
    point = proof.checkpoint.checkpoint
    if point.time <= proof.as_of:
        return [f"the checkpoint was signed at {point.time}, not after {proof.as_of}: a later "
                "event could still be missing"]
    uri = parse_model_uri(proof.uri)
    keys = set(proof.model_keys)
    if uri.name.lower() not in keys:
        return [f"the proof's model keys do not include {uri.name!r}"]
    first = next((e.fields for e in proof.events if str(e.fields["model"]).lower() in keys),
                 None)
    if first is None or first["action"] != MODEL_CREATED:
        return ["the events do not start at the model's creation: an earlier event of it "
                "could be missing"]
    snapshot = replay([PastEvent(e["action"], e["version"], e["to_stage"], e["payload"])
                       for e in proof.model_events()])
    answer = past_answer(uri, snapshot)
    if answer != proof.version:
        return [f"replaying the events answers {_version(answer)}, not "
                f"{_version(proof.version)}"]
    return []


def _chain_problems(events: Sequence[ProofEvent], signed: SignedCheckpoint,
                    signature_ok: bool, trusted_keys: Collection[str]) -> list[str]:
    if not events:
        return ["the proof holds no events"]
    previous = events[0].prev_hash
    for index, event in enumerate(events):
        seq = event.fields.get("seq")
        if index and seq != events[index - 1].fields.get("seq", 0) + 1:
            return [f"event #{seq} does not follow #{events[index - 1].fields.get('seq')}"]
        if event.prev_hash != previous or chain_hash(previous, dict(event.fields)) != event.hash:
            return [f"event #{seq} does not hash to the chain"]
        previous = event.hash
    last = events[-1]
    if last.fields["seq"] != signed.checkpoint.seq:
        return [f"the events end at #{last.fields['seq']} but the checkpoint signs "
                f"#{signed.checkpoint.seq}"]
    verdict = judge_checkpoint(signed, signature_ok=signature_ok, trusted_keys=trusted_keys,
                               log_length=last.fields["seq"], recomputed=last.hash)
    return [] if verdict.ok else [f"checkpoint #{verdict.seq}: {verdict.problem}"]


def _version(number: int | None) -> str:
    return f"v{number}" if number is not None else "nothing"


def covers(signed: SignedCheckpoint, moment: str) -> bool:
    """Whether a checkpoint was signed after ``moment`` (so it covers every event up to it)."""
    return parse_time(signed.checkpoint.time) > parse_time(moment)
