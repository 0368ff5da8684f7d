"""Lifecycle retention: which Archived versions a policy purges, and why the rest stay.

"Archived: eventually deleted per retention policy" (the seed). A rule keeps the
last N Archived versions, purges Archived versions older than D days, or both
(then a version goes only when it is beyond the last N *and* older than D days).
Never purged, whatever the rule: the version a rollback would restore, a version
an alias points at, and — unless the rule says ``purge_ever_production`` — any
version that was ever in Production. Pure: the versions and now are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput
from charter.domain.lifecycle import Stage
from charter.domain.per_model import declared_for, name_key

RULE_KEYS = ("keep_last", "max_age_days", "purge_ever_production")


@dataclass(frozen=True)
class RetentionRule:
    keep_last: int | None = None
    max_age: timedelta | None = None
    purge_ever_production: bool = False

    @property
    def active(self) -> bool:
        return self.keep_last is not None or self.max_age is not None

    def to_dict(self) -> dict[str, Any]:
        return {"keep_last": self.keep_last,
                "max_age_days": self.max_age.days if self.max_age is not None else None,
                "purge_ever_production": self.purge_ever_production}


@dataclass(frozen=True)
class RetentionPolicy:
    default: RetentionRule = field(default_factory=RetentionRule)
    models: Mapping[str, RetentionRule] = field(default_factory=dict)

    def for_model(self, name: str, *, former: Iterable[str] = ()) -> RetentionRule:
        """The rule for ``name``, or one declared under a ``former`` name (domain.per_model)."""
        return declared_for(self.models, name, former) or self.default


def parse_retention_policy(config: Mapping[str, Any]) -> RetentionPolicy:
    """Read ``[retention]`` and ``[models.<name>.retention]`` (keys merge over the default)."""
    section = config.get("retention", {})
    default = parse_rule(section, where="[retention]")
    models = {}
    for name, table in (config.get("models") or {}).items():
        if isinstance(table, Mapping) and "retention" in table:
            merged = {**section, **table["retention"]}
            models[name_key(str(name))] = parse_rule(
                merged, where=f"[models.{name}.retention]")
    return RetentionPolicy(default, MappingProxyType(models))


def parse_rule(section: object, *, where: str) -> RetentionRule:
    if not isinstance(section, Mapping):
        raise InvalidInput(codes.CONFIG_INVALID, f"{where} must be a table",
                           "e.g. keep_last = 5 under it")
    unknown = sorted(set(section) - set(RULE_KEYS))
    if unknown:
        raise InvalidInput(codes.CONFIG_INVALID, f"{where}: unknown key(s) {', '.join(unknown)}",
                           f"retention keys are: {', '.join(RULE_KEYS)}")
    keep = section.get("keep_last")
    if keep is not None and (not isinstance(keep, int) or isinstance(keep, bool) or keep < 0):
        raise InvalidInput(codes.CONFIG_INVALID, f"{where}: keep_last must be a whole number >= 0",
                           "e.g. keep_last = 5")
    days = section.get("max_age_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int | float)
                             or days < 0):
        raise InvalidInput(codes.CONFIG_INVALID, f"{where}: max_age_days must be a number >= 0",
                           "e.g. max_age_days = 90")
    production = section.get("purge_ever_production", False)
    if not isinstance(production, bool):
        raise InvalidInput(codes.CONFIG_INVALID, f"{where}: purge_ever_production must be true "
                           "or false", "leave it false to keep every former Production "
                           "version")
    return RetentionRule(keep, timedelta(days=days) if days is not None else None, production)


@dataclass(frozen=True)
class ArchivedVersion:
    version: int
    archived_at: datetime
    ever_production: bool = False
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetentionDecision:
    name: str
    version: int
    purge: bool
    reason: str
    archived_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "purge": self.purge,
                "reason": self.reason,
                "archived_at": self.archived_at.isoformat() if self.archived_at else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RetentionDecision:
        at = data.get("archived_at")
        return cls(data["name"], int(data["version"]), bool(data["purge"]), data["reason"],
                   datetime.fromisoformat(at) if at else None)


@dataclass(frozen=True)
class RetentionReport:
    applied: bool
    decisions: tuple[RetentionDecision, ...] = ()
    blobs_removed: int = 0          # blobs only purged versions used (recent ones: `charter gc`)

    @property
    def purged(self) -> list[RetentionDecision]:
        return [d for d in self.decisions if d.purge]

    def to_dict(self) -> dict[str, Any]:
        return {"applied": self.applied, "decisions": [d.to_dict() for d in self.decisions],
                "purge_count": len(self.purged), "blobs_removed": self.blobs_removed}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RetentionReport:
        return cls(bool(data["applied"]),
                   tuple(RetentionDecision.from_dict(d) for d in data.get("decisions", [])),
                   int(data.get("blobs_removed", 0)))


def rollback_target(production: int | None, stages: Mapping[int, str],
                    production_history: Sequence[int]) -> int | None:
    """The Archived version a rollback would restore: the newest former Production holder."""
    for candidate in reversed(production_history):
        if candidate != production and stages.get(candidate) == Stage.ARCHIVED.value:
            return candidate
    return None


def decide_purges(name: str, rule: RetentionRule, archived: Sequence[ArchivedVersion], *,
           rollback_to: int | None, now: datetime) -> list[RetentionDecision]:
    """A decision for every Archived version, newest archived first."""
    ranked = sorted(archived, key=lambda a: (a.archived_at, a.version), reverse=True)
    decisions = []
    for rank, version in enumerate(ranked):
        purge, reason = _decide(rule, version, rank, rollback_to, now)
        decisions.append(RetentionDecision(name, version.version, purge, reason,
                                           version.archived_at))
    return decisions


def _decide(rule: RetentionRule, version: ArchivedVersion, rank: int, rollback_to: int | None,
            now: datetime) -> tuple[bool, str]:
    if not rule.active:
        return False, "no retention rule applies to this model"
    if version.version == rollback_to:
        return False, "kept: the rollback target"
    if version.aliases:
        return False, f"kept: alias {', '.join('@' + a for a in version.aliases)} points here"
    if version.ever_production and not rule.purge_ever_production:
        return False, "kept: it was in Production (purge_ever_production is off)"
    if rule.keep_last is not None and rank < rule.keep_last:
        return False, f"kept: among the last {rule.keep_last} Archived versions"
    age = now - version.archived_at
    if rule.max_age is not None and age < rule.max_age:
        return False, f"kept: archived {age.days} day(s) ago, under {rule.max_age.days}"
    why = []
    if rule.keep_last is not None:
        why.append(f"beyond the last {rule.keep_last} Archived versions")
    if rule.max_age is not None:
        why.append(f"archived {age.days} day(s) ago, over {rule.max_age.days}")
    return True, "purge: " + " and ".join(why)
