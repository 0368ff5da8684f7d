"""An edited import plan, checked against the old registry as it is now.

``resolve_plan`` turns a ``Plan`` (``consolidation``) into ``ImportedModel`` records
for the service: it refuses a plan that no longer matches the registry (a version
added or removed since it was written), that names an old name twice, or that
still has a Production conflict under the ``refuse`` rule, and fills in whatever
the operator left to be derived. Pure: the registry is read elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from charter.domain import error_codes as codes
from charter.domain.consolidation import (
    NEWEST_PRODUCTION_WINS,
    Plan,
    PlannedModel,
    PlannedVersion,
    SourceRegistry,
    SourceVersion,
    apply_rule,
    can_redirect,
    check_rule,
    derive_aliases,
    derive_metadata,
    from_ms,
    iso_time,
    number_versions,
    production_versions,
)
from charter.domain.errors import InvalidInput
from charter.domain.lifecycle import parse_stage
from charter.domain.naming import NamingPolicy


@dataclass(frozen=True)
class ImportedVersion:
    version: int
    stage: str
    source: str
    run_id: str
    description: str
    tags: dict[str, str]
    created_at: datetime
    reason: str
    origin: dict[str, Any]    # where it came from; recorded in the event's payload
    note: str = ""


@dataclass(frozen=True)
class ImportedModel:
    name: str
    description: str
    tags: dict[str, str]
    aliases: dict[str, int]
    created_at: datetime
    versions: tuple[ImportedVersion, ...]
    redirects: dict[str, str]  # former name -> why; each keeps resolving to this model
    reason: str
    origin: dict[str, Any]


def import_reason(url: str, name: str, version: int | None = None) -> str:
    where = f"{name} v{version}" if version is not None else name
    return f"imported from MLflow {url}: {where}"


def resolve_plan(plan: Plan, registry: SourceRegistry, policy: NamingPolicy | None = None
                 ) -> tuple[list[ImportedModel], list[str]]:
    """What to import for an (edited) plan, checked against the registry as it is now.

    Returns the models and the old names the plan leaves out. Refuses a plan that no
    longer matches the registry (a version added or removed since it was written),
    that names an old name twice, or that still has a Production conflict under ``refuse``.
    """
    check_rule(plan.conflict_rule)
    _check_sources(plan, registry)
    _check_targets(plan)
    models = [_resolve_model(m, plan, registry, policy) for m in plan.models]
    planned = {s for m in plan.models for s in m.sources}
    left_out = sorted(m.name for m in registry.models if m.name not in planned)
    return models, left_out


def _check_sources(plan: Plan, registry: SourceRegistry) -> None:
    seen: dict[str, str] = {}
    for model in plan.models:
        if not model.sources:
            raise _plan_error(f"[[model]] {model.name!r} has no sources",
                              "list the old names it is made of, or delete the model")
        for name in model.sources:
            if name in seen:
                raise _plan_error(f"{name!r} is a source of both {seen[name]!r} and "
                                  f"{model.name!r}", "keep it in one [[model]]")
            if registry.model(name) is None:
                raise _stale(f"{name!r} is in the plan but not in the registry at "
                             f"{registry.url}")
            seen[name] = model.name


def _check_targets(plan: Plan) -> None:
    taken: dict[str, str] = {}
    for model in plan.models:
        key = model.name.strip().lower()
        if key in taken:
            raise _plan_error(f"two [[model]] entries are named {model.name!r}",
                              "merge their sources into one, or rename one")
        taken[key] = model.name


def _resolve_model(model: PlannedModel, plan: Plan, registry: SourceRegistry,
                   policy: NamingPolicy | None) -> ImportedModel:
    current = registry.versions_of(model.sources)
    versions = (_checked_versions(model, current, plan.conflict_rule)
                if model.versions is not None
                else apply_rule(number_versions(current, policy), plan.conflict_rule))
    production = production_versions(versions)
    if len(production) > 1:
        raise InvalidInput(
            codes.PLAN_CONFLICT, f"{model.name}: v{', v'.join(str(v.version) for v in production)} "
            "would all be in Production (at most one Production version per model)",
            "set the others' stage to Archived or Staging in the plan, or set "
            f"conflict_rule = \"{NEWEST_PRODUCTION_WINS}\"")
    description, tags, _ = derive_metadata(model.sources, registry)
    aliases = model.aliases
    if aliases is None:
        aliases = derive_aliases(model.sources, registry, versions)[0]
    _check_alias_targets(model.name, aliases, len(versions))
    by_key = {(v.name, v.version): v for v in current}
    sources = [registry.model(n) for n in model.sources]
    return ImportedModel(
        name=model.name,
        description=description if model.description is None else model.description,
        tags=tags if model.tags is None else dict(model.tags),
        aliases=dict(aliases),
        created_at=from_ms(min(m.created_ms for m in sources if m is not None)),
        versions=tuple(_imported_version(v, by_key[(v.mlflow_name, v.mlflow_version)],
                                         registry.url) for v in versions),
        redirects={n: import_reason(registry.url, n) for n in model.sources
                   if n.lower() != model.name.strip().lower() and can_redirect(n)},
        reason=import_reason(registry.url, ", ".join(model.sources)),
        origin={"registry": "mlflow", "url": registry.url, "names": list(model.sources)})


def _checked_versions(model: PlannedModel, current: list[SourceVersion], rule: str
                      ) -> list[PlannedVersion]:
    assert model.versions is not None
    planned = {(v.mlflow_name, v.mlflow_version) for v in model.versions}
    actual = {(v.name, v.version) for v in current}
    if len(planned) != len(model.versions):
        raise _plan_error(f"{model.name}: an old version is listed twice",
                          "list each old version once")
    missing, extra = sorted(actual - planned), sorted(planned - actual)
    if missing or extra:
        shown = ", ".join(f"{n} v{v}" for n, v in (missing or extra)[:5])
        problem = (f"{shown} {'is' if len(missing) == 1 else 'are'} in the registry but not "
                   "in the plan" if missing else f"the plan lists {shown}, which the registry "
                   "does not have (READY)")
        raise _stale(f"{model.name}: {problem}",
                     f"or delete {model.name}'s [[model.versions]] entries to number its "
                     "versions by creation time")
    ordered = sorted(model.versions, key=lambda v: v.version)
    if [v.version for v in ordered] != list(range(1, len(ordered) + 1)):
        raise _plan_error(f"{model.name}: versions must be numbered 1..{len(ordered)}, "
                          f"got {', '.join(str(v.version) for v in ordered)}",
                          "renumber them without gaps or repeats")
    ordered = [replace(v, stage=parse_stage(v.stage).value) for v in ordered]
    return apply_rule(ordered, rule)


def _check_alias_targets(name: str, aliases: dict[str, int], count: int) -> None:
    for alias, number in aliases.items():
        if not isinstance(number, int) or not 1 <= number <= count:
            raise _plan_error(f"{name}: alias {alias} points at v{number}, which the plan "
                              f"does not import (versions 1..{count})",
                              "point it at an imported version or remove it")


def _imported_version(planned: PlannedVersion, old: SourceVersion, url: str) -> ImportedVersion:
    tags = {**planned.tags, **old.tags}  # the registry's own tags win over suggested ones
    return ImportedVersion(
        version=planned.version, stage=planned.stage, source=old.source, run_id=old.run_id,
        description=old.description, tags=dict(sorted(tags.items())),
        created_at=from_ms(old.created_ms),
        reason=import_reason(url, old.name, old.version),
        origin={"registry": "mlflow", "url": url, "name": old.name, "version": old.version,
                "stage": parse_stage(old.stage).value, "created": iso_time(old.created_ms),
                "updated": iso_time(old.updated_ms or old.created_ms)},
        note=planned.note)


def _plan_error(message: str, hint: str) -> InvalidInput:
    return InvalidInput(codes.PLAN_INVALID, message, hint)


def _stale(message: str, hint: str = "") -> InvalidInput:
    return InvalidInput(codes.PLAN_STALE, message,
                        "the registry changed since the plan was written; write a new plan "
                        "with --plan" + (f", {hint}" if hint else ""))
