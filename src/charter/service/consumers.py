"""Consumers: what named deployments serve, and per stage who follows its moves.

The use cases a caller asks for by name: an explicit report and a model's consumers.
Reports riding on lookups, convergence and the archive refusal are
``service.consumer_reports`` (docs/contracts.md "Consumers").
"""

from __future__ import annotations

from charter.domain.access import READ
from charter.domain.consumers import (
    ConsumerRecord,
    ConsumersView,
    check_consumer_name,
    convergence,
    standing,
)
from charter.domain.uris import parse_model_uri
from charter.service.base import ServiceBase
from charter.service.consumer_ledger import Note
from charter.service.consumer_reports import (
    canonical_uri,
    parsed_uri,
    plan_note,
    write_due,
    write_note,
)
from charter.service.queries import resolve_uri
from charter.service.versions import parse_version, read_version
from charter.store import consumers as ledger_rows
from charter.store import models, versions
from charter.store.driver import Conn
from charter.store.models import ModelRow


class ConsumersMixin(ServiceBase):
    def report_consumer(self, consumer: str, uri: str, *, version: int | str | None = None
                        ) -> ConsumerRecord:
        """Record that ``consumer`` serves ``uri``: the version given, else what the URI
        points at now. Written at once (no coalescing); answers the consumer's standing."""
        consumer = check_consumer_name(consumer)
        parsed = parse_model_uri(uri)
        if version is None:
            record = resolve_uri(self, uri).version
        else:
            record = read_version(self, parsed.name, parse_version(version))
        key = canonical_uri(parsed, record.name)
        write_note(self, Note(consumer, record.name, key, record.version, self.clock(),
                              change=True))
        view = self.consumers(record.name, include_stale=True)
        return next(r for r in view.consumers if r.consumer == consumer and r.uri == key)

    def consumers(self, name: str, *, include_stale: bool = False) -> ConsumersView:
        """Who serves which version of ``name``, against what each URI points at now, and
        per stage who already serves its version and who lags."""
        settings = self.policies.consumers
        now = self.clock()
        with self._read() as reader:
            model, _ = models.get(reader, name)
            self._require(READ, model)
            reports = ledger_rows.reports(reader, model.id, model.name)
            targets = {uri: current_target(reader, model, uri)
                       for uri in {r.uri for r in reports}}
        records = [standing(r, targets[r.uri], now, settings) for r in reports]
        shown = [r for r in records if include_stale or r.live]
        return ConsumersView(model.name, shown, convergence(records),
                             settings.expire_after)

    # ---- for the server's lookups (the MLflow surface), not the remote client ------------

    def note_consumer_lookup(self, consumer: str, uri: str, name: str, version: int
                             ) -> Note | None:
        """What a lookup by ``consumer`` answering ``version`` of ``name`` through ``uri``
        must write (None: nothing due); write it with ``write_consumer_note``."""
        return plan_note(self, consumer, parsed_uri(uri), name, version)

    def write_consumer_note(self, note: Note) -> None:
        """Write a due note; a failure is logged, never raised (the lookup has answered)."""
        write_due(self, note)



def current_target(conn: Conn, model: ModelRow, uri: str) -> int | None:
    """What a stored URI points at now (None: an empty stage, a missing alias or version)."""
    parsed = parse_model_uri(uri)
    if parsed.alias is not None:
        return versions.alias_target(conn, model.id, parsed.alias)
    ready = dict(versions.stages_of(conn, model.id, ready_only=True))
    if parsed.version is not None:
        return parsed.version if parsed.version in ready else None
    if parsed.stage is not None:
        return versions.newest_in_stage(conn, model.id, parsed.stage.value)
    return max(ready) if ready else None
