"""Administrative commands: prove the audit chain, bring the database schema up to date."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from charter.cli import render
from charter.cli.state import state
from charter.domain import error_codes as codes
from charter.domain.errors import IntegrityFailure, InvalidInput

audit_app = typer.Typer(help="Prove the audit log was not rewritten.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the registry's database.", no_args_is_help=True)


@audit_app.command("verify")
def verify(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Walk the audit hash chain; exit 7 naming the first altered event if it is broken.

    Example: charter audit verify
    """
    report = state(ctx).registry.verify_audit()
    if as_json:
        render.print_json(report.to_dict())
    if not report.ok:
        raise IntegrityFailure(
            codes.AUDIT_CHAIN_BROKEN,
            f"The audit chain is broken at event #{report.first_bad_seq}: {report.problem}",
            f"event #{report.first_bad_seq} or a later one was altered or removed; "
            "restore the events table from a backup and investigate who had database access",
            report.to_dict())
    if not as_json:
        render.out.print(Text.assemble(("OK", "bold green"), ": audit chain intact, ",
                                       render.plural(report.events_checked, "event"),
                                       " checked"))


@db_app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Apply the database migrations (safe to run again; a no-op when up to date).

    Example: charter --registry postgresql://charter@db/charter db upgrade
    """
    current = state(ctx)
    if current.is_remote:
        raise InvalidInput(
            codes.CLI_REMOTE_UNSUPPORTED, "db upgrade runs against a database, not a server",
            "run it where the database is reachable, e.g. "
            "charter --registry postgresql://USER@HOST/DB db upgrade")
    # Imported here: the store pulls in SQLAlchemy and Alembic, which `--help` should not pay for.
    from charter.config import Settings
    from charter.store.database import make_engine
    from charter.store.database import upgrade as apply_migrations

    settings = Settings.load(current.settings_overrides())
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    try:
        apply_migrations(engine)
    finally:
        engine.dispose()
    shown = engine.url.render_as_string(hide_password=True)
    render.out.print(Text(f"Database {shown} is at the latest schema"), soft_wrap=True)
