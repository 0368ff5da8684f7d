"""Rebuild a model's state at a past moment from its audit events.

The events are the record of truth for "which version was Production on
1 March?": replaying them in order gives every version's stage and every
alias's target as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from charter.domain import events


@dataclass(frozen=True)
class PastEvent:
    action: str
    version: int | None
    to_stage: str | None
    payload: dict[str, Any]


@dataclass
class Snapshot:
    stages: dict[int, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)

    def in_stage(self, stage: str) -> list[int]:
        return sorted(v for v, s in self.stages.items() if s == stage)

    def latest(self) -> int | None:
        return max(self.stages) if self.stages else None


def replay(past: list[PastEvent]) -> Snapshot:
    """Events must be in sequence order and belong to one model's names."""
    snapshot = Snapshot()
    for event in past:
        _apply(snapshot, event)
    return snapshot


def _apply(snapshot: Snapshot, event: PastEvent) -> None:
    version = event.version
    if event.action == events.MODEL_DELETED:
        snapshot.stages.clear()
        snapshot.aliases.clear()
    elif event.action == events.VERSION_REGISTERED and version is not None:
        snapshot.stages[version] = "None"
    elif event.action in (events.STAGE_CHANGED, events.ROLLED_BACK, events.VERSION_IMPORTED) \
            and version is not None:
        snapshot.stages[version] = event.to_stage or "None"
    elif event.action in (events.VERSION_DELETED, events.VERSION_PURGED) and version is not None:
        snapshot.stages.pop(version, None)
        snapshot.aliases = {a: v for a, v in snapshot.aliases.items() if v != version}
    elif event.action == events.ALIAS_SET and version is not None:
        snapshot.aliases[event.payload["alias"]] = version
    elif event.action == events.ALIAS_DELETED:
        snapshot.aliases.pop(event.payload.get("alias", ""), None)
