"""``charter backup`` and ``charter restore``: exact copies of an embedded registry
(charter/backups.py; docs/operations.md#backups)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from charter.cli import render
from charter.cli.state import state
from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput

if TYPE_CHECKING:
    from charter.config import Settings

Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _settings(ctx: typer.Context, what: str) -> Settings:
    current = state(ctx)
    if current.is_remote:
        raise InvalidInput(codes.CLI_REMOTE_UNSUPPORTED, f"{what} copies a registry's files, "
                           "not a server's answers", "run it where the registry's database and "
                           "blobs are, with --home or --registry sqlite:///…")
    from charter.config import Settings

    return Settings.load(current.settings_overrides())


def _say(line: str) -> None:
    render.err.print(Text(line), soft_wrap=True)


def backup(
    ctx: typer.Context,
    dest: Annotated[Path, typer.Argument(help="A new (or empty) folder for the copy.")],
    as_json: Json = False,
) -> None:
    """Copy an embedded registry, online: its database (SQLite's backup API) as of one
    moment, the blobs its versions hold, and its audit chain verified. Servers may keep
    serving and writing while it runs; progress goes to stderr.

    PostgreSQL and S3: use pg_dump and bucket versioning (docs/operations.md#backups).

    Example: charter backup /backups/charter-$(date +%F)
    """
    from charter.backups import take_backup

    report = take_backup(_settings(ctx, "backup"), dest, _say)
    if as_json:
        render.print_json(report.to_dict())
        return
    render.out.print(Text(f"Backed up event #{report.seq} and {report.blobs} blobs "
                          f"({report.bytes / 1e6:.1f} MB) to {report.folder} in "
                          f"{report.seconds:.1f} s"), soft_wrap=True)


def restore(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="A folder `charter backup` wrote.")],
    force: Annotated[bool, typer.Option(
        "--force", help="Replace a registry that already holds events (stop its servers "
        "first).")] = False,
    as_json: Json = False,
) -> None:
    """Restore a backup into this embedded registry (--home / --registry). Refused when
    the backup's audit chain does not verify or a blob does not match its digest, and
    when the registry already holds events, unless --force.

    Example: charter --home /srv/charter restore /backups/charter-2026-12-06
    """
    from charter.backups import restore_backup

    report = restore_backup(_settings(ctx, "restore"), source, _say, force=force)
    if as_json:
        render.print_json(report.to_dict())
        return
    render.out.print(Text(f"Restored event #{report.seq} and {report.blobs} blobs "
                          f"({report.bytes / 1e6:.1f} MB) into {report.folder}; the audit "
                          "chain verifies"), soft_wrap=True)
