"""Access-control commands: users, tokens, grants (docs/access.md).

``charter user …`` works on the registry's database only (on the server's machine:
that is how the first admin is made, with no default credentials anywhere).
``charter token …`` and ``charter grant``/``revoke``/``grants`` work there too, and
against a server with your own token (``CHARTER_TOKEN``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from charter.cli import render
from charter.cli.state import registry, state
from charter.domain import error_codes as codes
from charter.domain.access import EVERY_MODEL, TokenRecord
from charter.domain.errors import InvalidInput

user_app = typer.Typer(help="Manage users and service accounts (on the server's machine).",
                       no_args_is_help=True)
token_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")]
Reason = Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log).")]
Model = Annotated[str, typer.Argument(
    metavar="NAME", help="A model, or '*' for every model (admins only).")]
User = Annotated[str, typer.Argument(help="The user or service account.")]


@user_app.command("create")
def create_user(
    ctx: typer.Context,
    name: User,
    admin: Annotated[bool, typer.Option("--admin", help="May do everything.")] = False,
    service_account: Annotated[bool, typer.Option(
        "--service-account", help="An account for automation (CI, deploy jobs).")] = False,
    as_json: Json = False,
) -> None:
    """Create a user; run it on the server's machine (this is how the first admin is made).

    Example: charter user create alice --admin
    """
    _refuse_remote(ctx, "user create")
    record = state(ctx).embedded().create_user(name, admin=admin, service_account=service_account)
    if as_json:
        render.print_json(record.to_dict())
        return
    kind = "admin" if admin else ("service account" if service_account else "user")
    render.out.print(Text(f"Created {kind} {record.name}"))
    render.err.print(Text(f"hint: give it a token with `charter token create --user "
                          f"{record.name}`"))


@user_app.command("list")
def list_users(ctx: typer.Context, as_json: Json = False) -> None:
    """List users and service accounts.

    Example: charter user list
    """
    _refuse_remote(ctx, "user list")
    users = state(ctx).embedded().list_users()
    if as_json:
        render.print_json([u.to_dict() for u in users])
        return
    table = Table(box=None, header_style="bold")
    for column in ("user", "kind", "created"):
        table.add_column(column)
    for user in users:
        kind = "admin" if user.admin else ("service account" if user.service_account
                                           else "user")
        table.add_row(user.name, kind, render.short_time(user.created_at))
    render.print_table(table)


@token_app.command("create")
def create_token(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option(
        "--user", help="Whose token (an admin's choice; yourself against a server).")] = None,
    expires: Annotated[str | None, typer.Option(
        "--expires", metavar="DURATION", help="Lifetime: 90m, 12h, 30d, 2w (default: never).")]
    = None,
    note: Annotated[str, typer.Option("--note", help="What the token is for.")] = "",
    as_json: Json = False,
) -> None:
    """Create a token. It is printed once, alone on stdout; only its hash is kept.

    Example: charter token create --user ci-bot --expires 30d --note "deploy job"
    """
    issued = registry(ctx).create_token(user, expires=expires, note=note)
    if as_json:
        render.print_json(issued.to_dict())
        return
    record = issued.record
    until = f"expires {render.short_time(record.expires_at)}" if record.expires_at \
        else "never expires"
    render.err.print(Text(f"Token {record.id} for {record.user} ({until}); it is shown "
                          "only now:"))
    typer.echo(issued.secret)


@token_app.command("list")
def list_tokens(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option(
        "--user", help="Whose tokens (admins); yours by default, everyone's on the server's "
                       "machine.")] = None,
    as_json: Json = False,
) -> None:
    """List tokens: id, owner, first characters, expiry, last use and status.

    Example: charter token list
    """
    tokens = registry(ctx).list_tokens(user)
    if as_json:
        render.print_json([t.to_dict() for t in tokens])
        return
    render.print_table(_token_table(tokens))


@token_app.command("revoke")
def revoke_token(ctx: typer.Context, token_id: Annotated[str, typer.Argument(
        metavar="ID", help="The token's id, as `charter token list` shows it.")]) -> None:
    """Revoke a token at once (its web sessions end with it).

    Example: charter token revoke 7
    """
    record = registry(ctx).revoke_token(token_id)
    render.out.print(Text(f"Revoked token {record.id} ({record.prefix}…) of {record.user}"))


def grant(
    ctx: typer.Context,
    name: Model,
    user: User,
    role: Annotated[str, typer.Argument(
        help="reader, contributor, maintainer or owner.")],
    reason: Reason = "",
) -> None:
    """Give a user a role on a model ('*': on every model); an audit event.

    Example: charter grant fraud_detector alice maintainer --reason "release owner for Q3"
    """
    record = registry(ctx).grant(name, user, role, reason=reason)
    where = "every model" if record.model == EVERY_MODEL else record.model
    render.out.print(Text(f"{record.user} is now {record.role} on {where}"))


def revoke(ctx: typer.Context, name: Model, user: User, reason: Reason = "") -> None:
    """Take a user's role on a model ('*': its registry-wide role) away; an audit event.

    Example: charter revoke fraud_detector alice --reason "moved teams"
    """
    registry(ctx).revoke(name, user, reason=reason)
    where = "every model" if name == EVERY_MODEL else name
    render.out.print(Text(f"{user} has no role on {where} any more"))


def grants(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(
        metavar="[NAME]", help="A model; '*' (the default) lists registry-wide roles.")]
    = EVERY_MODEL,
    as_json: Json = False,
) -> None:
    """List who holds which role on a model, or on every model.

    Example: charter grants fraud_detector
    """
    found = registry(ctx).list_grants(name)
    if as_json:
        render.print_json([g.to_dict() for g in found])
        return
    if not found:
        render.out.print(Text("No grants" + ("" if name == EVERY_MODEL else f" on {name}")))
        return
    table = Table(box=None, header_style="bold")
    for column in ("model", "user", "role", "since"):
        table.add_column(column)
    for item in found:
        table.add_row(item.model, item.user, item.role, render.short_time(item.created_at))
    render.print_table(table)


def _token_table(tokens: list[TokenRecord]) -> Table:
    now = datetime.now(UTC)
    table = Table(box=None, header_style="bold")
    for column in ("id", "user", "token", "status", "expires", "last used", "note"):
        table.add_column(column)
    for token in tokens:
        table.add_row(str(token.id), token.user, token.prefix + "…", token.status(now),
                      render.short_time(token.expires_at) if token.expires_at else "never",
                      render.short_time(token.last_used_at) if token.last_used_at else "—",
                      token.note)
    return table


def _refuse_remote(ctx: typer.Context, command: str) -> None:
    if state(ctx).is_remote:
        raise InvalidInput(
            codes.CLI_REMOTE_UNSUPPORTED, f"{command} runs on the registry's database, not "
            "through a server", "run it on the server's machine, e.g. "
            "`charter --home /srv/charter user create alice --admin`")
