"""A command group whose commands are imported when they run, not when ``charter`` starts.

Typer builds a command from its function's signature, so a function must be imported
before its command exists. Importing all of them at start-up costs every invocation
the imports of every command (the server stack, signing, MLflow import, Rich tables);
here a command is built on first lookup instead, from its "module:attribute" entry.
Help that lists every command still imports them all.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import typer
from typer._click.core import Context as ClickContext  # the type get_command is declared with
from typer.core import TyperGroup

PACKAGE = "charter.cli"


class LazyGroup(TyperGroup):
    """Commands named in ``lazy_commands`` (functions) and ``lazy_groups`` (Typer apps)."""

    lazy_commands: ClassVar[dict[str, str]] = {}
    lazy_groups: ClassVar[dict[str, str]] = {}

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        plain_text(self, ctx)  # the root's own options (--registry, --help)
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: ClickContext) -> list[str]:
        eager = [name for name in super().list_commands(ctx)
                 if name not in self.lazy_commands and name not in self.lazy_groups]
        return [*self.lazy_commands, *self.lazy_groups, *eager]

    def get_command(self, ctx: ClickContext, cmd_name: str) -> Any:
        if cmd_name not in self.commands:
            built = self._build(cmd_name, ctx)
            if built is not None:
                self.commands[cmd_name] = built
        return super().get_command(ctx, cmd_name)

    def _build(self, name: str, ctx: ClickContext | None) -> Any:
        if name in self.lazy_commands:
            app = typer.Typer(add_completion=False)
            app.command(name=name)(_load(self.lazy_commands[name]))
            command = typer.main.get_command(app)
        elif name in self.lazy_groups:
            command = typer.main.get_group(_load(self.lazy_groups[name]))
        else:
            return None
        command.name = name
        return plain_text(command, ctx)


def _load(where: str) -> Any:
    module, attribute = where.split(":")
    return getattr(importlib.import_module(f"{PACKAGE}.{module}"), attribute)


def plain_text(command: Any, ctx: ClickContext | None = None) -> Any:
    """Text options and arguments taken as typed, without Typer's Pydantic validation.

    Typer coerces each parameter through a Pydantic ``TypeAdapter`` it builds before
    looking at the value (even an absent one), and importing Pydantic costs more than
    the rest of ``charter ls``'s start. Here a parameter's coercion is built only for a
    value that needs it: none for an absent value (Typer's own rule), none for text
    given to a ``str`` parameter (the adapter would return it unchanged); anything else
    (a number with bounds, a path, a list) gets Typer's own. Should Typer's internals
    change shape, every parameter keeps Typer's coercion."""
    try:
        from typer._coercion import RuntimeParam, build_runtime_param
    except ImportError:
        return command

    class OnDemand(RuntimeParam):
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if isinstance(value, str) and self.annotation is str:
                return value
            built = build_runtime_param(param.type_descriptor)
            param._runtime_param = built
            return built._coerce_value(value, param, ctx)

    for sub in getattr(command, "commands", {}).values():
        plain_text(sub, ctx)
    help_option = command.get_help_option(ctx) if ctx is not None else None
    for param in [*command.params, *([help_option] if help_option else [])]:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", False) is not None:
            continue  # not a Typer parameter, or its coercion already built
        if (descriptor.parameter_info.parser is None and descriptor.file_annotation is None
                and not descriptor.is_choice):
            param._runtime_param = OnDemand(annotation=descriptor.annotation,
                                            parameter_info=descriptor.parameter_info)
    return command
