"""Consumers: the deployments that serve a model, and whether they follow its moves.

A *consumer* is a named deployment (``checkout-api/eu``) that reports which version
it serves of a ``models:/`` URI, by resolving it with its name or by an explicit
report. Per consumer and URI the registry keeps the version last reported and when.
A report older than ``expire_after`` is *stale*: the consumer no longer counts as
live (it neither blocks an archive nor holds up convergence).

Pure rules only: the name grammar, the settings, a consumer's standing against what
its URI points at now, convergence, and the refusal to archive a served version.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from charter.domain import error_codes as codes
from charter.domain.errors import Conflict, InvalidInput
from charter.domain.gates import describe_duration, parse_duration
from charter.domain.uris import parse_model_uri

# --- the name ------------------------------------------------------------------------------

MAX_NAME = 128
MAX_SEGMENTS = 4
_SEGMENT = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
NAME_RULE = ("1 to 4 segments separated by '/', each of lowercase letters, digits, '.', '_' "
             "or '-', starting and ending with a letter or digit; 128 characters at most "
             "(e.g. checkout-api/eu)")

HEADER = "X-Charter-Consumer"  # the request header a lookup carries the consumer's name in


def check_consumer_name(name: object) -> str:
    """``name`` if it is a consumer name, else ``consumer.invalid`` naming the rule."""
    if isinstance(name, str) and _is_name(name):  # every lookup of a consumer asks
        return name
    if not isinstance(name, str) or not name:
        raise InvalidInput(codes.CONSUMER_INVALID, "A consumer needs a name",
                           f"name the deployment: {NAME_RULE}")
    shown = name[:MAX_NAME + 8]
    if len(name) > MAX_NAME:
        raise InvalidInput(codes.CONSUMER_INVALID,
                           f"Consumer name {shown!r}… is longer than {MAX_NAME} characters",
                           f"use a shorter name: {NAME_RULE}", {"consumer": shown})
    segments = name.split("/")
    if len(segments) <= MAX_SEGMENTS and all(_SEGMENT.fullmatch(s) for s in segments):
        return name
    lowered = name.lower().strip().strip("/")
    hint = (f"use '{lowered}'" if lowered != name and _is_name(lowered)
            else f"a consumer name is {NAME_RULE}")
    raise InvalidInput(codes.CONSUMER_INVALID, f"{shown!r} is not a consumer name", hint,
                       {"consumer": shown})


@lru_cache(maxsize=4096)
def _is_name(name: str) -> bool:
    if not name:
        return False
    segments = name.split("/")
    return (len(name) <= MAX_NAME and len(segments) <= MAX_SEGMENTS
            and all(_SEGMENT.fullmatch(s) for s in segments))


# --- the settings --------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsumerSettings:
    """``[consumers]`` in charter.toml (docs/configuration.md).

    ``expire_after``: a consumer not heard from for this long is stale (not live).
    ``touch_every``: a worker writes a repeat of the same version (only its last-seen
    time changes) at most this often per consumer and URI; a new version is written
    at once.
    """

    expire_after: timedelta = timedelta(days=1)
    touch_every: timedelta = timedelta(seconds=60)


_SETTING_KEYS = ("expire_after", "touch_every")


def parse_consumer_settings(config: Mapping[str, Any]) -> ConsumerSettings:
    section = config.get("consumers", {})
    if not isinstance(section, Mapping):
        raise InvalidInput(codes.CONFIG_INVALID, "[consumers] must be a table",
                           'e.g. expire_after = "24h" under it')
    unknown = sorted(set(section) - set(_SETTING_KEYS))
    if unknown:
        raise InvalidInput(codes.CONFIG_INVALID,
                           f"[consumers]: unknown key(s) {', '.join(unknown)}",
                           f"consumer settings are: {', '.join(_SETTING_KEYS)}")
    values = {key: parse_duration(section[key], where=f"[consumers] {key}")
              for key in _SETTING_KEYS if key in section}
    settings = ConsumerSettings(**values)
    if settings.touch_every <= timedelta(0) or settings.expire_after <= settings.touch_every:
        raise InvalidInput(codes.CONFIG_INVALID,
                           "[consumers] touch_every must be positive and shorter than "
                           "expire_after",
                           'e.g. touch_every = "60s", expire_after = "24h"')
    return settings


# --- a consumer's standing -------------------------------------------------------------------

CURRENT = "current"    # serves what its URI points at now
LAGGING = "lagging"    # serves another version
STALE = "stale"        # not heard from within expire_after (not live)


@dataclass(frozen=True)
class ConsumerReport:
    """What is stored per consumer and URI: the version last reported and when."""

    consumer: str
    model: str
    uri: str
    version: int
    since: datetime        # when it started serving this version (its first report of it)
    last_seen: datetime


@dataclass(frozen=True)
class ConsumerRecord:
    """A consumer's standing: what it serves against what its URI points at now."""

    consumer: str
    model: str
    uri: str
    version: int
    expected: int | None   # what the URI points at now; None: nothing (an empty stage)
    status: str            # current, lagging or stale
    since: datetime
    last_seen: datetime

    @property
    def live(self) -> bool:
        return self.status != STALE

    def to_dict(self) -> dict[str, Any]:
        return {"consumer": self.consumer, "model": self.model, "uri": self.uri,
                "version": self.version, "expected": self.expected, "status": self.status,
                "live": self.live, "since": _iso(self.since),
                "last_seen": _iso(self.last_seen)}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def is_live(report: ConsumerReport, now: datetime, settings: ConsumerSettings) -> bool:
    return now - report.last_seen < settings.expire_after


def live_since(now: datetime, settings: ConsumerSettings) -> datetime:
    """The oldest last-seen time a live consumer may have."""
    return now - settings.expire_after


def standing(report: ConsumerReport, expected: int | None, now: datetime,
             settings: ConsumerSettings) -> ConsumerRecord:
    if not is_live(report, now, settings):
        status = STALE
    else:
        status = CURRENT if report.version == expected else LAGGING
    return ConsumerRecord(report.consumer, report.model, report.uri, report.version, expected,
                          status, report.since, report.last_seen)


def stage_of(uri: str) -> str | None:
    """The stage a stored URI follows (``models:/m/Production`` -> Production), else None."""
    parsed = parse_model_uri(uri)
    return parsed.stage.value if parsed.stage is not None else None


# --- convergence -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StageConvergence:
    """Who of a stage's live consumers serve its current version, and who lag."""

    stage: str
    version: int | None
    current: tuple[str, ...]
    lagging: tuple[str, ...]

    @property
    def converged(self) -> bool:
        return bool(self.current) and not self.lagging

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "version": self.version, "converged": self.converged,
                "current": list(self.current), "lagging": list(self.lagging)}


def convergence(records: Iterable[ConsumerRecord]) -> list[StageConvergence]:
    """Per stage that live consumers follow: who serves its version, who lags (by name)."""
    by_stage: dict[str, list[ConsumerRecord]] = {}
    for record in records:
        stage = stage_of(record.uri)
        if stage is not None and record.live:
            by_stage.setdefault(stage, []).append(record)
    answer = []
    for stage, found in sorted(by_stage.items()):
        answer.append(StageConvergence(
            stage, found[0].expected,
            tuple(sorted({r.consumer for r in found if r.status == CURRENT})),
            tuple(sorted({r.consumer for r in found if r.status == LAGGING}))))
    return answer


@dataclass(frozen=True)
class ConsumersView:
    """A model's consumers and, per stage they follow, its convergence."""

    model: str
    consumers: list[ConsumerRecord]
    stages: list[StageConvergence]
    expire_after: timedelta

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "consumers": [c.to_dict() for c in self.consumers],
                "stages": [s.to_dict() for s in self.stages],
                "expire_after_seconds": int(self.expire_after.total_seconds())}


def converged_on(reports: Sequence[ConsumerReport], stage: str, version: int,
                 now: datetime, settings: ConsumerSettings) -> list[str] | None:
    """The live consumers of ``stage`` if every one serves ``version`` (and there is at
    least one), else None: the condition of a ``consumers_converged`` event."""
    followers = [r for r in reports
                 if stage_of(r.uri) == stage and is_live(r, now, settings)]
    if not followers or any(r.version != version for r in followers):
        return None
    return sorted({r.consumer for r in followers})


# --- a served version is not archived or deleted without force --------------------------------


def served_by(reports: Iterable[ConsumerReport], version: int, now: datetime,
              settings: ConsumerSettings) -> list[str]:
    """The live consumers serving ``version`` (through any URI), by name."""
    return sorted({r.consumer for r in reports
                   if r.version == version and is_live(r, now, settings)})


def refuse_served(model: str, version: int, consumers: Sequence[str], action: str,
                  now: datetime, last_seen: datetime | None = None) -> Conflict:
    """``version.served``: ``action`` (archive, delete) would pull a version from under
    the consumers still serving it (for a whole model, ``version`` is one of them)."""
    shown = ", ".join(consumers[:10]) + (f" and {len(consumers) - 10} more"
                                          if len(consumers) > 10 else "")
    seen = (f" (last seen {describe_duration(now - last_seen)} ago)"
            if last_seen is not None else "")
    return Conflict(codes.VERSION_SERVED,
                    f"{model} v{version} is still served by {shown}{seen}; refusing to "
                    f"{action} it",
                    f"wait until they switch (`charter consumers {model}`), or, as an owner, "
                    "force it (`--force` in the CLI, force=true in the API; audited)",
                    {"name": model, "version": version, "consumers": list(consumers)})
