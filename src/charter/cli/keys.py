"""``charter key create``: the Ed25519 key that signs audit checkpoints.

The key is a file, never a database row: someone who can rewrite the database must
not be able to sign a checkpoint for the rewritten log (docs/provenance.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from charter.cli import render
from charter.cli.state import state

key_app = typer.Typer(help="Create the key that signs audit checkpoints.",
                      no_args_is_help=True)


@key_app.command("create")
def create(
    ctx: typer.Context,
    path: Annotated[Path | None, typer.Argument(
        metavar="PATH", help="Where to write the private key (default: the configured "
                             "[audit] checkpoint_key, else $CHARTER_HOME/checkpoint.key).")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the key id and public key "
                                                         "as JSON.")] = False,
) -> None:
    """Write a new Ed25519 private key (mode 0600) and its public half next to it (PATH.pub).

    The server signs checkpoints with it once [audit] checkpoint_key (or
    CHARTER_CHECKPOINT_KEY) names it; give the key id or PATH.pub to whoever verifies.
    An existing file is never overwritten.

    Example: charter key create /etc/charter/checkpoint.key
    """
    # Imported here: `--help` should not load the settings or the crypto library.
    from charter.config import Settings
    from charter.signing.keys import create_key

    settings = Settings.load(state(ctx).settings_overrides())
    target = path or settings.checkpoint_key or settings.home / "checkpoint.key"
    key = create_key(target)
    public = target.with_name(target.name + ".pub")
    public.write_text(key.public_pem())
    if as_json:
        render.print_json({"path": str(target), "public_key_path": str(public),
                           "key_id": key.key_id, "public_key": key.public_key})
        return
    render.out.print(Text.assemble(("Created", "bold green"), f" {target} (private, 0600) and "
                                   f"{public}\n", "key id  ", (key.key_id, "bold"), "\n",
                                   f"Sign checkpoints with it: [audit] checkpoint_key = "
                                   f"\"{target}\" (or CHARTER_CHECKPOINT_KEY={target})"))
