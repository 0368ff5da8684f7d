"""``charter consumers …``: who serves which version of a model, and reporting it.

``charter consumers NAME`` shows a model's consumers (the same as
``charter consumers show NAME``); ``charter consumers report CONSUMER URI`` reports
what a deployment serves (docs/contracts.md "Consumers").
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text
from typer._click.core import Context as ClickContext  # the type parse_args is declared with
from typer.core import TyperGroup

from charter.cli import render
from charter.cli.state import registry
from charter.domain.consumers import CURRENT, LAGGING, ConsumerRecord, ConsumersView
from charter.domain.gates import describe_duration


class ShowByDefault(TyperGroup):
    """``charter consumers NAME`` means ``charter consumers show NAME``."""

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["show", *args]
        return super().parse_args(ctx, args)


consumers_app = typer.Typer(
    cls=ShowByDefault, no_args_is_help=True,
    help="Who serves which version of a model (named deployments), and who lags after a "
         "move. `charter consumers NAME` shows them; `charter consumers report` reports.")

Consumer = Annotated[str, typer.Argument(
    help="The deployment's name: 1-4 lowercase segments joined by '/', e.g. checkout-api/eu.")]
Json = Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")]
STATUS_STYLES = {CURRENT: "green", LAGGING: "bold yellow"}


@consumers_app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The model's name, e.g. fraud_detector.")],
    show_all: Annotated[bool, typer.Option(
        "--all", help="Also consumers not seen within [consumers] expire_after (stale).")]
    = False,
    as_json: Json = False,
) -> None:
    """Show who serves which version of NAME, and who lags after a move.

    Per consumer and URI: the version it serves, what the URI points at now, current or
    lagging, since when and when it was last seen. Per stage: who already serves its
    version and who lags. Consumers not seen within [consumers] expire_after are stale
    and hidden unless --all.

    Example: charter consumers fraud_detector
    """
    view = registry(ctx).consumers(name, include_stale=show_all)
    if as_json:
        render.print_json(view.to_dict())
        return
    print_view(view)


@consumers_app.command("report")
def report(
    ctx: typer.Context,
    consumer: Consumer,
    uri: Annotated[str, typer.Argument(
        help="The URI it resolves: models:/NAME/STAGE, models:/NAME@ALIAS, …")],
    version: Annotated[str | None, typer.Option(
        "--version", metavar="N",
        help="The version it serves, if not what URI points at now (it has not reloaded).")]
    = None,
    as_json: Json = False,
) -> None:
    """Report that CONSUMER serves URI (from a deploy script or a health check).

    Example: charter consumers report checkout-api/eu models:/fraud_detector/Production
    """
    number = version.lstrip("vV") if version is not None else None
    record = registry(ctx).report_consumer(consumer, uri, version=number)
    if as_json:
        render.print_json(record.to_dict())
        return
    render.out.print(Text.assemble(
        (record.consumer, "bold"), f" serves {record.model} ", (f"v{record.version}", "bold"),
        f" through {record.uri} (", _status(record), ")"), soft_wrap=True)


def print_view(view: ConsumersView) -> None:
    if not view.consumers:
        render.out.print(f"No live consumer of {view.model} (none reported within "
                         f"{describe_duration(view.expire_after)}).")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("consumer", "uri", "serves", "points at", "status", "since (UTC)",
                   "last seen (UTC)"):
        table.add_column(column, no_wrap=True)
    for record in view.consumers:
        table.add_row(Text(record.consumer), Text(record.uri), f"v{record.version}",
                      f"v{record.expected}" if record.expected is not None else "-",
                      _status(record), render.short_time(record.since),
                      render.short_time(record.last_seen))
    render.print_table(table)
    for stage in view.stages:
        render.out.print(_stage_line(view.model, stage.stage, stage.version,
                                     stage.current, stage.lagging), soft_wrap=True)


def _status(record: ConsumerRecord) -> Text:
    return Text(record.status, style=STATUS_STYLES.get(record.status, "dim"))


def _stage_line(model: str, stage: str, version: int | None, current: tuple[str, ...],
                lagging: tuple[str, ...]) -> Text:
    total = len(current) + len(lagging)
    head = Text.assemble(render.stage_text(stage), f" of {model}",
                         f" (v{version})" if version is not None else " (empty)", ": ")
    if not lagging:
        return Text.assemble(head, (f"converged, {render.plural(total, 'consumer')}", "green"))
    return Text.assemble(head, f"{len(current)} of {total} switched; lagging: ",
                         (", ".join(lagging), "bold yellow"))
