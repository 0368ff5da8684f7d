"""JSON back to the records the embedded registry returns (datetimes from ISO 8601)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from charter.domain.consumers import ConsumerRecord, ConsumersView, StageConvergence
from charter.domain.naming import Finding
from charter.domain.records import (
    AttestationRecord,
    AuditReport,
    EventRecord,
    FileRecord,
    ModelRecord,
    Page,
    Resolution,
    SignerRecord,
    VersionRecord,
)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def model(data: dict[str, Any]) -> ModelRecord:
    return ModelRecord(
        name=data["name"], description=data["description"], tags=dict(data["tags"]),
        aliases=dict(data["aliases"]), version_count=data["version_count"],
        last_version=data["last_version"],
        stages={stage: list(numbers) for stage, numbers in data["stages"].items()},
        created_at=_time(data["created_at"]), updated_at=_time(data["updated_at"]),
        redirects=list(data.get("redirects", [])))


def model_page(data: dict[str, Any]) -> Page:
    return Page([model(m) for m in data["models"]], data.get("next_page_token", ""))


def version(data: dict[str, Any]) -> VersionRecord:
    return VersionRecord(
        name=data["name"], version=data["version"], stage=data["stage"],
        source=data["source"], run_id=data["run_id"], description=data["description"],
        tags=dict(data["tags"]), aliases=list(data["aliases"]), digest=data["digest"],
        status=data["status"], created_at=_time(data["created_at"]),
        updated_at=_time(data["updated_at"]),
        stage_changed_at=_time(data["stage_changed_at"]),
        files=[FileRecord(f["path"], f["size"], f["sha256"]) for f in data.get("files", [])],
        signer=data.get("signer"), signature=data.get("signature"),
        model_id=data.get("model_id") or "")


def versions(data: dict[str, Any]) -> list[VersionRecord]:
    return [version(v) for v in data["versions"]]


def event(data: dict[str, Any]) -> EventRecord:
    return EventRecord(
        seq=data["seq"], time=_time(data["time"]), actor=data["actor"], action=data["action"],
        model=data["model"], version=data["version"], from_stage=data["from_stage"],
        to_stage=data["to_stage"], reason=data["reason"],
        correlation_id=data["correlation_id"], payload=data["payload"],
        prev_hash=data["prev_hash"], hash=data["hash"])


def events(data: dict[str, Any]) -> list[EventRecord]:
    return [event(e) for e in data["events"]]


def resolution(data: dict[str, Any]) -> Resolution:
    return Resolution(uri=data["uri"], version=version(data["version"]),
                      artifact_location=data["artifact_location"], digest=data["digest"],
                      warnings=list(data.get("warnings", [])))


def audit_report(data: dict[str, Any]) -> AuditReport:
    return AuditReport(ok=data["ok"], events_checked=data["events_checked"],
                       first_bad_seq=data.get("first_bad_seq"), problem=data.get("problem", ""),
                       checkpoints=list(data.get("checkpoints", [])),
                       proved_through=data.get("proved_through", 0),
                       warnings=list(data.get("warnings", [])),
                       verified_from=data.get("verified_from", 0),
                       verified_at=data.get("verified_at", ""))


def attestations(data: dict[str, Any]) -> list[AttestationRecord]:
    return [AttestationRecord(a["name"], a["version"], a["sha256"], a["predicate_type"],
                              dict(a["predicate"]), a.get("signer"), a["size"],
                              a["created_by"], _time(a["created_at"]))
            for a in data["attestations"]]


def signers(data: dict[str, Any]) -> list[SignerRecord]:
    return [SignerRecord(s["signer"], s.get("public_key", ""), s["added_by"],
                         _time(s["added_at"])) for s in data["signers"]]


def findings(data: dict[str, Any]) -> list[Finding]:
    return [Finding(f["code"], f["token"], f["message"], f.get("suggestion", ""))
            for f in data["findings"]]


def consumer(data: dict[str, Any]) -> ConsumerRecord:
    return ConsumerRecord(
        consumer=data["consumer"], model=data["model"], uri=data["uri"],
        version=data["version"], expected=data["expected"], status=data["status"],
        since=_time(data["since"]), last_seen=_time(data["last_seen"]))


def consumers_view(data: dict[str, Any]) -> ConsumersView:
    return ConsumersView(
        model=data["model"], consumers=[consumer(c) for c in data["consumers"]],
        stages=[StageConvergence(s["stage"], s["version"], tuple(s["current"]),
                                 tuple(s["lagging"])) for s in data["stages"]],
        expire_after=timedelta(seconds=data["expire_after_seconds"]))
