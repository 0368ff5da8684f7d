"""Folding a legacy registry's names into products (the import from MLflow).

A registry that grew without a naming contract holds one product under many
names: ``fraud_detector_v1``, ``fraud_detector_v2``, ``fraud_detector_final``,
``fraud_oct_2024``. The naming policy's suggestion strips what a name should not
carry, so names with the same suggestion are one product; a suggestion that is
the start of exactly one other (``fraud`` of ``fraud_detector``) joins it. The
product's versions are the sources' versions ordered by creation time and
numbered 1, 2, 3, ...; where the sources had more than one version in
Production, the plan's rule decides (by default the newest keeps Production and
the others are Archived).

``make_plan`` writes that down as a ``Plan`` the operator reviews and edits
(``plan_file`` reads and writes it as TOML; ``importing`` checks an edited plan
against the registry as it is now). Pure: the registry is read elsewhere and
handed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput
from charter.domain.lifecycle import Stage, parse_stage
from charter.domain.naming import (
    ALGORITHM,
    NamingPolicy,
    check_addressable,
    lint,
    suggest_name,
)
from charter.domain.values import check_alias

NEWEST_PRODUCTION_WINS = "newest_production_wins"
REFUSE = "refuse"
RULES = (NEWEST_PRODUCTION_WINS, REFUSE)
READY = "READY"


# --- what was read from the old registry ---------------------------------------------


@dataclass(frozen=True)
class SourceVersion:
    name: str
    version: int
    created_ms: int
    updated_ms: int = 0
    stage: str = "None"
    source: str = ""
    run_id: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    status: str = READY


@dataclass(frozen=True)
class SourceModel:
    name: str
    created_ms: int
    updated_ms: int = 0
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceRegistry:
    url: str
    models: tuple[SourceModel, ...]
    versions: tuple[SourceVersion, ...]

    def model(self, name: str) -> SourceModel | None:
        return next((m for m in self.models if m.name == name), None)

    def versions_of(self, names: Iterable[str]) -> list[SourceVersion]:
        """The READY versions of ``names``, oldest first (ties: by name, then number)."""
        wanted = set(names)
        found = [v for v in self.versions if v.name in wanted and v.status == READY]
        return sorted(found, key=lambda v: (v.created_ms, v.name.lower(), v.version))


# --- the plan --------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedVersion:
    version: int              # its number in Charter
    mlflow_name: str
    mlflow_version: int
    stage: str                # the stage it is imported into
    mlflow_stage: str = ""    # what the old registry had (for the reader)
    created: str = ""         # creation time, ISO (for the reader)
    tags: dict[str, str] = field(default_factory=dict)  # tags the plan adds
    note: str = ""


@dataclass(frozen=True)
class PlannedModel:
    """One product. ``None`` for a field means "derive it from the sources on apply"."""

    name: str
    sources: tuple[str, ...]
    description: str | None = None
    tags: dict[str, str] | None = None
    aliases: dict[str, int] | None = None
    versions: tuple[PlannedVersion, ...] | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    source: str
    conflict_rule: str
    models: tuple[PlannedModel, ...]
    not_imported: tuple[str, ...] = ()  # names the plan leaves out, with why (for the reader)


def check_rule(rule: str) -> str:
    if rule not in RULES:
        raise InvalidInput(codes.PLAN_INVALID, f"conflict_rule {rule!r} is not one of "
                           f"{', '.join(RULES)}", f"set conflict_rule = \"{RULES[0]}\"")
    return rule


# --- planning --------------------------------------------------------------------------


def group_names(names: Iterable[str], policy: NamingPolicy | None = None
                ) -> dict[str, list[str]]:
    """Product name -> the old names folded into it, both sorted.

    A name with no usable suggestion (``my_model``) stays a product of its own,
    under its own name, for the operator to rename.
    """
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(suggest_name(name, policy) or name, []).append(name)
    for short in sorted(groups, key=lambda g: (len(g), g)):
        if short not in groups or short in groups[short]:
            continue  # a clean name in use is a product, not a leftover
        longer = [g for g in groups if g != short and g.startswith(short + "_")]
        if len(longer) == 1:
            groups[longer[0]] += groups.pop(short)
    return {product: sorted(groups[product]) for product in sorted(groups)}


def make_plan(registry: SourceRegistry, *, rule: str = NEWEST_PRODUCTION_WINS,
              policy: NamingPolicy | None = None) -> Plan:
    check_rule(rule)
    groups = group_names((m.name for m in registry.models), policy)
    models = tuple(_plan_model(product, sources, registry, rule, policy)
                   for product, sources in groups.items())
    skipped = tuple(f"{v.name} v{v.version}: status {v.status}, not imported"
                    for v in registry.versions if v.status != READY)
    return Plan(registry.url, rule, models, skipped)


def _plan_model(product: str, sources: list[str], registry: SourceRegistry, rule: str,
                policy: NamingPolicy | None) -> PlannedModel:
    notes = _naming_notes(product, sources, policy)
    versions = apply_rule(number_versions(registry.versions_of(sources), policy), rule)
    description, tags, more = derive_metadata(sources, registry)
    aliases, alias_notes = derive_aliases(sources, registry, versions)
    conflicts = production_versions(versions)
    if len(conflicts) > 1:
        notes.append(f"conflict: {len(conflicts)} versions are in Production "
                     f"(v{', v'.join(str(v.version) for v in conflicts)}); keep one")
    return PlannedModel(product, tuple(sources), description, tags, aliases,
                        tuple(versions), tuple(notes + more + alias_notes))


def _naming_notes(product: str, sources: list[str], policy: NamingPolicy | None
                  ) -> list[str]:
    notes = []
    for name in sources:
        findings = lint(name, policy)
        notes += [f.message for f in findings]
        suggested = suggest_name(name, policy)
        if findings and not suggested:
            notes.append(f"{name}: no product name is left once the findings are removed; "
                         "rename this product before applying")
        elif suggested and suggested != product:
            notes.append(f"{name}: folded into {product}, which starts with its suggested name "
                         f"'{suggested}'; give it a [[model]] of its own if it is another product")
        if not can_redirect(name):
            notes.append(f"{name}: cannot be kept as a redirect (no models:/ URI can name it); "
                         "its versions are imported, the old name is not")
    if product in sources and len(sources) > 1:
        notes.append(f"{product}: its versions are renumbered with the others by creation "
                     "time, so models:/" + product + "/N may name another version than before")
    return notes


def can_redirect(name: str) -> bool:
    """Whether a models:/ URI can name ``name``, so that it can stay as a redirect."""
    try:
        check_addressable(name)
    except InvalidInput:
        return False
    return True


def number_versions(ordered: Sequence[SourceVersion], policy: NamingPolicy | None = None
                    ) -> list[PlannedVersion]:
    """Number versions 1..n in the given (creation) order; stages as the source had them."""
    return [PlannedVersion(number, v.name, v.version, parse_stage(v.stage).value,
                           parse_stage(v.stage).value, iso_time(v.created_ms),
                           _name_tags(v.name, policy))
            for number, v in enumerate(ordered, start=1)]


def _name_tags(name: str, policy: NamingPolicy | None) -> dict[str, str]:
    """What the old name said that a tag should say instead (``algorithm=xgboost``)."""
    found = [f.token for f in lint(name, policy) if f.code == ALGORITHM]
    return {"algorithm": found[0]} if found else {}


def production_versions(versions: Iterable[PlannedVersion]) -> list[PlannedVersion]:
    return [v for v in versions if v.stage == Stage.PRODUCTION]


def apply_rule(versions: list[PlannedVersion], rule: str) -> list[PlannedVersion]:
    """Resolve two or more Production versions: the newest keeps it, the others are
    Archived (``newest_production_wins``); ``refuse`` leaves them for the operator."""
    production = production_versions(versions)
    if rule != NEWEST_PRODUCTION_WINS or len(production) < 2:
        return versions
    winner = max(production, key=lambda v: v.version)
    note = (f"{NEWEST_PRODUCTION_WINS}: v{winner.version} ({winner.mlflow_name} "
            f"v{winner.mlflow_version}) keeps Production")
    return [replace(v, stage=Stage.ARCHIVED.value, note=note)
            if v.stage == Stage.PRODUCTION and v is not winner else v for v in versions]


def derive_metadata(sources: Sequence[str], registry: SourceRegistry
                    ) -> tuple[str, dict[str, str], list[str]]:
    """The product's description and tags: the newest source's win, conflicts noted."""
    models = sorted((m for m in (registry.model(n) for n in sources) if m is not None),
                    key=lambda m: (m.created_ms, m.name))
    tags: dict[str, str] = {}
    notes = []
    for model in models:
        for key, value in sorted(model.tags.items()):
            if key in tags and tags[key] != value:
                notes.append(f"tag {key}: {model.name}'s value {value!r} replaces {tags[key]!r}")
            tags[key] = value
    described = [m for m in models if m.description]
    if len({m.description for m in described}) > 1:
        notes.append(f"description: {described[-1].name}'s is kept (the sources' differ)")
    return (described[-1].description if described else ""), tags, notes


def derive_aliases(sources: Sequence[str], registry: SourceRegistry,
                   versions: Sequence[PlannedVersion]) -> tuple[dict[str, int], list[str]]:
    """Each source alias on the version it pointed at; on a clash the newer version wins."""
    number = {(v.mlflow_name, v.mlflow_version): v.version for v in versions}
    aliases: dict[str, int] = {}
    notes = []
    for name in sources:
        model = registry.model(name)
        for alias, old in sorted((model.aliases if model else {}).items()):
            new = number.get((name, old))
            problem = _alias_problem(alias)
            if new is None or problem:
                notes.append(f"alias {alias} of {name}: "
                             f"{problem or f'v{old} is not imported'}; dropped")
                continue
            key = alias.lower()
            if key in aliases and aliases[key] != new:
                kept = max(aliases[key], new)
                notes.append(f"alias {key}: on v{aliases[key]} and v{new}; v{kept} keeps it")
                new = kept
            aliases[key] = new
    return dict(sorted(aliases.items())), notes


def _alias_problem(alias: str) -> str:
    try:
        check_alias(alias)
    except InvalidInput as exc:
        return exc.message
    return ""


def iso_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
