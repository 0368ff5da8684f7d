"""Use cases that move versions between stages: transition, archive, rollback."""

from __future__ import annotations

from typing import Any

from charter.domain import events
from charter.domain.access import REGISTER, ROLLBACK
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
from charter.service.gates import enforce_gates
from charter.service.guard import GuardMixin
from charter.service.versions import parse_version
from charter.store import events as audit_log
from charter.store import reads, tables
from charter.store import repository as repo
from charter.store.database import WriteTx
from charter.store.driver import sql_time


class StagesMixin(GuardMixin):
    def transition(self, name: str, version: int | str, stage: str, *,
                   archive_existing: bool = False, reason: str = "",
                   expect_production: Any = ANY, override_gates: bool = False
                   ) -> VersionRecord:
        """Move a version to ``stage`` along an allowed edge of the transition table.

        ``expect_production`` is a precondition: the version the caller believes is in
        Production now (None for "empty"); when it no longer holds nothing changes.
        The target stage's gates are checked in the same transaction (``service.gates``);
        ``override_gates`` lets an owner move past failing gates, with a reason.
        """
        target = parse_stage(stage)
        reason = check_reason(reason, required=False)
        number = parse_version(version)
        if expect_production is not ANY and expect_production is not None:
            expect_production = parse_version(expect_production)
        with self._write() as tx:
            sql = tx.sql()
            model, via = reads.get_model_row(sql, name)
            self._require(REGISTER, model, what="move versions between stages")
            row = reads.version_row(sql, model, number, via=via)
            number = row.version  # a folded former name's number, mapped
            self._require_move(model, number, Stage(row.stage), target)
            changes = plan_transition(
                name=model.name, version=number, current=Stage(row.stage), target=target,
                production=reads.newest_in_stage(sql, model.id, Stage.PRODUCTION.value),
                archive_existing=archive_existing, expect_production=expect_production,
                table=self.policies.transitions)
            gates = self._gates_of(sql, model, target)
            if not gates.empty:  # the ORM rows are loaded only for a gated move
                enforce_gates(self, tx, tx.session.get_one(tables.Model, model.id),
                              tx.session.get_one(tables.Version, row.id), target, gates,
                              override=override_gates, reason=reason)
            self._apply(tx, model, changes, events.STAGE_CHANGED, reason)
            return reads.get_version_record(sql, model.name, number)

    promote = transition

    def archive(self, name: str, version: int | str, *, reason: str = "") -> VersionRecord:
        return self.transition(name, version, Stage.ARCHIVED.value, reason=reason)

    def rollback(self, name: str, *, reason: str) -> VersionRecord:
        """Production goes back to Staging; the version live before it returns to Production."""
        reason = check_reason(reason, required=True)
        with self._write() as tx:
            model, _ = repo.get_model(tx.session, name)
            self._require(ROLLBACK, model)
            production = repo.production_version(tx.session, model.id)
            stages = {v: Stage(s) for v, s in reads.stage_map(tx.session, [model.id])[model.id]}
            changes = plan_rollback(
                name=model.name, production=production.version if production else None,
                stages=stages, production_history=self._production_history(tx, model))
            self._apply(tx, model, changes, events.ROLLED_BACK, reason)
            return reads.get_version_record(tx.session, model.name, changes[-1].version)

    def _production_history(self, tx: WriteTx, model: tables.Model) -> list[int]:
        return audit_log.production_history(
            tx, repo.model_keys(tx.session, model),
            actions=(events.STAGE_CHANGED, events.ROLLED_BACK, events.VERSION_IMPORTED))

    def _apply(self, tx: WriteTx, model: Any, changes: list[StageChange],
               action: str, reason: str) -> None:
        """Apply planned moves in order; each leaves the one-Production index satisfied."""
        sql = tx.sql()
        now = sql_time(sql, tx.now)
        for change in changes:
            sql.run("UPDATE versions SET stage = ?, stage_changed_at = ?, updated_at = ? "
                    "WHERE model_id = ? AND version = ?",
                    (change.to_stage.value, now, now, model.id, change.version))
            tx.record(events.NewEvent(
                action, model.name, change.version, from_stage=change.from_stage.value,
                to_stage=change.to_stage.value, reason=reason,
                payload={"moves": len(changes)} if len(changes) > 1 else {}))
        sql.run("UPDATE models SET updated_at = ? WHERE id = ?", (now, model.id))
