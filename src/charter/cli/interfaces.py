"""A version's interface and two versions compared, on the command line: ``charter diff``
and ``charter interface``; and reading ``--interface FILE`` for ``charter register``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from charter.artifacts import mlmodel
from charter.cli import render
from charter.cli.state import registry
from charter.domain import error_codes as codes
from charter.domain.compatibility import InterfaceDiff
from charter.domain.errors import InvalidInput
from charter.domain.interface import Interface, InterfaceRecord, parse_interface_text
from charter.domain.version_diff import KeyedDiff, VersionDiff

Name = Annotated[str, typer.Argument(help="The model's name, e.g. fraud_detector.")]
Version = Annotated[str, typer.Argument(help="The version number, e.g. 3 or v3.")]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def read_interface_file(path: Path) -> Interface:
    """An interface from a file: an MLmodel (its signature), or JSON (MLflow's signature
    dict or Charter's form)."""
    data = path.read_bytes()
    if path.name == mlmodel.FILE_NAME:
        found = mlmodel.parse(data).interface
        if found is None:
            raise InvalidInput(codes.INTERFACE_INVALID, f"{path} has no signature",
                               "log the model with a signature (mlflow.models.infer_signature)")
        return found
    return parse_interface_text(data.decode("utf-8", errors="replace"))


def diff(ctx: typer.Context, name: Name,
         a: Annotated[str, typer.Argument(help="The version compared from, e.g. 3.")],
         b: Annotated[str, typer.Argument(help="The version compared to, e.g. 4.")],
         as_json: Json = False) -> None:
    """Compare two versions: interface, files (by digest), tags and descriptions.

    The interface is judged as if A were in Production: a breaking change is one a
    promotion of B over A would be refused for (docs/contracts.md).

    Example: charter diff fraud_detector 3 4
    """
    found = registry(ctx).diff_versions(name, a, b)
    if as_json:
        render.print_json(found.to_dict())
        return
    print_diff(found)


def interface(ctx: typer.Context, name: Name, version: Version,
              set_from: Annotated[Path | None, typer.Option(
                  "--set", metavar="FILE", exists=True, dir_okay=False,
                  help="Declare it from FILE (an MLmodel, or JSON); a version's interface "
                       "is set once.")] = None,
              as_json: Json = False) -> None:
    """Show a version's interface: its inputs, outputs and params.

    Example: charter interface fraud_detector 3
    """
    reg = registry(ctx)
    record = (reg.set_interface(name, version, read_interface_file(set_from))
              if set_from is not None else reg.get_interface(name, version))
    if as_json:
        render.print_json(record.to_dict())
        return
    print_interface(record)


def print_interface(record: InterfaceRecord) -> None:
    title = f"{record.name} v{record.version}"
    if record.interface is None:
        render.out.print(Text(f"{title} declares no interface"))
        return
    table = Table(box=None, pad_edge=False, header_style="bold", title_justify="left",
                  title=Text.assemble((title, "bold"), f" (from {record.origin})"))
    for column in ("", "name", "type"):
        table.add_column(column)
    for section, specs in (("input", record.interface.inputs),
                           ("output", record.interface.outputs)):
        for index, spec in enumerate(specs):
            table.add_row(section, spec.name or f"#{index}", spec.describe())
    for param in record.interface.params:
        table.add_row("param", param.name, param.describe())
    render.print_table(table)


def print_diff(found: VersionDiff) -> None:
    render.out.print(Text(f"{found.name} v{found.a} → v{found.b}", style="bold"))
    print_interface_diff(found.interface, f"v{found.a}")
    if found.same_files:
        render.out.print(Text(f"files: the same ({found.files.same})"))
    else:
        _print_keyed("files", found.files, short=True)
    if found.tags.empty:
        render.out.print(Text("tags: the same"))
    else:
        _print_keyed("tags", found.tags, short=False)
    if found.description is None:
        render.out.print(Text("description: the same"))
    else:
        render.out.print(Text(f"description: {found.description[0]!r} → "
                              f"{found.description[1]!r}"))


def print_interface_diff(changes: InterfaceDiff, live: str) -> None:
    if not changes.known:
        render.out.print(Text(f"interface: not compared ({changes.note})"))
        return
    if not changes.changes:
        render.out.print(Text("interface: the same"))
        return
    verdict = (Text("compatible", style="green") if changes.compatible
               else Text("BREAKING", style="bold red"))
    render.out.print(Text.assemble("interface: ", verdict, f" with {live}"))
    for change in changes.changes:
        render.out.print(Text(f"  {'!' if change.breaking else ' '} {change.describe()}",
                              style="red" if change.breaking else ""))


def _print_keyed(title: str, changes: KeyedDiff, *, short: bool) -> None:
    def value(text: str) -> str:
        return text[:12] + "…" if short and len(text) > 12 else text

    render.out.print(Text(f"{title}: {len(changes.added)} added, {len(changes.removed)} "
                          f"removed, {len(changes.changed)} changed, {changes.same} the same"))
    for key, after in changes.added.items():
        render.out.print(Text(f"  + {key} {value(after)}"))
    for key, before in changes.removed.items():
        render.out.print(Text(f"  - {key} {value(before)}"))
    for change in changes.changed:
        render.out.print(Text(f"  ~ {change.key} {value(change.before)} → "
                              f"{value(change.after)}"))
