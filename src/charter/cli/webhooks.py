"""``charter webhook …``: subscriptions, the delivery log, test and manual deliveries."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from charter.cli import render
from charter.cli.governance import STATUS_STYLES
from charter.cli.state import registry
from charter.domain.webhooks import DeliveryRecord

webhook_app = typer.Typer(help="Send registry events to other systems (signed HTTP POSTs).",
                          no_args_is_help=True)

WebhookId = Annotated[str, typer.Argument(help="The webhook's id (see `charter webhook list`).")]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@webhook_app.command("add")
def add(ctx: typer.Context,
        url: Annotated[str, typer.Argument(help="Where to POST, http(s)://…")],
        secret: Annotated[str, typer.Option(
            "--secret", help="Signs every delivery (HMAC-SHA256); generated when omitted.")]
        = "",
        events: Annotated[str, typer.Option(
            "--events", metavar="ACTION,…",
            help="Only these actions, e.g. stage_changed,rolled_back; all when omitted.")] = "",
        description: Annotated[str, typer.Option(help="What the receiver is.")] = "",
        as_json: Json = False) -> None:
    """Subscribe a URL to registry events (admins only).

    Example: charter webhook add https://deploy.internal/hook --events stage_changed,rolled_back
    """
    record = registry(ctx).add_webhook(url, secret=secret, events_filter=events,
                                       description=description)
    if as_json:
        render.print_json(record.to_dict())
        return
    render.out.print(Text.assemble("Added webhook ", (f"#{record.id}", "bold"), f" → {record.url}",
                                   f" ({', '.join(record.events) or 'every event'})"))
    if record.secret:
        render.out.print(Text.assemble(("secret: ", "bold"), record.secret,
                                       (" (shown once; store it with the receiver)", "dim")))


@webhook_app.command("list")
def list_(ctx: typer.Context, as_json: Json = False) -> None:
    """List webhook subscriptions (secrets are shown masked).

    Example: charter webhook list
    """
    found = registry(ctx).list_webhooks()
    if as_json:
        render.print_json([w.to_dict() for w in found])
        return
    if not found:
        render.out.print(Text("No webhooks. Add one with: charter webhook add URL"))
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("id", "url", "events", "secret", "created by"):
        table.add_column(column)
    for hook in found:
        table.add_row(str(hook.id), Text(hook.url), Text(", ".join(hook.events) or "*"),
                      hook.secret_hint, Text(hook.created_by))
    render.print_table(table)


@webhook_app.command("rm")
def remove(ctx: typer.Context, webhook: WebhookId) -> None:
    """Remove a subscription, with its pending deliveries and its log.

    Example: charter webhook rm 3
    """
    registry(ctx).remove_webhook(webhook)
    render.out.print(Text(f"Removed webhook #{webhook.lstrip('#')}"))


@webhook_app.command("test")
def test(ctx: typer.Context, webhook: WebhookId, as_json: Json = False) -> None:
    """Send a signed ping now and show how the receiver answered; exits 1 if it failed.

    Example: charter webhook test 3
    """
    delivery = registry(ctx).test_webhook(webhook)
    if as_json:
        render.print_json(delivery.to_dict())
    else:
        render.print_table(deliveries_table([delivery]))
    if delivery.status != "delivered":
        raise typer.Exit(1)


@webhook_app.command("deliveries")
def deliveries(ctx: typer.Context,
               webhook: Annotated[str | None, typer.Argument(
                   help="Only this webhook's deliveries.")] = None,
               status: Annotated[str | None, typer.Option(
                   "--status", help="pending, delivered or dead.")] = None,
               limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
               as_json: Json = False) -> None:
    """The delivery log, newest first: status, attempts, the receiver's last answer.

    Example: charter webhook deliveries 3 --status dead
    """
    found = registry(ctx).webhook_deliveries(webhook, status=status, limit=limit)
    if as_json:
        render.print_json([d.to_dict() for d in found])
    elif not found:
        render.out.print(Text("No deliveries yet"))
    else:
        render.print_table(deliveries_table(found))


@webhook_app.command("redeliver")
def redeliver(ctx: typer.Context,
              delivery: Annotated[str, typer.Argument(help="A delivery id from the log.")]
              ) -> None:
    """Give a dead (or delivered) delivery a fresh round of attempts.

    Example: charter webhook redeliver 42
    """
    record = registry(ctx).redeliver(delivery)
    render.out.print(Text(f"Delivery #{record.id} is pending again"))


@webhook_app.command("deliver")
def deliver(ctx: typer.Context) -> None:
    """Deliver what is due now, from this machine (an embedded registry has no server to).

    Example: charter webhook deliver
    """
    count = registry(ctx).deliver_webhooks()
    render.out.print(Text(f"Attempted {count} deliver{'y' if count == 1 else 'ies'}"))


def deliveries_table(found: list[DeliveryRecord]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("id", "webhook", "event", "status", "attempts", "last answer", "created"):
        table.add_column(column)
    for item in found:
        event = f"{item.action} #{item.event_seq}" if item.event_seq else item.action
        answer = (str(item.last_status_code) if item.last_status_code else "") + \
            (f" {item.last_error}" if item.last_error and not item.last_status_code else "")
        table.add_row(str(item.id), f"#{item.webhook_id}", Text(event),
                      Text(item.status, style=STATUS_STYLES.get(item.status, "")),
                      str(item.attempts), Text(answer.strip() or "-"),
                      render.short_time(item.created_at))
    return table
