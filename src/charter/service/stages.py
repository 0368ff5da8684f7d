"""Use cases that move versions between stages: transition, archive, rollback."""

from __future__ import annotations

from typing import Any

from charter.domain import events
from charter.domain.access import REGISTER, ROLLBACK
from charter.domain.consumers import live_since
from charter.domain.lifecycle import (
    ANY,
    Stage,
    StageChange,
    parse_stage,
    plan_rollback,
    plan_transition,
)
from charter.domain.records import VersionRecord
from charter.domain.values import check_reason
from charter.service.base import ServiceBase
from charter.service.consumer_reports import after_moves, check_not_served
from charter.service.gates import enforce_gates
from charter.service.signatures import require_ready
from charter.service.versions import parse_version
from charter.store import events as audit_log
from charter.store import models, moves, versions
from charter.store.database import WriteTx
from charter.store.models import ModelRow

# The events that put a version into Production: what a rollback returns to.
MOVES_INTO_PRODUCTION = (events.STAGE_CHANGED, events.ROLLED_BACK, events.VERSION_IMPORTED)


class StagesMixin(ServiceBase):
    def transition(self, name: str, version: int | str, stage: str, *,
                   archive_existing: bool = False, reason: str = "",
                   expect_production: Any = ANY, override_gates: bool = False,
                   accept_breaking: str = "", force: bool = False) -> VersionRecord:
        """Move a version to ``stage`` along an allowed edge of the transition table.

        ``expect_production`` is a precondition: the version the caller believes is in
        Production now (None for "empty"); when it no longer holds nothing changes.
        The target stage's gates are checked in the same transaction (``service.gates``);
        ``override_gates`` lets an owner move past failing gates, with a reason;
        ``accept_breaking`` is an owner's reason to move a version that breaks the
        interface of the version in Production (docs/contracts.md). Archiving a version a
        live consumer serves is refused unless an owner ``force``s it, with a reason
        (service.consumer_reports).
        """
        target = parse_stage(stage)
        reason = check_reason(reason, required=False)
        number = parse_version(version)
        if expect_production is not ANY and expect_production is not None:
            expect_production = parse_version(expect_production)
        with self._write() as tx:
            # The common case in one statement; a former name or a missing version one
            # lookup at a time, which tells why.
            found = moves.for_move(tx, name, number,
                                   seen_after=live_since(tx.now, self.policies.consumers))
            consumers_seen: bool | None = None  # not known: after_moves reads it
            if found is not None:
                model, row, production, consumers_seen, _ = found
                self._require(REGISTER, model, what="move versions between stages")
            else:
                model, via = models.get(tx, name)
                self._require(REGISTER, model, what="move versions between stages")
                row = versions.row(tx, model, number, via=via)
                production = versions.newest_in_stage(tx, model.id, Stage.PRODUCTION.value)
            number = row.version  # a folded former name's number, mapped
            require_ready(model.name, row)
            self._require_move(model, number, Stage(row.stage), target)
            changes = plan_transition(
                name=model.name, version=number, current=Stage(row.stage), target=target,
                production=production,
                archive_existing=archive_existing, expect_production=expect_production,
                table=self.policies.transitions)
            enforce_gates(self, tx, model, row, target, self._gates_of(tx, model, target),
                          override=override_gates, reason=reason,
                          accept_breaking=accept_breaking)
            if target is Stage.ARCHIVED:
                check_not_served(self, tx, model, number, action="archive", force=force,
                                 reason=reason)
            self._apply(tx, model, changes, events.STAGE_CHANGED, reason)
            after_moves(self, tx, model, {c.to_stage.value for c in changes},
                        consumers_seen=consumers_seen)
            if found is not None:  # on PostgreSQL, its record without reading it again
                moved_to = next((c.to_stage.value for c in reversed(changes)
                                 if c.version == number), None)
                answer = moves.record_after(found, moved_to, tx.now)
                if answer is not None:
                    return answer
            return versions.record(tx, model.name, number)

    promote = transition

    def archive(self, name: str, version: int | str, *, reason: str = "",
                force: bool = False) -> VersionRecord:
        return self.transition(name, version, Stage.ARCHIVED.value, reason=reason, force=force)

    def rollback(self, name: str, *, reason: str) -> VersionRecord:
        """Production goes back to Staging; the version live before it returns to Production."""
        reason = check_reason(reason, required=True)
        with self._write() as tx:
            model, _ = models.get(tx, name)
            self._require(ROLLBACK, model)
            stages = {v: Stage(s) for v, s in versions.stages_of(tx, model.id)}
            production = [v for v, s in stages.items() if s is Stage.PRODUCTION]
            changes = plan_rollback(
                name=model.name, production=max(production) if production else None,
                stages=stages, production_history=audit_log.production_history(
                    tx, models.keys_of(tx, model), actions=MOVES_INTO_PRODUCTION))
            self._apply(tx, model, changes, events.ROLLED_BACK, reason)
            after_moves(self, tx, model, {c.to_stage.value for c in changes})
            return versions.record(tx, model.name, changes[-1].version)

    def _apply(self, tx: WriteTx, model: ModelRow, changes: list[StageChange],
               action: str, reason: str) -> None:
        """Apply planned moves in order; each leaves the one-Production index satisfied.
        The first touches the model (on PostgreSQL forgetting its kept brief, so the moves
        after it fire no trigger: store/versions.py ``set_stage``)."""
        for change in changes:
            versions.set_stage(tx, model.id, change.version, change.to_stage.value, tx.now,
                               touch_model=change is changes[0])
            tx.record(events.NewEvent(
                action, model.name, change.version, from_stage=change.from_stage.value,
                to_stage=change.to_stage.value, reason=reason,
                payload={"moves": len(changes)} if len(changes) > 1 else {}))
        if not changes:
            models.touch(tx, model.id, tx.now)
