"""The import plan as a TOML file the operator reads and edits.

``plan_to_toml`` writes it by hand (the standard library reads TOML but does not
write it, and a hand-written file can carry the comments that explain it);
``plan_from_toml`` reads it back with ``tomllib`` and checks every key, so a typo
(``stages`` for ``stage``) is an error rather than a silently ignored line.
``plan_from_toml(plan_to_toml(plan)) == plan``. Pure: text in, text out.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from typing import Any

from charter.domain import error_codes as codes
from charter.domain.consolidation import RULES, Plan, PlannedModel, PlannedVersion, check_rule
from charter.domain.errors import InvalidInput

PLAN_FORMAT = 1
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

_HEADER = """\
# Charter import plan: the MLflow registry at {url}, folded into products.
# Review and edit it, then apply it:
#   charter import mlflow --from {url} --apply PLAN.toml
#
# Each [[model]] is one product in Charter. `sources` are the old names folded into
# it; each one keeps resolving in Charter as a redirect, with a deprecation warning
# (models:/<old name>/Production keeps working). Its [[model.versions]] give each
# version its number in Charter (1..n, by creation time) and the stage it is
# imported into. You may rename a product, move an old name to another product,
# change a stage, a description, tags or aliases. After moving old names, delete
# the affected products' [[model.versions]] and `aliases`: the import then numbers
# their versions by creation time again. `notes` and the `mlflow_*`/`created`
# fields are for reading; the import takes versions, tags and descriptions from
# the registry as it is when the plan is applied.
#
# conflict_rule: what to do when a product would get two Production versions:
#   {rules}
"""
_RULE_HELP = {
    "newest_production_wins": "the newest keeps Production, the others are Archived",
    "refuse": "stop; pick the one to keep by editing `stage` here",
}


# --- writing ---------------------------------------------------------------------------


def plan_to_toml(plan: Plan) -> str:
    rules = "\n#   ".join(f"{rule}: {_RULE_HELP[rule]}" for rule in RULES)
    lines = [_HEADER.format(url=plan.source, rules=rules),
             f"format = {PLAN_FORMAT}",
             f"source = {_str(plan.source)}",
             f"conflict_rule = {_str(plan.conflict_rule)}"]
    if plan.not_imported:
        lines.append(f"not_imported = {_list(plan.not_imported)}")
    for model in plan.models:
        lines += ["", *_model_lines(model)]
    return "\n".join(lines) + "\n"


def _model_lines(model: PlannedModel) -> list[str]:
    lines = ["[[model]]", f"name = {_str(model.name)}", f"sources = {_list(model.sources)}"]
    if model.description is not None:
        lines.append(f"description = {_str(model.description)}")
    if model.tags is not None:
        lines.append(f"tags = {_table(model.tags, _str)}")
    if model.aliases is not None:
        lines.append(f"aliases = {_table(model.aliases, str)}")
    if model.notes:
        lines.append(f"notes = {_list(model.notes)}")
    for version in model.versions or ():
        lines += ["", *_version_lines(version)]
    return lines


def _version_lines(version: PlannedVersion) -> list[str]:
    lines = ["[[model.versions]]", f"version = {version.version}",
             f"mlflow_name = {_str(version.mlflow_name)}",
             f"mlflow_version = {version.mlflow_version}"]
    if version.created:
        lines.append(f"created = {_str(version.created)}")
    if version.mlflow_stage:
        lines.append(f"mlflow_stage = {_str(version.mlflow_stage)}")
    lines.append(f"stage = {_str(version.stage)}")
    if version.tags:
        lines.append(f"tags = {_table(version.tags, _str)}")
    if version.note:
        lines.append(f"note = {_str(version.note)}")
    return lines


def _str(text: str) -> str:
    # A JSON string is a TOML basic string, except that TOML also escapes DEL.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _str(key)


def _list(items: Any) -> str:
    if len(items) <= 1 or sum(len(i) for i in items) < 60:
        return "[" + ", ".join(_str(i) for i in items) + "]"
    return "[\n" + "".join(f"  {_str(i)},\n" for i in items) + "]"


def _table(items: dict[str, Any], value: Callable[[Any], str]) -> str:
    return "{" + ", ".join(f"{_key(k)} = {value(v)}" for k, v in sorted(items.items())) + "}" \
        if items else "{}"


# --- reading ---------------------------------------------------------------------------


def plan_from_toml(text: str) -> Plan:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _invalid(f"the plan is not valid TOML: {exc}", "fix the line named") from exc
    _only(data, {"format", "source", "conflict_rule", "not_imported", "model"}, "the plan")
    if data.get("format") != PLAN_FORMAT:
        raise _invalid(f"plan format {data.get('format')!r} is not supported",
                       f"write a new plan with --plan (format = {PLAN_FORMAT})")
    models = _get(data, "model", list, "the plan", default=[])
    return Plan(
        source=_get(data, "source", str, "the plan"),
        conflict_rule=check_rule(_get(data, "conflict_rule", str, "the plan")),
        models=tuple(_read_model(m, i) for i, m in enumerate(models, start=1)),
        not_imported=tuple(_strings(data, "not_imported", "the plan") or ()))


def _read_model(data: Any, index: int) -> PlannedModel:
    where = f"[[model]] #{index}"
    if not isinstance(data, dict):
        raise _invalid(f"{where} is not a table", "write it as [[model]] with keys below it")
    _only(data, {"name", "sources", "description", "tags", "aliases", "notes", "versions"},
          where)
    name = _get(data, "name", str, where)
    where = f"[[model]] {name!r}"
    versions = data.get("versions")
    if versions is not None and not isinstance(versions, list):
        raise _invalid(f"{where}: versions must be [[model.versions]] tables", "")
    return PlannedModel(
        name=name,
        sources=tuple(_strings(data, "sources", where) or ()),
        description=_get(data, "description", str, where, default=None),
        tags=_mapping(data, "tags", str, where),
        aliases=_mapping(data, "aliases", int, where),
        versions=None if versions is None else tuple(_read_version(v, where) for v in versions),
        notes=tuple(_strings(data, "notes", where) or ()))


def _read_version(data: Any, model: str) -> PlannedVersion:
    where = f"{model}, [[model.versions]]"
    if not isinstance(data, dict):
        raise _invalid(f"{where} is not a table", "")
    _only(data, {"version", "mlflow_name", "mlflow_version", "created", "mlflow_stage",
                 "stage", "tags", "note"}, where)
    return PlannedVersion(
        version=_get(data, "version", int, where),
        mlflow_name=_get(data, "mlflow_name", str, where),
        mlflow_version=_get(data, "mlflow_version", int, where),
        stage=_get(data, "stage", str, where),
        mlflow_stage=_get(data, "mlflow_stage", str, where, default=""),
        created=_get(data, "created", str, where, default=""),
        tags=_mapping(data, "tags", str, where) or {},
        note=_get(data, "note", str, where, default=""))


_MISSING = object()


def _get(data: dict[str, Any], key: str, kind: type, where: str, default: Any = _MISSING
         ) -> Any:
    if key not in data:
        if default is _MISSING:
            raise _invalid(f"{where} has no {key!r}", f"add {key} = …")
        return default
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _invalid(f"{where}: {key!r} must be {_KINDS[kind]}, not {value!r}", "")
    return value


_KINDS = {str: "text", int: "a whole number", list: "a list", dict: "a table"}


def _strings(data: dict[str, Any], key: str, where: str) -> list[str] | None:
    items: list[str] | None = _get(data, key, list, where, default=None)
    if items is not None and not all(isinstance(i, str) for i in items):
        raise _invalid(f"{where}: {key!r} must be a list of text", "")
    return items


def _mapping(data: dict[str, Any], key: str, kind: type, where: str) -> dict[str, Any] | None:
    items = _get(data, key, dict, where, default=None)
    if items is None:
        return None
    for name, value in items.items():
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _invalid(f"{where}: {key}.{name} must be {_KINDS[kind]}, not {value!r}", "")
    return dict(items)


def _only(data: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _invalid(f"{where} has unknown key(s): {', '.join(unknown)}",
                       f"the keys are: {', '.join(sorted(allowed))}")


def _invalid(message: str, hint: str) -> InvalidInput:
    return InvalidInput(codes.PLAN_INVALID, message, hint)
