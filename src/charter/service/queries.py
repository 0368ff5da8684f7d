"""Read-side use cases: resolve URIs (now or as of a past time), latest versions,
history, the event feed, audit verification and lint (downloads: service.files)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from urllib.parse import quote

from charter.domain import error_codes as codes
from charter.domain.access import READ, READ_ALL
from charter.domain.consumers import check_consumer_name
from charter.domain.errors import InvalidInput, NotFound
from charter.domain.events import format_time
from charter.domain.history import Snapshot, replay
from charter.domain.lifecycle import Stage, parse_stage
from charter.domain.naming import Finding
from charter.domain.records import EventRecord, Resolution, VersionBrief, VersionRecord
from charter.domain.uris import ModelUri, parse_model_uri
from charter.service.base import ServiceBase
from charter.service.consumer_reports import note_lookup
from charter.service.versions import parse_version
from charter.store import at_once, models, versions
from charter.store import events as audit_log
from charter.store.driver import Reader
from charter.store.models import ModelRow


class QueriesMixin(ServiceBase):
    def resolve(self, uri: str, *, as_of: datetime | None = None,
                consumer: str | None = None) -> Resolution:
        """What ``models:/…`` points at now, or at ``as_of`` (answered from the audit events).

        ``consumer``: the deployment asking (``checkout-api/eu``); what it was answered is
        noted as what it serves (docs/contracts.md "Consumers"). Not with ``as_of``.
        """
        if consumer is not None:
            check_consumer_name(consumer)
            if as_of is not None:
                raise InvalidInput(codes.CONSUMER_INVALID,
                                   "A consumer reports what it serves now, not as of a past time",
                                   "drop as_of, or drop the consumer")
        parsed = parse_model_uri(uri)
        resolution = resolve_parsed(self, parsed, as_of=as_of)
        if consumer is not None:
            note_lookup(self, consumer, parsed, resolution.version)
        return resolution

    def latest_versions(self, name: str, stages: list[str] | None = None) -> list[VersionRecord]:
        """The newest version in each stage asked for (every stage when none): MLflow's call."""
        wanted = [parse_stage(s).value for s in stages] if stages else [s.value for s in Stage]
        if self.db.dialect == "postgresql":  # one statement (store/at_once.py)
            with self._one_read() as single:
                found = at_once.latest_in_stages(single, name, wanted)
                if found is not None:
                    model, by_stage = found
                    self._require(READ, model)
                    return [by_stage[s] for s in wanted if s in by_stage]
        elif self.principal.sees_all:  # SQLite: one statement, no read transaction
            with self.db.one_statement() as single:
                newest_records = at_once.newest_at_once(single, name, wanted) if single else []
            if newest_records:
                in_stage = {record.stage: record for record in newest_records}
                return [in_stage[stage] for stage in wanted if stage in in_stage]
        with self._read() as reader:
            model, _ = models.get(reader, name)
            self._require(READ, model)
            newest = versions.newest_in_stages(reader, model.id, wanted)
            numbers = [newest[s].version for s in wanted if s in newest]
            rows = sorted(newest.values(), key=lambda row: row.version)
            by_number = {r.version: r for r in versions.records(reader, model.name, rows)}
            return [by_number[n] for n in numbers]

    def latest_briefs(self, name: str, stages: list[str] | None = None
                      ) -> Sequence[VersionBrief | VersionRecord]:
        """``latest_versions`` as MLflow's get-latest-versions shows them: on PostgreSQL
        taken from the model's brief (store/model_briefs.py; kept, one index lookup, instead
        of a descent per stage with every version's files), elsewhere the records."""
        if self.db.dialect == "postgresql":
            wanted = ([parse_stage(s).value for s in stages] if stages
                      else [s.value for s in Stage])
            brief = self._brief_at_once(name)  # None: a former name, read the long way
            if brief is not None:
                in_stage = {version.stage: version for version in brief.latest}
                return [in_stage[stage] for stage in wanted if stage in in_stage]
        return self.latest_versions(name, stages)

    def history(self, name: str, version: int | None = None, *, limit: int = 1000
                ) -> list[EventRecord]:
        """The model's events, oldest first (its former names' included)."""
        check_limit(limit)
        if version is not None:
            version = parse_version(version)
        with self._read() as reader:
            model, _ = models.get(reader, name)
            self._require(READ, model)
            return audit_log.model_history(reader, models.keys_of(reader, model),
                                           version=version, limit=limit)

    def events(self, *, after: int = 0, limit: int = 100) -> list[EventRecord]:
        return event_feed(self, after=after, limit=limit)

    def audit_events(self, *, model: str = "", action: str = "", actor: str = "",
                     before: int | None = None, after: int | None = None, limit: int = 50
                     ) -> list[EventRecord]:
        """A window of the registry's events (every model's: needs READ_ALL) matching the
        filters: events filed under the name ``model`` (any case; a deleted model's too),
        of ``action``, by an actor whose name contains ``actor``. With ``after``, the
        oldest above that seq, oldest first; else the newest below ``before`` (None: the
        newest of all), newest first. Each window is one indexed read at any depth."""
        check_limit(limit)
        for cursor in (before, after):
            if cursor is not None and (not isinstance(cursor, int) or cursor < 0):
                raise InvalidInput(codes.AFTER_INVALID, f"a cursor must be a sequence number "
                                   f">= 0, got {cursor!r}", "pass the seq of an event you saw")
        self._require_registry(READ_ALL)
        with self._read() as reader:
            return audit_log.window(reader, model_key=model.strip().lower(),
                                    action=action.strip(), actor_like=actor.strip(),
                                    before=before, after=after, limit=limit)

    def lint(self, name: str) -> list[Finding]:
        return self.policies.naming.lint(name)


MAX_LIMIT = 10_000


def resolve_uri(service: ServiceBase, uri: str, *, as_of: datetime | None = None
                ) -> Resolution:
    """What ``models:/…`` points at now, or at ``as_of``, if the principal may read it."""
    return resolve_parsed(service, parse_model_uri(uri), as_of=as_of)


def resolve_parsed(service: ServiceBase, parsed: ModelUri, *, as_of: datetime | None = None
                   ) -> Resolution:
    with service._read() as reader:
        model, redirected_from = models.get(reader, parsed.name)
        service._require(READ, model)
        target = parsed
        if redirected_from and parsed.version is not None:  # an import renumbers
            target = replace(parsed, version=versions.former_number(
                reader, model, redirected_from, parsed.version))
        if as_of is None:
            number = _current_target(reader, model, target)
        else:
            number = _past_target(reader, model, target, as_of)
        record = versions.record(reader, model.name, number)
    warnings = []
    if redirected_from:  # renamed, merged by an import, or pointed here by an admin
        warnings.append(f"'{redirected_from}' is now '{model.name}'; "
                        f"update the URI to {str(target).replace(parsed.name, model.name, 1)}")
    return Resolution(str(parsed), record, artifact_location(record), record.digest,
                      warnings)


def _current_target(reader: Reader, model: ModelRow, uri: ModelUri) -> int:
    if uri.version is not None:
        return uri.version
    if uri.alias is not None:
        number = versions.alias_target(reader, model.id, uri.alias)
        if number is None:
            raise NotFound(codes.ALIAS_NOT_FOUND, f"{model.name} has no alias '{uri.alias}'",
                           f"set it with `charter alias {model.name} {uri.alias} VERSION`")
        return number
    if uri.stage is not None:
        newest = versions.newest_in_stage(reader, model.id, uri.stage.value)
        if newest is not None:
            return newest
    # A held version (PENDING_REGISTRATION) is nobody's "latest" until an owner admits it.
    return _pick(model.name, uri, Snapshot(stages=dict(
        versions.stages_of(reader, model.id, ready_only=True))))


def _past_target(reader: Reader, model: ModelRow, uri: ModelUri, as_of: datetime) -> int:
    snapshot = replay(audit_log.past_events(reader, models.keys_of(reader, model),
                                            format_time(as_of)))
    if uri.version is not None:
        if uri.version not in snapshot.stages:
            raise NotFound(codes.VERSION_NOT_FOUND,
                           f"{model.name} v{uri.version} did not exist at {as_of}",
                           "ask for a later time")
        return uri.version
    if uri.alias is not None:
        if uri.alias.lower() not in snapshot.aliases:
            raise NotFound(codes.ALIAS_NOT_FOUND,
                           f"{model.name} had no alias '{uri.alias}' at {as_of}",
                           "ask for a later time")
        return snapshot.aliases[uri.alias.lower()]
    return _pick(model.name, uri, snapshot, when=f" at {as_of}")


def event_feed(service: ServiceBase, *, after: int, limit: int) -> list[EventRecord]:
    """The registry's events after seq ``after`` (every model's: needs READ_ALL)."""
    check_limit(limit)
    if not isinstance(after, int) or after < 0:
        raise InvalidInput(codes.AFTER_INVALID, f"after must be a sequence number >= 0, "
                           f"got {after!r}", "pass the seq of the last event you saw, or 0")
    service._require_registry(READ_ALL)
    with service._read() as reader:
        return audit_log.feed(reader, after=after, limit=limit)


def check_limit(limit: int) -> None:
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(codes.LIMIT_INVALID, f"limit must be 1..{MAX_LIMIT}, got {limit!r}",
                           f"ask for at most {MAX_LIMIT} events at a time and page with after=")


def _pick(name: str, uri: ModelUri, snapshot: Snapshot, when: str = "") -> int:
    if uri.latest:
        latest = snapshot.latest()
        if latest is None:
            raise NotFound(codes.VERSION_NOT_FOUND, f"{name} has no versions{when}",
                           f"register one with `charter register {name} PATH`")
        return latest
    assert uri.stage is not None
    found = snapshot.in_stage(uri.stage.value)
    if not found:
        raise NotFound(codes.STAGE_EMPTY, f"No version of {name} was in {uri.stage.value}{when}"
                       if when else f"No version of {name} is in {uri.stage.value}",
                       f"promote one with `charter promote {name} VERSION --to "
                       f"{uri.stage.value} --reason …`", {"name": name,
                                                         "stage": uri.stage.value})
    return found[-1]


def artifact_location(version: VersionRecord) -> str:
    """Where a version's bytes are: Charter's own store when it holds files, else the source.

    ``charter:/models/<name>/versions/<n>/files`` is the path of the version's file
    listing under any Charter server's ``/api/v1`` (docs/artifacts.md); the MLflow
    surface answers the same place as an absolute http(s) URL.
    """
    if version.files:
        return f"charter:/models/{quote(version.name, safe='')}/versions/{version.version}/files"
    return version.source

