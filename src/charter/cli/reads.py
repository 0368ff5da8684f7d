"""Commands that read the registry: the tree, one record, history, lint, resolve, pull."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from charter.cli import render
from charter.cli.parse import PublicKey, parse_time, parse_version_number, split_target
from charter.cli.state import registry, state

if TYPE_CHECKING:  # `ls` imports nothing it does not print with (docs/cli.md, start-up)
    from charter.domain.records import ModelRecord
    from charter.registry import ModelLister

Json = Annotated[bool, typer.Option("--json", help="Print the record(s) as JSON.")]
Name = Annotated[str, typer.Argument(help="The model's name, e.g. fraud_detector.")]
Uri = Annotated[str, typer.Argument(
    help="models:/NAME/VERSION, models:/NAME/STAGE, models:/NAME@ALIAS or models:/NAME/latest.")]
ConsumerOption = Annotated[str | None, typer.Option(
    "--consumer", metavar="NAME",
    help="Report the answer as what this deployment serves, e.g. checkout-api/eu "
         "(see `charter consumers`).")]
TREE_LIMIT = 10  # versions shown per model before "… N more"


FIRST_PAGE = 25   # the first screen comes after one small read
PAGE = 200        # then the rest streams in pages of this many models


def ls(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="Only models whose name contains this.")]
    = "",
    tag: Annotated[str, typer.Option(
        "--tag", metavar="KEY[=VALUE]", help="Only models with this tag (e.g. team=fraud).")]
    = "",
    stage: Annotated[str, typer.Option(
        "--stage", help="Only models with a version in this stage (e.g. Production).")] = "",
    show_all: Annotated[bool, typer.Option("--all", help="Show every version.")] = False,
    limit: Annotated[int | None, typer.Option(
        "--limit", min=1, metavar="N",
        help="Stop after N models and print the --page-token that continues (on stderr).")]
    = None,
    page_token: Annotated[str, typer.Option(
        "--page-token", metavar="TOKEN", help="Continue a listing stopped by --limit.")] = "",
    as_json: Json = False,
) -> None:
    """List models by name as trees of versions, newest first, with stages and aliases.

    Models print as they are read, a page at a time, so the first screen comes at once
    however large the registry; --limit and --page-token page through it instead.

    Example: charter ls --tag team=fraud --stage Production --limit 20
    """
    pages = iter_pages(state(ctx).lister(), name_like=name, tag=tag, stage=stage, limit=limit,
                       page_token=page_token)
    stream = render.JsonArray() if as_json else render.TreeStream(
        None if show_all else TREE_LIMIT, filtered=bool(name or tag or stage or page_token))
    with stream:
        for models, next_token in pages:
            stream.add(models)
            if next_token:
                typer.echo(f"more: charter ls --page-token {next_token}", err=True)


def iter_pages(reg: ModelLister, *, name_like: str = "", tag: str = "", stage: str = "",
               limit: int | None = None, page_token: str = ""
               ) -> Iterator[tuple[list[ModelRecord], str]]:
    """Pages of models, a small first one, then up to ``limit`` models in all; each page
    with the token to continue from when the limit stopped the listing there ("" else)."""
    token, left = page_token, limit
    size = FIRST_PAGE
    while True:
        size = min(size, left) if left is not None else size
        page = reg.list_models(name_like=name_like, tag=tag, stage=stage, max_results=size,
                               page_token=token)
        token = page.next_token
        if left is not None:
            left -= len(page.items)
        stopped = bool(token) and left == 0
        yield page.items, token if stopped else ""
        if not token or stopped:
            return
        size = PAGE


def show(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(
        metavar="NAME[/VERSION]",
        help="A model (fraud_detector) or a version (fraud_detector/3).")],
    as_json: Json = False,
) -> None:
    """Show a model (tags, aliases, versions, redirects) or one version (source, files).

    Example: charter show fraud_detector/3
    """
    name, version = split_target(target)
    reg = registry(ctx)
    if version is None:
        model = reg.get_model(name)
        if as_json:
            render.print_json(model.to_dict())
        else:
            render.print_model(model)
        return
    found = reg.get_version(name, version)
    if as_json:
        render.print_json(found.to_dict())
    else:
        render.print_version(found)


def history(
    ctx: typer.Context,
    name: Name,
    version: Annotated[str | None, typer.Option(
        "--version", metavar="N", help="Only this version's events.")] = None,
    as_json: Json = False,
) -> None:
    """Show who changed what, when and why, oldest first (from the audit log).

    Example: charter history fraud_detector --version 3
    """
    number = parse_version_number(version, "--version") if version is not None else None
    events = registry(ctx).history(name, number)
    if as_json:
        render.print_json([e.to_dict() for e in events])
    else:
        render.print_table(render.history_table(events))


def lint(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(metavar="NAME...", help="Names to check.")],
    as_json: Json = False,
) -> None:
    """Check names against the naming policy; exit 1 when any name has findings.

    Example: charter lint fraud_detector_v2 marias_model
    """
    reg = registry(ctx)
    results = {name: reg.lint(name) for name in names}
    if as_json:
        render.print_json({name: [render.finding_fields(f) for f in findings]
                           for name, findings in results.items()})
    else:
        for name, findings in results.items():
            render.print_lint(name, findings)
    if any(results.values()):
        raise typer.Exit(1)


def resolve(
    ctx: typer.Context,
    uri: Uri,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", metavar="ISO-TIME",
        help="Answer for a past moment (UTC unless a zone is given).")] = None,
    proof: Annotated[bool, typer.Option(
        "--proof", help="With --as-of: fetch the events and the signed checkpoint that prove "
        "the answer, and check them here (exit 7 if they do not).")] = False,
    public_key: PublicKey = None,
    consumer: ConsumerOption = None,
    as_json: Json = False,
) -> None:
    """Show which version a models:/ URI points at: its stage, artifact and digest.

    Example: charter resolve models:/fraud_detector/Production --as-of 2024-03-01T00:00:00Z
    """
    when = parse_time(as_of) if as_of is not None else None
    if proof:
        if when is None:
            raise typer.BadParameter("--proof needs --as-of", param_hint="--proof")
        from charter.cli.audit import print_proof

        print_proof(registry(ctx).prove_resolution(uri, when), public_key, as_json)
        return
    resolution = registry(ctx).resolve(uri, as_of=when, consumer=consumer)
    if as_json:
        render.print_json(resolution.to_dict())
    else:
        render.print_resolution(resolution)


def pull(
    ctx: typer.Context,
    uri: Uri,
    dest: Annotated[Path, typer.Argument(help="The folder to write the files into.")],
    consumer: ConsumerOption = None,
) -> None:
    """Download a version's files into DEST, verifying every file's sha256.

    With --consumer, the version pulled is recorded as what that deployment serves.

    Example: charter pull models:/fraud_detector/Production ./model --consumer checkout-api/eu
    """
    from rich.text import Text

    from charter.cli.progress import byte_progress

    reg = registry(ctx)
    resolution = reg.resolve(uri, consumer=consumer)
    version = resolution.version
    total = sum(file.size for file in version.files)
    with byte_progress(f"Pulling {version.name} v{version.version}", total) as advance:
        # Pinned to the number just resolved, so a concurrent promotion cannot swap the
        # version between the size shown above and the bytes written.
        where = reg.download(version.uri, dest, progress=advance)
    render.print_warnings(resolution.warnings)
    render.out.print(Text.assemble(
        "Pulled ", (f"{version.name} v{version.version}", "bold"), " (",
        render.stage_text(version.stage),
        f") into {where}: {render.plural(len(version.files), 'file')}, "
        f"{render.human_size(total)}, sha256 verified"), soft_wrap=True)
