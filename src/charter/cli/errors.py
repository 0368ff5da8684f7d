"""The one funnel for errors: every refusal becomes one line on stderr and an exit code.

Commands never catch errors to print them; they let a ``CharterError`` rise to the
root command group, which reports it here. ``--traceback`` re-raises instead, for
whoever is debugging. Usage errors (a missing argument, a bad flag) stay Typer's,
exit code 2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer
from typer.core import TyperGroup

from charter.domain import error_codes as codes
from charter.domain.errors import CharterError, InvalidInput, outcome


def exit_code(error: CharterError) -> int:
    """The kind's exit code, from the error catalogue (documented in docs/cli.md)."""
    return outcome(error).exit_code


def report(error: CharterError) -> None:
    from rich.text import Text  # Rich only once there is an error to print

    from charter.cli.render import err

    line = Text.assemble(("error: ", "bold red"), error.message, (f" [{error.code}]", "dim"))
    err.print(line, soft_wrap=True)
    if error.hint:
        err.print(Text.assemble(("hint: ", "bold"), error.hint), soft_wrap=True)


def os_error(error: OSError) -> CharterError:
    """A file-system refusal (a full disk, a DEST that is a file) is not a bug to trace."""
    where = f": {error.filename}" if error.filename else ""
    return CharterError(codes.OS_ERROR, f"{error.strerror or error}{where}",
                        "check the path and its permissions")


def check_arguments(argv: list[str], env: Mapping[str, str]) -> None:
    """Arguments and CHARTER_* variables are decoded once, here: bytes that are not UTF-8
    (Python keeps them as lone surrogates) would fail deep in a store, with a traceback."""
    given = [(f"argument {index}", text) for index, text in enumerate(argv, 1)] + [
        (f"${name}", text) for name, text in env.items() if name.startswith("CHARTER_")]
    for where, text in given:
        bad = next((i for i, char in enumerate(text) if "\ud800" <= char <= "\udfff"), None)
        if bad is not None:
            raise InvalidInput(codes.ARGUMENT_INVALID_TEXT, f"{where} is not valid UTF-8 (at "
                               f"position {bad}: {ascii(text[:80])})", "pass text as UTF-8; "
                               "check the terminal's or the script's encoding",
                               {"where": where})


class FunnelGroup(TyperGroup):
    """The root command group; sub-groups run inside its ``invoke``, so one catch serves all."""

    # typer hands its groups a typer.Context; the base class names click's Context.
    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except CharterError as error:
            self._fail(ctx, error, error)
        except OSError as error:
            self._fail(ctx, error, os_error(error))

    @staticmethod
    def _fail(ctx: typer.Context, raised: Exception, error: CharterError) -> None:
        if getattr(ctx.obj, "traceback", False):
            raise raised
        report(error)
        raise typer.Exit(exit_code(error)) from None
