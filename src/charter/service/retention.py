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
from charter.service.base import ServiceBase
from charter.service.consumer_reports import keep_served
from charter.store import events as audit_log
from charter.store import model_listing, models, versions
from charter.store.database import WriteTx
from charter.store.driver import Conn
from charter.store.models import ModelRow

log = logging.getLogger("charter.retention")
PURGE_GRACE = timedelta(hours=24)  # as charter gc: a blob written since may be in use again


def model_decisions(service: ServiceBase, conn: Conn, model: ModelRow, now: datetime
                    ) -> list[RetentionDecision]:
    retention = service.policies.retention
    rule = retention.for_model(model.name,
                               former=service._former_names(conn, model, retention.models))
    rows = versions.rows(conn, model.id)
    archived_rows = [v for v in rows if v.stage == Stage.ARCHIVED.value]
    if not archived_rows:
        return []
    # Every version that was ever in Production, in the order they got there.
    history = audit_log.production_history(conn, models.keys_of(conn, model))
    aliases = versions.aliases_by_version(conn, model.id)
    production = next((v.version for v in rows if v.stage == Stage.PRODUCTION.value), None)
    target = rollback_target(production, {v.version: v.stage for v in rows}, history)
    archived = [ArchivedVersion(v.version, v.stage_since, v.version in history,
                                tuple(sorted(aliases.get(v.id, [])))) for v in archived_rows]
    return keep_served(service, conn, model,
                       decide_purges(model.name, rule, archived, rollback_to=target, now=now),
                       now)


class RetentionMixin(ServiceBase):
    def retention(self, *, apply: bool = False, name: str | None = None) -> RetentionReport:
        """What the retention policy keeps and purges; ``apply=True`` purges (admins only)."""
        if not apply:
            with self._read() as reader:
                decisions = [d for model in self._retention_models(reader, name)
                             for d in model_decisions(self, reader, model, self.clock())]
            return RetentionReport(False, tuple(decisions))
        self._require_admin("purge versions by the retention policy")
        with self._write() as tx:
            decisions = []
            for model in self._retention_models(tx, name):
                decisions += model_decisions(self, tx, model, tx.now)
            unreferenced = self._purge(tx, [d for d in decisions if d.purge])
        removed = self._remove_blobs(unreferenced)
        return RetentionReport(True, tuple(decisions), removed)

    def _retention_models(self, conn: Conn, name: str | None) -> list[ModelRow]:
        if name is not None:
            model, _ = models.get(conn, name)
            self._require(READ, model)
            return [model]
        return model_listing.page(conn, readable=self._readable_ids())

    def _purge(self, tx: WriteTx, purges: list[RetentionDecision]) -> set[str]:
        """Delete the versions; answer the digests of blobs no remaining version uses."""
        digests: set[str] = set()
        retention = self.policies.retention
        for decision in purges:
            model, _ = models.get(tx, decision.name)
            row = versions.row(tx, model, decision.version)
            files = versions.file_digests(tx, row.id)
            digests |= files
            rule = retention.for_model(
                model.name, former=self._former_names(tx, model, retention.models))
            versions.delete(tx, row.id)
            models.touch(tx, model.id, tx.now)
            tx.record(events.NewEvent(
                events.VERSION_PURGED, model.name, decision.version,
                from_stage=Stage.ARCHIVED.value, reason=f"retention policy: {decision.reason}",
                payload={"policy": rule.to_dict(), "digest": row.digest, "source": row.source,
                         "files": len(files)}))
        return digests - versions.digests_in_use(tx, sorted(digests))

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
                with self._read() as reader:
                    if versions.digest_in_use(reader, digest):
                        continue
                self.blobs.delete(digest)
                removed += 1
            except Exception:  # an orphan blob is garbage for `charter gc`, not an error here
                log.warning("could not remove blob %s after a purge", digest, exc_info=True)
        return removed
