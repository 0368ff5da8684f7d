"""Gates, approvals and retention on the command line: check, request-approval, approve,
reject, approvals, retention."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from charter.cli import render
from charter.cli.state import registry
from charter.domain.approvals import ApprovalRecord
from charter.domain.gate_report import GateReport, gate_failed
from charter.domain.retention import RetentionReport

Name = Annotated[str, typer.Argument(help="The model's name, e.g. fraud_detector.")]
Version = Annotated[str, typer.Argument(help="The version number, e.g. 3 or v3.")]
ToStage = Annotated[str, typer.Option(
    "--to", help="Target stage: Staging, Production or Archived.", show_default=False)]
Comment = Annotated[str, typer.Option("--comment", help="Why; recorded in the audit log.")]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]

STATUS_STYLES = {"approved": "bold green", "pending": "yellow", "rejected": "bold red",
                 "stale": "dim", "delivered": "green", "dead": "bold red"}


def gate_table(report: GateReport) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold",
                  title=Text.assemble((f"{report.name} v{report.version}", "bold"), ": ",
                                      render.stage_text(report.from_stage), " → ",
                                      render.stage_text(report.to_stage)),
                  title_justify="left")
    for column in ("", "gate", "detail", "to fix"):
        table.add_column(column)
    for result in report.results:
        mark = Text("pass", style="green") if result.passed else Text("FAIL", style="bold red")
        table.add_row(mark, Text(result.name), Text(result.detail), Text(result.fix))
    return table


def print_gate_report(report: GateReport) -> None:
    if not report.results:
        render.out.print(Text(f"{report.name} v{report.version}: no gates guard moves to "
                              f"{report.to_stage}"))
        return
    render.print_table(gate_table(report))


def check(ctx: typer.Context, name: Name, version: Version, to: ToStage,
          as_json: Json = False) -> None:
    """Report every gate of a move, passed or failed and why; changes nothing.

    Exits 5 when a gate fails, so a pipeline can wait for green.

    Example: charter check fraud_detector 3 --to Production
    """
    report = registry(ctx).check_gates(name, version, to)
    if as_json:
        render.print_json(report.to_dict())
    else:
        print_gate_report(report)
    if not report.passed:
        raise gate_failed(report)


def _status(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def print_approval(record: ApprovalRecord) -> None:
    render.out.print(Text.assemble(
        f"#{record.id} ", (f"{record.name} v{record.version}", "bold"), ": ",
        render.stage_text(record.from_stage), " → ", render.stage_text(record.to_stage), "  ",
        _status(record.status),
        f"  ({len(record.approvers)} of {max(record.required, 1)} approval(s))"))


def request_approval(ctx: typer.Context, name: Name, version: Version, to: ToStage,
                     comment: Comment = "", as_json: Json = False) -> None:
    """Ask others to approve moving a version to a stage (four eyes).

    Example: charter request-approval fraud_detector 3 --to Production --comment "ready"
    """
    record = registry(ctx).request_approval(name, version, to, comment=comment)
    _show(record, as_json)


def approve(ctx: typer.Context, name: Name, version: Version, to: ToStage,
            comment: Comment = "", as_json: Json = False) -> None:
    """Approve a pending request; not your own, and (by default) not a version you registered.

    Example: charter approve fraud_detector 3 --to Production --comment "shadow metrics hold"
    """
    _show(registry(ctx).approve(name, version, to, comment=comment), as_json)


def reject(ctx: typer.Context, name: Name, version: Version, to: ToStage,
           comment: Annotated[str, typer.Option(
               "--comment", help="Why; required.", show_default=False)],
           as_json: Json = False) -> None:
    """Reject a pending request, saying why; a new request starts over.

    Example: charter reject fraud_detector 3 --to Production --comment "recall dropped"
    """
    _show(registry(ctx).reject(name, version, to, comment=comment), as_json)


def _show(record: ApprovalRecord, as_json: bool) -> None:
    if as_json:
        render.print_json(record.to_dict())
    else:
        print_approval(record)


def approvals(ctx: typer.Context, name: Name,
              version: Annotated[str | None, typer.Argument(help="Only this version.")] = None,
              as_json: Json = False) -> None:
    """List a model's approval requests, newest first, with every decision.

    Example: charter approvals fraud_detector
    """
    found = registry(ctx).list_approvals(name, version)
    if as_json:
        render.print_json([r.to_dict() for r in found])
        return
    if not found:
        render.out.print(Text(f"No approval requests for {name}"))
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("id", "version", "move", "status", "requested by", "decisions"):
        table.add_column(column)
    for record in found:
        decisions = "; ".join(f"{d.actor} {d.decision}s" + (f": {d.comment}" if d.comment else "")
                              for d in record.decisions)
        table.add_row(str(record.id), f"v{record.version}",
                      Text.assemble(render.stage_text(record.from_stage), " → ",
                                    render.stage_text(record.to_stage)),
                      _status(record.status), Text(record.requested_by),
                      Text(decisions or "-"))
    render.print_table(table)


def retention(ctx: typer.Context,
              apply: Annotated[bool, typer.Option(
                  "--apply", help="Purge; without it nothing changes (a dry run).")] = False,
              model: Annotated[str | None, typer.Option(
                  "--model", help="Only this model.")] = None,
              as_json: Json = False) -> None:
    """List (or, with --apply, purge) the Archived versions the retention policy lets go.

    Never the rollback target, an aliased version, or (unless the policy says so) a
    version that was in Production. Purged numbers are never reused; events stay.

    Example: charter retention --apply
    """
    report: Any = registry(ctx).retention(apply=apply, name=model)
    if as_json:
        render.print_json(report.to_dict())
        return
    print_retention(report)


def print_retention(report: RetentionReport) -> None:
    if not report.decisions:
        render.out.print(Text("No Archived versions to consider"))
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("model", "version", "archived", "", "why"):
        table.add_column(column)
    verb = "purged" if report.applied else "purge"
    for decision in report.decisions:
        table.add_row(Text(decision.name), f"v{decision.version}",
                      render.short_time(decision.archived_at) if decision.archived_at else "",
                      Text(verb, style="bold red") if decision.purge else Text("keep"),
                      Text(decision.reason))
    render.print_table(table)
    count = render.plural(len(report.purged), "version")
    if report.applied:
        render.out.print(Text(f"Purged {count}; removed "
                              f"{render.plural(report.blobs_removed, 'blob')}"))
    else:
        render.out.print(Text(f"Dry run: {count} would be purged; run with --apply to purge"))
