"""Moving registries: import from MLflow by a plan; export and import a whole Charter."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from charter.cli import render
from charter.cli.state import State, state
from charter.domain import error_codes as codes
from charter.domain.consolidation import NEWEST_PRODUCTION_WINS, RULES, Plan
from charter.domain.errors import InvalidInput
from charter.registry import ServerRegistry

import_app = typer.Typer(help="Bring models into Charter: from an MLflow registry, or from "
                              "a Charter export.", no_args_is_help=True)

@import_app.command("mlflow")
def import_mlflow(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(
        "--from", metavar="URL", help="The MLflow tracking server, e.g. http://mlflow:5000 "
        "(authenticates with MLFLOW_TRACKING_TOKEN or _USERNAME/_PASSWORD).")] = None,
    plan: Annotated[Path | None, typer.Option(
        "--plan", metavar="PLAN.toml", dir_okay=False,
        help="Read the registry and write a consolidation plan to this file.")] = None,
    apply: Annotated[Path | None, typer.Option(
        "--apply", metavar="PLAN.toml", dir_okay=False,
        help="Import the registry as this (reviewed, edited) plan says.")] = None,
    rule: Annotated[str, typer.Option(
        "--conflict-rule", metavar="RULE",
        help=f"For --plan: two Production versions in one product: {' or '.join(RULES)}.")]
    = NEWEST_PRODUCTION_WINS,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing plan file.")]
    = False,
) -> None:
    """Import an MLflow registry, folding badly named models into products.

    --plan lints every name and writes a plan: fraud_detector_v1, _v2 -> fraud_detector.

    Versions are ordered by creation time. Review and edit the plan, then --apply it.

    Old names become redirects: models:/fraud_detector_v2/Production keeps resolving.

    Example: charter import mlflow --from http://mlflow:5000 --plan plan.toml
    """
    from charter.transfer import mlflow_import
    from charter.transfer.mlflow_source import MlflowSource

    if (plan is None) == (apply is None):
        raise typer.BadParameter("give either --plan PLAN.toml or --apply PLAN.toml",
                                 param_hint="--plan/--apply")
    current = state(ctx)
    if plan is not None:
        if not url:
            raise typer.BadParameter("--plan needs --from URL", param_hint="--from")
        registry = MlflowSource.from_env(url, os.environ).read()
        written = mlflow_import.write_plan(registry, plan, rule=rule,
                                           policy=_naming_policy(current), force=force)
        _show_plan(written)
        render.out.print(Text.assemble(
            "Wrote ", (str(plan), "bold"), f": {render.plural(len(written.models), 'product')}"
            f" from {render.plural(len(registry.models), 'MLflow model')}. Review and edit "
            f"it, then run: charter import mlflow --apply {plan}"), soft_wrap=True)
        return
    assert apply is not None
    service = _embedded(current, "import mlflow --apply")
    chosen = mlflow_import.read_plan(apply)
    registry = MlflowSource.from_env(url or chosen.source, os.environ).read()
    records, left_out = mlflow_import.apply_plan(service, chosen, registry)
    for record in records:
        _print_imported(record)
    for name in left_out:
        render.err.print(Text(f"warning: {name} is not in the plan and was not imported",
                              style="yellow"), soft_wrap=True)


def _naming_policy(current: State) -> Any:
    from charter.bootstrap import naming_policy
    from charter.config import Settings

    return naming_policy(Settings.load({} if current.is_remote else
                                       current.settings_overrides()))


def _embedded(current: State, command: str) -> ServerRegistry:
    if current.is_remote:
        raise InvalidInput(codes.CLI_REMOTE_UNSUPPORTED,
                           f"{command} writes to a database, not through a server",
                           "run it where the database is reachable, e.g. "
                           "charter --registry postgresql://USER@HOST/DB " + command)
    return current.embedded()


def _show_plan(plan: Plan) -> None:
    table = Table(title=f"Plan for {plan.source} (conflict rule: {plan.conflict_rule})",
                  title_justify="left")
    for column in ("product", "version", "from", "created", "MLflow stage", "stage", "note"):
        table.add_column(column, overflow="fold")
    for model in plan.models:
        for index, version in enumerate(model.versions or ()):
            table.add_row(Text(model.name if index == 0 else "", style="bold"),
                          f"v{version.version}",
                          Text(f"{version.mlflow_name} v{version.mlflow_version}"),
                          version.created[:19].replace("T", " "),
                          render.stage_text(version.mlflow_stage),
                          render.stage_text(version.stage), Text(version.note))
        if not model.versions:
            table.add_row(Text(model.name, style="bold"), "-", Text(", ".join(model.sources)),
                          "", "", "", Text("no versions"))
        table.add_section()
    render.print_table(table)
    for model in plan.models:
        for note in model.notes:
            render.out.print(Text.assemble((f"{model.name}: ", "bold"), note), soft_wrap=True)


def _print_imported(record: Any) -> None:
    stages = ", ".join(f"{stage} v{', v'.join(map(str, numbers))}"
                       for stage, numbers in record.stages.items())
    render.out.print(Text.assemble(
        "Imported ", (record.name, "bold"),
        f": {render.plural(record.version_count, 'version')} ({stages})",
        f"; old names redirect here: {', '.join(record.redirects)}" if record.redirects
        else ""), soft_wrap=True)


@import_app.command("charter")
def import_charter(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(
        metavar="DIR", file_okay=False, help="A folder written by `charter export`.")],
) -> None:
    """Load a Charter export into this empty registry and verify its audit chain.

    Refused into a registry that holds models or events, or when the export was altered.

    Example: charter --registry postgresql://charter@db/charter import charter ./export
    """
    service = _embedded(state(ctx), "import charter DIR")
    manifest = service.import_registry(folder)
    head = manifest["chain_head"]
    render.out.print(Text.assemble(
        "Imported ", (str(folder), "bold"), f": {_counts(manifest)}. ",
        ("OK", "bold green"), f": audit chain intact up to event #{head['seq']} "
        f"({head['hash'][:12]}…)"), soft_wrap=True)


def export(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(
        metavar="DIR", file_okay=False, help="A new or empty folder to write the export to.")],
) -> None:
    """Export the whole registry with its history to a folder (see docs/migration.md).

    Names, numbers, stages, aliases, tags, tombstones, redirects, audit events and blobs.

    Example: charter export ./charter-export
    """
    service = _embedded(state(ctx), "export DIR")
    manifest = service.export_registry(folder)
    head = manifest["chain_head"]
    render.out.print(Text.assemble(
        "Exported ", f"{_counts(manifest)} to ", (str(folder), "bold"),
        f"; chain head #{head['seq']} {head['hash']}"), soft_wrap=True)


def _counts(manifest: dict[str, Any]) -> str:
    lines = {name: entry["lines"] for name, entry in manifest["files"].items()}
    return ", ".join([render.plural(lines["models.jsonl"], "model"),
                      render.plural(lines["versions.jsonl"], "version"),
                      render.plural(lines["events.jsonl"], "event"),
                      render.plural(manifest["blobs"], "blob")])
