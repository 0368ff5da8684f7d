"""Administrative commands: bring the database schema up to date (the audit chain:
``cli/audit.py``)."""

from __future__ import annotations

import typer
from rich.text import Text

from charter.cli import render
from charter.cli.state import state
from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput

db_app = typer.Typer(help="Manage the registry's database.", no_args_is_help=True)


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
    from charter.store.engines import make_engine
    from charter.store.engines import upgrade as apply_migrations

    settings = Settings.load(current.settings_overrides())
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    try:
        apply_migrations(engine)
    finally:
        engine.dispose()
    shown = engine.url.render_as_string(hide_password=True)
    render.out.print(Text(f"Database {shown} is at the latest schema"), soft_wrap=True)
