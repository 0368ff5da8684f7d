"""Commands that edit what surrounds versions: tags, aliases, names, descriptions."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from charter.cli import render
from charter.cli.parse import parse_pairs, split_target
from charter.cli.state import registry

Target = Annotated[str, typer.Argument(
    metavar="NAME[/VERSION]", help="A model (fraud_detector) or one version (fraud_detector/3).")]
Name = Annotated[str, typer.Argument(help="The model's name, e.g. fraud_detector.")]


def tag(
    ctx: typer.Context,
    target: Target,
    pairs: Annotated[list[str] | None, typer.Argument(
        metavar="KEY=VALUE...", help="Tags to set.", show_default=False)] = None,
    delete: Annotated[list[str] | None, typer.Option(
        "--delete", metavar="KEY", help="A tag to remove; repeat for more.")] = None,
) -> None:
    """Set or remove tags on a model or on one version.

    Metadata such as team, owner or algorithm belongs in tags, never in the name.

    Example: charter tag fraud_detector/3 algorithm=xgboost owner=risk-team
    """
    if not pairs and not delete:
        raise typer.BadParameter("give KEY=VALUE pairs to set or --delete KEY",
                                 param_hint="KEY=VALUE")
    name, version = split_target(target)
    reg = registry(ctx)
    for key, value in parse_pairs(pairs or [], "KEY=VALUE").items():
        if version is None:
            reg.set_model_tag(name, key, value)
        else:
            reg.set_version_tag(name, version, key, value)
        render.out.print(Text(f"Set {key}={value} on {target}"))
    for key in delete or []:
        if version is None:
            reg.delete_model_tag(name, key)
        else:
            reg.delete_version_tag(name, version, key)
        render.out.print(Text(f"Removed {key} from {target}"))


def alias(
    ctx: typer.Context,
    name: Name,
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. champion.")],
    version: Annotated[str | None, typer.Argument(help="The version it points to.")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias.")] = False,
) -> None:
    """Point an alias (models:/NAME@ALIAS) at a version, or remove it.

    Example: charter alias fraud_detector champion 3
    """
    if delete == (version is not None):
        raise typer.BadParameter("give either VERSION or --delete", param_hint="VERSION")
    reg = registry(ctx)
    if delete:
        reg.delete_alias(name, alias_name)
        render.out.print(Text(f"Removed @{alias_name.lower()} from {name}"))
        return
    assert version is not None
    reg.set_alias(name, alias_name, version)
    render.out.print(Text(f"{name}@{alias_name.lower()} → v{version.lstrip('vV')}"))


def rename(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(help="The current name.")],
    new: Annotated[str, typer.Argument(help="The new name (checked by the naming policy).")],
    reason: Annotated[str, typer.Option(help="Why; recorded in the audit log.",
                                        show_default=False)],
) -> None:
    """Rename a model; the old name keeps resolving to it as a redirect.

    Example: charter rename fraud_model fraud_detector --reason "name the product"
    """
    record = registry(ctx).rename_model(old, new, reason=reason)
    render.out.print(Text.assemble("Renamed ", old, " to ", (record.name, "bold"),
                                   f"; models:/{old}/… still resolves"))


def describe(
    ctx: typer.Context,
    target: Target,
    text: Annotated[str, typer.Argument(help="The new description.")],
) -> None:
    """Set the description of a model or of one version.

    Example: charter describe fraud_detector "Scores card payments for fraud risk"
    """
    name, version = split_target(target)
    reg = registry(ctx)
    if version is None:
        reg.update_model(name, description=text)
    else:
        reg.update_version(name, version, description=text)
    render.out.print(Text(f"Described {target}"))
