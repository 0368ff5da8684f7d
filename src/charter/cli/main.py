"""The ``charter`` Typer app: global options, the command list, the entry point.

Commands are plain functions in sibling modules, registered here so the whole
command surface reads in one place. The registry is built lazily, once per
invocation, from ``--registry``/``--home`` (see ``state.py``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from charter.cli import (
    access,
    admin,
    artifacts,
    audit,
    backup,
    consumers,
    edits,
    governance,
    interfaces,
    keys,
    lifecycle,
    provenance,
    reads,
    serve,
    transfer,
    webhooks,
)
from charter.cli.errors import FunnelGroup, check_arguments
from charter.cli.state import State

app = typer.Typer(
    cls=FunnelGroup,
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


_COMMANDS: list[Callable[..., Any]] = [
    lifecycle.register, lifecycle.promote, lifecycle.transition, lifecycle.rollback,
    lifecycle.archive, lifecycle.delete,
    reads.ls, reads.show, reads.history, reads.lint, reads.resolve, reads.pull,
    edits.tag, edits.alias, edits.rename, edits.describe, serve.serve, artifacts.gc,
    transfer.export, backup.backup, backup.restore,
]
_COMMANDS += [access.grant, access.revoke, access.grants]
_COMMANDS += [provenance.sign, provenance.signers, provenance.attest,
              provenance.attestations]
_COMMANDS += [governance.check, governance.request_approval, governance.approve,
              governance.reject, governance.approvals, governance.retention]
_COMMANDS += [interfaces.diff, interfaces.interface]
for _command in _COMMANDS:
    app.command()(_command)
app.add_typer(audit.audit_app, name="audit")
app.add_typer(consumers.consumers_app, name="consumers")
app.add_typer(admin.db_app, name="db")
app.add_typer(keys.key_app, name="key")
app.add_typer(provenance.hold_app, name="hold")
app.add_typer(access.user_app, name="user")
app.add_typer(access.token_app, name="token")
app.add_typer(transfer.import_app, name="import")
app.add_typer(webhooks.webhook_app, name="webhook")


def main() -> None:
    app(prog_name="charter")


if __name__ == "__main__":
    main()
