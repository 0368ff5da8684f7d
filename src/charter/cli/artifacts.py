"""``charter gc``: collect blobs no version uses, abandoned uploads and partial writes."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.text import Text

from charter.cli import render
from charter.cli.state import state
from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput


def gc(
    ctx: typer.Context,
    apply: Annotated[bool, typer.Option(
        "--apply", help="Delete what was found (without it, only report: a dry run).")] = False,
    older_than: Annotated[float, typer.Option(
        "--older-than", metavar="HOURS", min=0.0,
        help="Grace period: only collect what was last written this long ago.")] = 24.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
    = False,
) -> None:
    """Remove blobs that no version references, and uploads abandoned for HOURS.

    A dry run unless --apply is given. Runs where the database and the blob store are
    reachable (not through a server).

    Example: charter gc --apply
    """
    current = state(ctx)
    if current.is_remote:
        raise InvalidInput(
            codes.CLI_REMOTE_UNSUPPORTED, "gc runs against the registry's database and blob "
            "store, not through a server",
            "run it on a machine with the server's settings, e.g. "
            "charter --registry postgresql://USER@HOST/DB gc")
    report = current.embedded().collect_garbage(apply=apply,
                                                grace=timedelta(hours=older_than))
    if as_json:
        render.print_json(report.to_dict())
        return
    verb = "Deleted" if apply else "Would delete"
    render.out.print(Text.assemble(
        (verb, "bold"), f" {render.plural(len(report.blobs), 'unreferenced blob')} "
        f"({render.human_size(report.size)}) and "
        f"{render.plural(len(report.uploads), 'expired upload session')}"
        + (f"; removed {render.plural(report.partials, 'partial write')}" if apply else "")
        + f"; kept {render.plural(report.kept, 'blob')}"), soft_wrap=True)
    if not apply and (report.blobs or report.uploads):
        render.out.print("Run again with --apply to delete them.")
