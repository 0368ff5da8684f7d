"""``charter audit …``: prove the audit log was not rewritten, with signed checkpoints;
and the proof printed by ``charter resolve --as-of T --proof`` (docs/provenance.md)."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from charter.cli import render
from charter.cli.parse import PublicKey
from charter.cli.state import state
from charter.domain import error_codes as codes
from charter.domain.checkpoints import SignedCheckpoint
from charter.domain.errors import IntegrityFailure
from charter.domain.proofs import AsOfProof
from charter.domain.records import AuditReport

audit_app = typer.Typer(help="Prove the audit log was not rewritten.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]


def _trusted(public_key: str | None) -> list[str]:
    if public_key is None:
        return []
    from charter.signing.keys import trusted_key_id

    text = public_key
    if os.path.isfile(public_key):
        with open(public_key) as file:
            text = file.read()
    return [trusted_key_id(text)]


@audit_app.command("verify")
def verify(
    ctx: typer.Context,
    checkpoint: Annotated[str | None, typer.Option(
        "--checkpoint", metavar="FILE|URL", help="A signed checkpoint saved elsewhere (a "
        "file, a webhook receiver's copy, or a URL): the log up to it must be the one "
        "signed.")] = None,
    public_key: PublicKey = None,
    full: Annotated[bool, typer.Option(
        "--full", help="Recompute every event from the first, not only those after the "
        "point the last verify proved.")] = False,
    as_json: Json = False,
) -> None:
    """Walk the audit hash chain and its signed checkpoints; exit 7 naming the first
    altered event, or the checkpoint a rewritten log no longer matches.

    The registry remembers the point the last verify proved (its seq and hash). A verify
    first checks that the event there still hashes to it, then recomputes only the
    newer events: seconds become milliseconds on a long log. An event rewritten *before*
    that point is caught by --full (and by signed checkpoints), not by a plain verify.
    --checkpoint and --public-key imply --full.

    Against a server, with --checkpoint, the events are fetched and every hash is
    recomputed here: the verdict does not rest on the server's word.

    Example: charter audit verify --full
    """
    from charter.client.provenance import read_checkpoint

    saved = (read_checkpoint(checkpoint, token=os.environ.get("CHARTER_TOKEN"))
             if checkpoint is not None else None)
    report = state(ctx).registry.verify_audit(checkpoint=saved, full=full,
                                              trusted_keys=_trusted(public_key))
    if as_json:
        render.print_json(report.to_dict())
    for warning in report.warnings:
        render.err.print(Text.assemble(("warning", "bold yellow"), f": {warning}"))
    if not report.ok:
        raise IntegrityFailure(
            codes.AUDIT_CHAIN_BROKEN,
            f"The audit log is not the one recorded, at event #{report.first_bad_seq}: "
            f"{report.problem}",
            f"event #{report.first_bad_seq} or a later one was altered or removed; "
            "restore the events table from a backup and investigate who had database access",
            report.to_dict())
    if not as_json:
        _print_ok(report)


def _print_ok(report: AuditReport) -> None:
    proved = (f", {render.plural(len(report.checkpoints), 'signed checkpoint')} hold up to "
              f"#{report.proved_through}" if report.checkpoints else "")
    since = (f" (#{report.verified_from} and before proved at {report.verified_at}; "
             f"{render.plural(report.walked, 'new event')} checked now; --full rechecks all)"
             if report.verified_from else "")
    render.out.print(Text.assemble(("OK", "bold green"), ": audit chain intact, ",
                                   render.plural(report.events_checked, "event"),
                                   f" checked{proved}{since}"))


@audit_app.command("checkpoint")
def checkpoint(ctx: typer.Context, as_json: Json = False) -> None:
    """Sign the chain head now (admins), e.g. before proving an answer for a recent moment.

    Example: charter audit checkpoint --json > checkpoint.json
    """
    _print_checkpoints([state(ctx).registry.sign_checkpoint()], as_json, single=True)


@audit_app.command("checkpoints")
def checkpoints(
    ctx: typer.Context,
    after: Annotated[int, typer.Option("--after", metavar="SEQ",
                                       help="Only those recorded after this event.")] = 0,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 100,
    latest: Annotated[bool, typer.Option("--latest", help="Only the newest one.")] = False,
    as_json: Json = False,
) -> None:
    """List the signed checkpoints (each also a checkpoint_signed event).

    Example: charter audit checkpoints --latest --json > checkpoint.json
    """
    reg = state(ctx).registry
    found = [reg.latest_checkpoint()] if latest else reg.checkpoints(after=after, limit=limit)
    _print_checkpoints(found, as_json, single=latest)


def _print_checkpoints(found: list[SignedCheckpoint], as_json: bool, *, single: bool) -> None:
    if as_json:
        render.print_json(found[0].to_dict() if single else
                          {"checkpoints": [c.to_dict() for c in found]})
        return
    table = Table(box=None, pad_edge=False)
    for column in ("seq", "time", "hash", "key id"):
        table.add_column(column)
    for item in found:
        point = item.checkpoint
        table.add_row(str(point.seq), point.time, point.hash, item.key_id)
    if found:
        render.print_table(table)
    else:
        render.out.print("no checkpoints yet")


def print_proof(proof: AsOfProof, public_key: str | None, as_json: bool) -> None:
    """Check a proof here, print it, and exit 7 when it does not prove its answer."""
    from charter.signing.audit import prove_answer, trust_for

    trusted, warning = trust_for(proof.checkpoint, _trusted(public_key))
    problems = prove_answer(proof, trusted)
    if as_json:
        render.print_json({**proof.to_dict(), "verified": not problems, "problems": problems})
    else:
        _print_proof_text(proof)
    if warning:
        render.err.print(Text.assemble(("warning", "bold yellow"), f": {warning}"))
    if problems:
        raise IntegrityFailure(codes.PROOF_FAILED, f"The proof does not hold: {problems[0]}",
                               "the registry's log was changed since the checkpoint, or the "
                               "checkpoint is not signed by the key you trust",
                               {"problems": problems})
    if not as_json:
        render.out.print(Text.assemble(("proved", "bold green"), f": {len(proof.events)} "
                                       "event(s) hash to the checkpoint signed by key "
                                       f"{proof.checkpoint.key_id[:16]}…"))


def _print_proof_text(proof: AsOfProof) -> None:
    answer = f"v{proof.version}" if proof.version is not None else "nothing"
    render.out.print(Text.assemble((proof.uri, "bold"), f" at {proof.as_of} was ",
                                   (answer, "bold")))
    table = Table(title="the model's events up to then", title_justify="left", box=None,
                  pad_edge=False)
    for column in ("seq", "time", "actor", "action", "version", "to", "reason"):
        table.add_column(column)
    for fields in proof.model_events():
        table.add_row(str(fields["seq"]), fields["time"], Text(fields["actor"]),
                      fields["action"], str(fields["version"] or ""),
                      fields["to_stage"] or "", Text(fields["reason"]))
    render.print_table(table)
    point = proof.checkpoint.checkpoint
    render.out.print(f"checkpoint: #{point.seq} signed at {point.time}, hash {point.hash}, "
                     f"key {proof.checkpoint.key_id}")
