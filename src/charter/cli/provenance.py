"""Provenance commands: sign a version, who may sign a model, held versions,
attestations (docs/provenance.md). Checkpoints and proofs are in ``cli/audit.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from charter.cli import render
from charter.cli.lifecycle import Json, Name, RequiredReason, Version
from charter.cli.state import registry
from charter.domain.records import AttestationRecord, SignerRecord, VersionRecord

hold_app = typer.Typer(help="Decide on versions held for an unknown signer.",
                       no_args_is_help=True)

File = Annotated[Path, typer.Argument(exists=True, dir_okay=False, metavar="FILE")]
SignerKey = Annotated[Path | None, typer.Option(
    "--signer-key", metavar="FILE", exists=True, dir_okay=False,
    help="The signer's public key (PEM), when the registry does not know it yet.")]


def sign(ctx: typer.Context, name: Name, version: Version, signature: File,
         signer_key: SignerKey = None,
         reason: Annotated[str, typer.Option(help="Why; recorded in the audit log.")] = "",
         as_json: Json = False) -> None:
    """Attach an OpenSSF model-signing signature to a version registered unsigned (once).

    Example: charter sign fraud_detector 3 model.sig --signer-key signer.pub
    """
    record = registry(ctx).sign_version(name, version, signature, signer_key=signer_key,
                                        reason=reason)
    _print_version(record, as_json, "Signed")


def signers(
    ctx: typer.Context,
    name: Name,
    add: Annotated[list[str] | None, typer.Option(
        "--add", metavar="SIGNER|FILE", help="Allow a signer (key:sha256:…, certificate:…) "
        "or the public key in FILE (PEM); repeat for more.")] = None,
    remove: Annotated[list[str] | None, typer.Option(
        "--remove", metavar="SIGNER", help="Stop allowing a signer; repeat for more.")] = None,
    reason: Annotated[str, typer.Option(help="Why (required to change them).")] = "",
    as_json: Json = False,
) -> None:
    """List who may sign a model's versions, or change it (owners; audited).

    Example: charter signers fraud_detector --add bob.pub --reason "bob releases too"
    """
    reg = registry(ctx)
    if add or remove:
        found = reg.edit_signers(name, add=[_signer_or_key(a) for a in add or []],
                                 remove=remove or [], reason=reason)
    else:
        found = reg.signers(name)
    if as_json:
        render.print_json({"signers": [s.to_dict() for s in found]})
    else:
        _print_signers(name, found)


def _signer_or_key(text: str) -> str:
    path = Path(text)
    return path.read_text() if not text.startswith(("key:", "certificate:")) and \
        path.is_file() else text


def _print_signers(name: str, found: list[SignerRecord]) -> None:
    if not found:
        render.out.print(f"{name} allows any signer until its first signed version")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("signer", "key kept", "added by", "added"):
        table.add_column(column)
    for item in found:
        table.add_row(Text(item.signer), "yes" if item.public_key else "-",
                      Text(item.added_by), render.short_time(item.added_at))
    render.print_table(table)


@hold_app.command("release")
def release(ctx: typer.Context, name: Name, version: Version, reason: RequiredReason,
            as_json: Json = False) -> None:
    """Admit a held version's signer: it joins the allowed signers, the version is READY.

    Example: charter hold release fraud_detector 4 --reason "bob joined the release team"
    """
    _print_version(registry(ctx).release_hold(name, version, reason=reason), as_json,
                   "Released")


@hold_app.command("reject")
def reject(ctx: typer.Context, name: Name, version: Version, reason: RequiredReason,
           as_json: Json = False) -> None:
    """Refuse a held version's signer: the version stays FAILED_REGISTRATION.

    Example: charter hold reject fraud_detector 4 --reason "unknown key"
    """
    _print_version(registry(ctx).reject_hold(name, version, reason=reason), as_json,
                   "Rejected")


def _print_version(record: VersionRecord, as_json: bool, verb: str) -> None:
    if as_json:
        render.print_json(record.to_dict())
        return
    render.out.print(Text.assemble(f"{verb} ", (f"{record.name} v{record.version}", "bold"),
                                   f": {record.status}",
                                   f", signed by {record.signer}" if record.signer else ""))


def attest(ctx: typer.Context, name: Name, version: Version, document: File,
           signer_key: SignerKey = None, as_json: Json = False) -> None:
    """Attach an in-toto statement (bare or DSSE-signed) about the version's files.

    Example: charter attest fraud_detector 3 eval.json
    """
    found = registry(ctx).attest(name, version, document, signer_key=signer_key)
    if as_json:
        render.print_json(found.to_dict())
        return
    render.out.print(Text.assemble("Attached ", (found.predicate_type, "bold"), " to ",
                                   f"{found.name} v{found.version} ({found.sha256[:12]}…, ",
                                   f"signed by {found.signer})" if found.signer
                                   else "unsigned)"))


def attestations(
    ctx: typer.Context, name: Name, version: Version,
    save: Annotated[str | None, typer.Option(
        "--save", metavar="SHA256", help="Write that attestation (its sha256, or the start "
        "of it), as attached, to --to.")]
    = None,
    to: Annotated[Path | None, typer.Option("--to", metavar="FILE")] = None,
    as_json: Json = False,
) -> None:
    """List a version's attestations, or save one as it was attached.

    Example: charter attestations fraud_detector 3
    """
    reg = registry(ctx)
    found = reg.attestations(name, version)
    if save is not None:
        matches = [a.sha256 for a in found if a.sha256.startswith(save.lower())] or [save]
        target = to or Path(f"{matches[0][:12]}.intoto.json")
        target.write_bytes(reg.attestation_document(name, version, matches[0]))
        render.out.print(f"Saved {target}")
        return
    if as_json:
        render.print_json({"attestations": [a.to_dict() for a in found]})
    else:
        _print_attestations(found)


def _print_attestations(found: list[AttestationRecord]) -> None:
    table = Table(box=None, pad_edge=False)
    for column in ("sha256", "predicate type", "signer", "attached by", "at"):
        table.add_column(column)
    for item in found:
        table.add_row(item.sha256, Text(item.predicate_type),
                      Text(item.signer or "unsigned"), Text(item.created_by),
                      render.short_time(item.created_at))
    if found:
        render.print_table(table)
    else:
        render.out.print("no attestations")
