"""Retention: list (dry run, the default) or purge the Archived versions a policy lets go.

A purge deletes the version rows in one write transaction, each with a
``version_purged`` event that carries the policy; the model keeps its version
counter, so a purged number is never given out again, and the events stay as the
audit tombstone. Blobs no remaining version references are removed after the
commit (a failure there leaves an orphan for ``charter gc``, never a dangling row).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from charter.domain import events
from charter.domain.access import READ
from charter.domain.lifecycle import Stage
from charter.domain.retention import (
    ArchivedVersion,
    RetentionDecision,
    RetentionReport,
    decide_purges,
    rollback_target,
)
from charter.service.convert import naive, utc
from charter.service.guard import GuardMixin
from charter.store import events as audit_log
from charter.store import repository as repo
from charter.store import tables
from charter.store.database import WriteTx

log = logging.getLogger("charter.retention")
PURGE_GRACE = timedelta(hours=24)  # as charter gc: a blob written since may be in use again


def model_decisions(service: GuardMixin, session: Session, model: tables.Model,
                    now: datetime) -> list[RetentionDecision]:
    retention = service.policies.retention
    rule = retention.for_model(model.name,
                               former=service._former_names(session, model, retention.models))
    versions = list(session.execute(select(tables.Version).where(
        tables.Version.model_id == model.id)).scalars())
    archived_rows = [v for v in versions if v.stage == Stage.ARCHIVED.value]
    if not archived_rows:
        return []
    # Every version that was ever in Production, in the order they got there.
    history = audit_log.production_history(session, repo.model_keys(session, model))
    aliases: dict[int, list[str]] = {}
    for alias, version_id in session.execute(select(tables.Alias.alias, tables.Alias.version_id)
                                             .where(tables.Alias.model_id == model.id)):
        aliases.setdefault(version_id, []).append(alias)
    production = next((v.version for v in versions if v.stage == Stage.PRODUCTION.value), None)
    target = rollback_target(production, {v.version: v.stage for v in versions}, history)
    archived = [ArchivedVersion(v.version, utc(v.stage_changed_at), v.version in history,
                                tuple(sorted(aliases.get(v.id, [])))) for v in archived_rows]
    return decide_purges(model.name, rule, archived, rollback_to=target, now=now)


class RetentionMixin(GuardMixin):
    def retention(self, *, apply: bool = False, name: str | None = None) -> RetentionReport:
        """What the retention policy keeps and purges; ``apply=True`` purges (admins only)."""
        if not apply:
            with self._read() as session:
                decisions = [d for model in self._retention_models(session, name)
                             for d in model_decisions(self, session, model, self.clock())]
            return RetentionReport(False, tuple(decisions))
        self._require_admin("purge versions by the retention policy")
        with self._write() as tx:
            decisions = []
            for model in self._retention_models(tx.session, name):
                decisions += model_decisions(self, tx.session, model, tx.now)
            unreferenced = self._purge(tx, [d for d in decisions if d.purge])
        removed = self._remove_blobs(unreferenced)
        return RetentionReport(True, tuple(decisions), removed)

    def _retention_models(self, session: Session, name: str | None) -> list[tables.Model]:
        if name is not None:
            model, _ = repo.get_model(session, name)
            self._require(READ, model)
            return [model]
        return list(session.execute(select(tables.Model).where(*self._visible(tables.Model.id))
                                    .order_by(tables.Model.name_key)).scalars())

    def _purge(self, tx: WriteTx, purges: list[RetentionDecision]) -> set[str]:
        """Delete the versions; answer the digests of blobs no remaining version uses."""
        digests: set[str] = set()
        for decision in purges:
            model, _ = repo.get_model(tx.session, decision.name)
            row = repo.get_version(tx.session, model, decision.version)
            files = {f.sha256 for f in row.files}
            digests |= files
            retention = self.policies.retention
            rule = retention.for_model(
                model.name, former=self._former_names(tx.session, model, retention.models))
            tx.session.delete(row)
            model.updated_at = naive(tx.now)
            tx.record(events.NewEvent(
                events.VERSION_PURGED, model.name, decision.version,
                from_stage=Stage.ARCHIVED.value, reason=f"retention policy: {decision.reason}",
                payload={"policy": rule.to_dict(), "digest": row.digest, "source": row.source,
                         "files": len(files)}))
        tx.session.flush()
        if not digests:
            return set()
        still_used = set(tx.session.execute(select(tables.VersionFile.sha256).where(
            tables.VersionFile.sha256.in_(sorted(digests)))).scalars())
        return digests - still_used

    def _remove_blobs(self, digests: set[str]) -> int:
        """Remove blobs only purged versions used, checking each once more just before.

        A blob written within the grace period may be in use by an upload that has not
        committed its version yet; it is left for ``charter gc``, which waits it out.
        """
        removed, cutoff = 0, datetime.now(UTC) - PURGE_GRACE  # blob times are wall-clock
        for digest in sorted(digests):
            try:
                info = self.blobs.blob_info(digest)
                if info is None or info.modified >= cutoff:
                    continue
                with self._read() as session:
                    if session.execute(select(tables.VersionFile.sha256).where(
                            tables.VersionFile.sha256 == digest).limit(1)).first():
                        continue
                self.blobs.delete(digest)
                removed += 1
            except Exception:  # an orphan blob is garbage for `charter gc`, not an error here
                log.warning("could not remove blob %s after a purge", digest, exc_info=True)
        return removed
