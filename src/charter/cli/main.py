"""The ``charter`` Typer app: global options, the command list, the entry point.

Commands are plain functions in sibling modules, listed here so the whole command
surface reads in one place. A command's module is imported only when that command
runs (or when help lists every command): ``charter ls`` must print its first screen
without importing what ``serve``, ``sign`` or ``import`` need. The registry is built
lazily, once per invocation, from ``--registry``/``--home`` (see ``state.py``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from charter.cli.errors import FunnelGroup, check_arguments
from charter.cli.lazy import LazyGroup
from charter.cli.state import State

# command name -> "module:function" (sibling modules of this one), in help order.
COMMANDS: dict[str, str] = {
    "register": "lifecycle:register", "promote": "lifecycle:promote",
    "transition": "lifecycle:transition", "rollback": "lifecycle:rollback",
    "archive": "lifecycle:archive", "delete": "lifecycle:delete",
    "ls": "reads:ls", "show": "reads:show", "history": "reads:history", "lint": "reads:lint",
    "resolve": "reads:resolve", "pull": "reads:pull",
    "tag": "edits:tag", "alias": "edits:alias", "rename": "edits:rename",
    "describe": "edits:describe", "serve": "serve:serve", "gc": "artifacts:gc",
    "export": "transfer:export", "backup": "backup:backup", "restore": "backup:restore",
    "grant": "access:grant", "revoke": "access:revoke", "grants": "access:grants",
    "sign": "provenance:sign", "signers": "provenance:signers",
    "attest": "provenance:attest", "attestations": "provenance:attestations",
    "check": "governance:check", "request-approval": "governance:request_approval",
    "approve": "governance:approve", "reject": "governance:reject",
    "approvals": "governance:approvals", "retention": "governance:retention",
    "diff": "interfaces:diff", "interface": "interfaces:interface",
}
# group name -> "module:Typer app"
GROUPS: dict[str, str] = {
    "audit": "audit:audit_app", "consumers": "consumers:consumers_app", "db": "admin:db_app",
    "key": "keys:key_app", "hold": "provenance:hold_app", "user": "access:user_app",
    "token": "access:token_app", "import": "transfer:import_app",
    "webhook": "webhooks:webhook_app",
}


class CharterGroup(FunnelGroup, LazyGroup):
    """The root group: errors funnelled (``errors.py``), commands imported on use."""

    lazy_commands = COMMANDS
    lazy_groups = GROUPS


app = typer.Typer(
    cls=CharterGroup,
    name="charter",
    help="Charter: a model registry in which names and stages are product contracts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold tokens or database URLs
)


@app.callback()
def options(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option(
        "--home", metavar="PATH",
        help="Data folder of the embedded registry (default: $CHARTER_HOME, "
             "else ~/.local/share/charter).")] = None,
    registry: Annotated[str | None, typer.Option(
        "--registry", metavar="URL", envvar="CHARTER_REGISTRY_URL",
        help="A server (http://…), a database URL (sqlite:///…, postgresql://…) or a folder.")]
    = None,
    traceback: Annotated[bool, typer.Option(
        "--traceback", help="Show the full traceback instead of one error line.")] = False,
) -> None:
    ctx.obj = State(home=home, registry_url=registry, traceback=traceback)
    check_arguments(sys.argv[1:], os.environ)


def main() -> None:
    app(prog_name="charter")


if __name__ == "__main__":
    main()
