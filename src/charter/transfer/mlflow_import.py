"""The import from MLflow, end to end: read the registry, write the plan, apply it.

Planning is pure (``domain.consolidation``) and reading is ``mlflow_source``; this
module adds the plan file on disk and hands the resolved plan to the service,
which writes everything in one transaction.
"""

from __future__ import annotations

from pathlib import Path

from charter.domain import error_codes as codes
from charter.domain.consolidation import Plan, SourceRegistry, make_plan
from charter.domain.errors import InvalidInput
from charter.domain.importing import resolve_plan
from charter.domain.naming import NamingPolicy
from charter.domain.plan_file import plan_from_toml, plan_to_toml
from charter.domain.records import ModelRecord
from charter.registry import ServerRegistry


def write_plan(registry: SourceRegistry, path: Path, *, rule: str, policy: NamingPolicy,
               force: bool = False) -> Plan:
    if path.exists() and not force:
        raise InvalidInput(codes.PLAN_EXISTS, f"'{path}' exists; it may hold your edits",
                           "pass --force to overwrite it, or write the plan elsewhere")
    plan = make_plan(registry, rule=rule, policy=policy)
    path.write_text(plan_to_toml(plan), encoding="utf-8")
    return plan


def read_plan(path: Path) -> Plan:
    if not path.is_file():
        raise InvalidInput(codes.PLAN_NOT_FOUND, f"'{path}' does not exist",
                           "write a plan first: charter import mlflow --from URL --plan PATH")
    return plan_from_toml(path.read_text(encoding="utf-8"))


def apply_plan(service: ServerRegistry, plan: Plan, registry: SourceRegistry
               ) -> tuple[list[ModelRecord], list[str]]:
    """Import what the plan says; returns the models and the old names left out."""
    models, left_out = resolve_plan(plan, registry, service.policies.naming)
    return service.import_models(models), left_out
