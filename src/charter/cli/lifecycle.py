"""Commands that create versions and move them through stages: parse, call, render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from charter.cli import render
from charter.cli.governance import print_gate_report
from charter.cli.interfaces import print_interface_diff, read_interface_file
from charter.cli.parse import parse_expected_production, parse_pairs
from charter.cli.progress import byte_progress, size_of
from charter.cli.state import registry
from charter.domain import error_codes as codes
from charter.domain.compatibility import InterfaceDiff
from charter.domain.errors import Conflict
from charter.domain.gate_report import GateReport
from charter.domain.records import EventRecord, VersionRecord
from charter.registry import Registry

Name = Annotated[str, typer.Argument(help="The model's name, e.g. fraud_detector.")]
Version = Annotated[str, typer.Argument(help="The version number, e.g. 3 or v3.")]
Json = Annotated[bool, typer.Option("--json", help="Print the record as JSON.")]
RequiredReason = Annotated[str, typer.Option(
    "--reason", help="Why; recorded in the audit log.", show_default=False)]
ToStage = Annotated[str, typer.Option(
    "--to", help="Target stage: Staging, Production or Archived.", show_default=False)]
ArchiveExisting = Annotated[bool, typer.Option(
    "--archive-existing", help="Archive the current Production version in the same step.")]
OverrideGates = Annotated[bool, typer.Option(
    "--override-gates", help="Move past failing gates (owners and admins; needs --reason; "
    "audited as an override).")]
AcceptBreaking = Annotated[str, typer.Option(
    "--accept-breaking", metavar="REASON",
    help="Move a version that breaks the interface of the version in Production (owners; "
         "audited with REASON).", show_default=False)]
Force = Annotated[bool, typer.Option(
    "--force", help="Archive or delete a version live consumers still serve (owners and "
    "admins; audited with the consumers named). See `charter consumers NAME`.")]
ExpectProduction = Annotated[str | None, typer.Option(
    "--expect-production", metavar="N|none",
    help="Refuse unless Production is still version N (or empty, with 'none').")]


def register(
    ctx: typer.Context,
    name: Name,
    location: Annotated[str, typer.Argument(
        metavar="PATH|URI", help="A local file or folder to upload, or a source URI.")],
    run_id: Annotated[str, typer.Option("--run-id", help="The training run's id.")] = "",
    description: Annotated[str, typer.Option(help="What this version is.")] = "",
    tag: Annotated[list[str] | None, typer.Option(
        "--tag", metavar="KEY=VALUE", help="A version tag; repeat for more.")] = None,
    reason: Annotated[str, typer.Option(help="Why; recorded in the audit log.")] = "",
    signature: Annotated[Path | None, typer.Option(
        "--signature", metavar="FILE", exists=True, dir_okay=False,
        help="An OpenSSF model-signing bundle (model_signing sign … --signature FILE) that "
             "must cover exactly the files registered; left out of the upload.")] = None,
    signer_key: Annotated[Path | None, typer.Option(
        "--signer-key", metavar="FILE", exists=True, dir_okay=False,
        help="The signer's public key (PEM), when the registry does not know it yet.")]
    = None,
    interface: Annotated[Path | None, typer.Option(
        "--interface", metavar="FILE", exists=True, dir_okay=False,
        help="The version's inputs, outputs and params: an MLmodel, or JSON (MLflow's "
             "signature or Charter's form). Uploaded files' MLmodel declares it otherwise.")]
    = None,
    model_id: Annotated[str, typer.Option(
        "--model-id", help="The MLflow 3 logged model (m-…) it came from.")] = "",
    as_json: Json = False,
) -> None:
    """Register the next version of a model from local files or a source URI.

    A PATH that exists is uploaded into Charter's blob store; anything else is its source.
    With --signature the server verifies the signature against the files before the
    version exists (docs/provenance.md).

    Example: charter register fraud_detector ./model --tag algorithm=xgboost
    """
    tags = parse_pairs(tag or [], "--tag")
    options: dict[str, Any] = {"run_id": run_id, "description": description, "tags": tags,
                               "reason": reason}
    if signature is not None:
        options.update(signature=signature, signer_key=signer_key)
    if interface is not None:
        options["interface"] = read_interface_file(interface)
    if model_id:
        options["model_id"] = model_id
    record = _register(registry(ctx), name, location, options)
    if as_json:
        render.print_json(record.to_dict())
        return
    render.out.print(Text.assemble("Registered ", (f"{record.name} v{record.version}", "bold"),
                                   f" as {record.uri} (stage ", render.stage_text(record.stage),
                                   ")", f", signed by {record.signer}" if record.signer else ""))
    if record.status == "PENDING_REGISTRATION":
        render.err.print(Text.assemble(("held", "bold yellow"), f": {record.name} does not "
                                       f"allow {record.signer} yet; an owner decides with "
                                       f"`charter hold release {record.name} "
                                       f"{record.version} --reason …`"))


def _register(reg: Registry, name: str, location: str, options: dict[str, Any]
              ) -> VersionRecord:
    path = Path(location)
    if not path.exists():
        return reg.register(name, location, **options)
    with byte_progress(f"Uploading {path.name}", size_of(path)) as advance:
        return reg.register(name, path=path, progress=advance, **options)


def promote(ctx: typer.Context, name: Name, version: Version, to: ToStage,
            reason: RequiredReason, archive_existing: ArchiveExisting = False,
            expect_production: ExpectProduction = None,
            override_gates: OverrideGates = False, accept_breaking: AcceptBreaking = ""
            ) -> None:
    """Move a version to another stage, along an allowed edge of the lifecycle.

    Allowed: None → Staging, Staging → Production or Archived, Production → Staging or Archived.

    Example: charter promote fraud_detector 3 --to Production --reason "beat v2 on AUC"
    """
    _move(ctx, name, version, to, reason, archive_existing, expect_production, override_gates,
          accept_breaking)


def transition(ctx: typer.Context, name: Name, version: Version, to: ToStage,
               reason: RequiredReason, archive_existing: ArchiveExisting = False,
               expect_production: ExpectProduction = None,
               override_gates: OverrideGates = False, accept_breaking: AcceptBreaking = ""
               ) -> None:
    """Move a version to another stage (the same command as promote).

    Example: charter transition fraud_detector 4 --to Staging --reason "passed validation"
    """
    _move(ctx, name, version, to, reason, archive_existing, expect_production, override_gates,
          accept_breaking)


def _move(ctx: typer.Context, name: str, version: str, to: str, reason: str,
          archive_existing: bool, expect_production: str | None,
          override_gates: bool = False, accept_breaking: str = "") -> None:
    options: dict[str, Any] = {"archive_existing": archive_existing, "reason": reason}
    if accept_breaking:
        options["accept_breaking"] = accept_breaking
    if expect_production is not None:  # absent means "no precondition", not "empty"
        options["expect_production"] = parse_expected_production(expect_production)
    if override_gates:
        options["override_gates"] = True
    reg = registry(ctx)
    try:
        record = reg.transition(name, version, to, **options)
    except Conflict as error:
        if error.code in (codes.GATE_FAILED, codes.GATE_INTERFACE_BREAKING):
            print_gate_report(GateReport.from_dict(error.details["report"]))  # as `check`
        if error.code == codes.GATE_INTERFACE_BREAKING:
            print_interface_diff(InterfaceDiff.from_dict(error.details["diff"]),
                                 f"v{error.details['production']}")
        raise _in_cli_terms(error) from None
    _print_moved(reg, record)


def _in_cli_terms(error: Conflict) -> Conflict:
    """The registry's hint names the API parameter; here the user needs the flag."""
    if error.code != codes.STAGE_PRODUCTION_TAKEN:
        return error
    production = error.details.get("production")
    hint = (f"add --archive-existing to archive v{production} in the same step, "
            f"or roll back with `charter rollback`")
    return Conflict(error.code, error.message, hint, error.details)


def archive(ctx: typer.Context, name: Name, version: Version, reason: RequiredReason,
            force: Force = False) -> None:
    """Archive a version (reject a Staging candidate, or deprecate Production).

    Refused while a live consumer still serves the version (the error names them);
    an owner may --force it.

    Example: charter archive fraud_detector 2 --reason "superseded by v3"
    """
    reg = registry(ctx)
    _print_moved(reg, reg.archive(name, version, reason=reason, force=force))


def rollback(ctx: typer.Context, name: Name, reason: RequiredReason) -> None:
    """Put the previous Production version back; the current one returns to Staging.

    Example: charter rollback fraud_detector --reason "v3 raised false positives"
    """
    reg = registry(ctx)
    _print_moved(reg, reg.rollback(name, reason=reason))


def delete(
    ctx: typer.Context,
    name: Name,
    version: Annotated[str | None, typer.Argument(
        help="An Archived version to delete; omit to delete the whole model.")] = None,
    reason: RequiredReason = ...,  # type: ignore[assignment]
    force: Force = False,
) -> None:
    """Delete an Archived version, or a whole model with no live versions.

    Version numbers are never reused: registering the name again continues the count.
    A version (or model) a live consumer still serves is refused unless an owner uses --force.

    Example: charter delete fraud_detector 1 --reason "trained on leaked labels"
    """
    reg = registry(ctx)
    if version is None:
        reg.delete_model(name, reason=reason, force=force)
        render.out.print(Text.assemble("Deleted model ", (name, "bold")))
        return
    reg.delete_version(name, version, reason=reason, force=force)
    render.out.print(Text.assemble("Deleted ", (f"{name} v{version.lstrip('vV')}", "bold")))


def _print_moved(reg: Registry, record: VersionRecord) -> None:
    moves = last_moves(reg, record)
    if moves:
        render.print_moves(record.name, moves)
    else:
        render.out.print(Text.assemble(f"{record.name} ", (f"v{record.version}", "bold"),
                                       ": now ", render.stage_text(record.stage)))


def last_moves(reg: Registry, record: VersionRecord) -> list[EventRecord]:
    """The stage moves of the write that produced ``record`` (one correlation id).

    Read back from the history because a promotion with --archive-existing or a
    rollback moves two versions and returns only one. If another write landed in
    between, the caller falls back to printing the record alone.
    """
    events = reg.history(record.name, limit=4)
    if not events or (events[-1].version, events[-1].to_stage) != (record.version, record.stage):
        return []
    correlation = events[-1].correlation_id
    return [e for e in events if e.correlation_id == correlation and e.to_stage]
