"""Read a model's story out of its events: who held Production when, and what a
rollback would do now. Pure functions over records; the pages render the result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from charter.domain import events as actions
from charter.domain.errors import Conflict
from charter.domain.lifecycle import Stage, plan_rollback
from charter.domain.records import EventRecord, ModelRecord

# An imported version arrives in its stage (charter import mlflow): a move too.
STAGE_MOVES = (actions.STAGE_CHANGED, actions.ROLLED_BACK, actions.VERSION_IMPORTED)


@dataclass
class Stint:
    """One period in which ``version`` was the Production version."""

    version: int
    since: datetime
    by: str
    why: str
    via: str                          # "promotion" or "rollback"
    until: datetime | None = None     # None: still live
    ended_by: str = ""
    end_reason: str = ""
    ended_to: str = ""                # the stage it left Production for

    @property
    def live(self) -> bool:
        return self.until is None


def production_timeline(history: list[EventRecord]) -> list[Stint]:
    """Every Production stint, newest first, from the model's events (oldest first)."""
    stints: list[Stint] = []
    current: Stint | None = None
    for event in history:
        if event.action == actions.MODEL_DELETED and current is not None:
            current.until, current.ended_by, current.ended_to = event.time, event.actor, "deleted"
            current.end_reason, current = event.reason, None
        if event.action not in STAGE_MOVES:
            continue
        if event.from_stage == Stage.PRODUCTION and current and current.version == event.version:
            current.until, current.ended_by = event.time, event.actor
            current.end_reason, current.ended_to = event.reason, event.to_stage or ""
            current = None
        if event.to_stage == Stage.PRODUCTION and event.version is not None:
            via = "rollback" if event.action == actions.ROLLED_BACK else "promotion"
            current = Stint(event.version, event.time, event.actor, event.reason, via)
            stints.append(current)
    return list(reversed(stints))


@dataclass(frozen=True)
class RollbackPlan:
    """What ``rollback`` would do now, or why it cannot."""

    current: int | None = None
    target: int | None = None
    refusal: Conflict | None = None


def rollback_plan(model: ModelRecord, history: list[EventRecord]) -> RollbackPlan:
    """The same planning the service applies, read from the model and its events."""
    stages = {v: Stage(stage) for stage, versions in model.stages.items() for v in versions}
    production = next(iter(model.stages.get(Stage.PRODUCTION, [])), None)
    promoted = [e.version for e in history
                if e.action in STAGE_MOVES and e.to_stage == Stage.PRODUCTION
                and e.version is not None]
    try:
        changes = plan_rollback(name=model.name, production=production, stages=stages,
                                production_history=promoted)
    except Conflict as refusal:
        return RollbackPlan(production, None, refusal)
    return RollbackPlan(production, changes[-1].version)
