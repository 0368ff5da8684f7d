"""Rich output for the commands: the registry tree, record views, tables, JSON.

Everything user-supplied is printed as ``Text``, never as console markup, so a
reason or description containing ``[bold]`` shows as typed. Tables and progress
bars go to a terminal's width; ``--json`` output is plain and goes to stdout.

When stdout is not a terminal (a pipe, a file), nothing is cut to fit: lines are not
wrapped, and every table is printed as tab-separated rows (``print_table``) with
every value whole, so ``grep`` and scripts see what a person would, and more.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:  # rich.table on first use: the tree `charter ls` prints needs no table
    from rich.table import Table

    from charter.domain.records import (
        EventRecord,
        FileRecord,
        ModelRecord,
        Resolution,
        VersionRecord,
    )


def _console(*, stderr: bool = False) -> Console:
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console.soft_wrap = True  # a pipe or a file gets each line whole, never wrapped at 80
    return console


out = _console()
err = _console(stderr=True)

STAGE_STYLES = {"Production": "bold green", "Staging": "yellow", "None": "dim",
                "Archived": "grey50"}
ELLIPSIS = "…"


def print_table(table: Table) -> None:
    """A table on the terminal. Anywhere else every value whole: a table with a header
    as its title, header and rows in tab-separated lines (a tab or line break inside a
    value escaped as \\t, \\n); a record's fields (a grid) as aligned "label  value" lines."""
    if out.is_terminal:
        out.print(table)
        return
    rows = [[_plain(cell) for cell in row]
            for row in zip(*(list(column.cells) for column in table.columns), strict=True)]
    lines = [_plain(table.title)] if table.title else []
    if table.show_header:
        lines.append("\t".join(_plain(column.header) for column in table.columns))
        lines += ["\t".join(row) for row in rows]
    else:
        widths = [max(map(len, column), default=0) for column in zip(*rows, strict=True)]
        lines += [_aligned(row, widths) for row in rows]
    out.file.write("".join(line + "\n" for line in lines))


def _aligned(row: list[str], widths: list[int]) -> str:
    """Every cell but the last padded to its column, two spaces apart, as Rich's grid."""
    return "  ".join([*(cell.ljust(width) for cell, width in zip(row[:-1], widths,
                                                               strict=False)), row[-1]])


def _plain(cell: Any) -> str:
    text = cell.plain if isinstance(cell, Text) else (
        Text.from_markup(cell).plain if isinstance(cell, str) else str(cell))
    return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def print_json(data: Any) -> None:
    # Plain print, not Rich: JSON for scripts must carry no colour codes or wrapping.
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def stage_text(stage: str) -> Text:
    return Text(stage, style=STAGE_STYLES.get(stage, ""))


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def human_size(size: int) -> str:
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if value < 1000:
            return f"{value:.1f} {unit}"
    return f"{value / 1000:.1f} TB"


def short_time(record_time: Any) -> str:
    return record_time.strftime("%Y-%m-%d %H:%M:%S")


# --- the registry tree ---------------------------------------------------------------


def version_stages(model: ModelRecord) -> list[tuple[int, str]]:
    """(version, stage) pairs, newest first, from the model's stage map."""
    pairs = [(v, stage) for stage, versions in model.stages.items() for v in versions]
    return sorted(pairs, reverse=True)


def aliases_by_version(model: ModelRecord) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for alias, version in sorted(model.aliases.items()):
        found.setdefault(version, []).append(alias)
    return found


def version_line(branch: str, version: int, stage: str, aliases: Iterable[str]) -> Text:
    line = Text.assemble(branch, (f"v{version}", "bold"), ": ", stage_text(stage))
    for alias in aliases:
        line.append(f" @{alias}", style="cyan")
    return line


def tree_lines(model: ModelRecord, limit: int | None) -> list[Text]:
    """The seed's view: the model, then one branch per version, newest first."""
    lines = [Text.assemble((model.name, "bold"), f" ({plural(model.version_count, 'version')})")]
    versions = version_stages(model)
    shown = versions if limit is None else versions[:limit]
    hidden = len(versions) - len(shown)
    aliases = aliases_by_version(model)
    for index, (version, stage) in enumerate(shown):
        last = index == len(shown) - 1 and not hidden
        lines.append(version_line("└─ " if last else "├─ ", version, stage,
                                  aliases.get(version, [])))
    if hidden:
        lines.append(Text(f"└─ {ELLIPSIS} {hidden} more", style="dim"))
    return lines


class TreeStream:
    """Model trees printed as pages of them arrive, a blank line between two models."""

    def __init__(self, limit: int | None, *, filtered: bool = False) -> None:
        self.limit, self.filtered, self.count = limit, filtered, 0

    def __enter__(self) -> TreeStream:
        return self

    def add(self, models: list[ModelRecord]) -> None:
        lines: list[Text] = []
        for model in models:
            if self.count:
                lines.append(Text())
            lines += tree_lines(model, self.limit)
            self.count += 1
        if out.is_terminal:
            for line in lines:
                out.print(line, soft_wrap=True)
        elif lines:  # a pipe or a file gets the same text without Rich's cost per line
            out.file.write("\n".join(line.plain for line in lines) + "\n")
        out.file.flush()

    def __exit__(self, *exc: object) -> None:
        if not self.count and exc[0] is None:
            out.print("No models match." if self.filtered else
                      "No models yet. Register one with: charter register NAME PATH")


class JsonArray:
    """Records printed as one JSON array (as ``print_json`` would), element by element."""

    def __init__(self) -> None:
        self.count = 0

    def __enter__(self) -> JsonArray:
        return self

    def add(self, records: list[ModelRecord]) -> None:
        for record in records:
            text = json.dumps(record.to_dict(), indent=2, ensure_ascii=False, default=str)
            print(("[\n" if not self.count else ",\n") + textwrap.indent(text, "  "), end="")
            self.count += 1
        sys.stdout.flush()

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            print("\n]" if self.count else "[]")


# --- single records ---------------------------------------------------------------------


def _fields(rows: list[tuple[str, Text | str]]) -> Table:
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column()
    for label, value in rows:
        grid.add_row(label, value if isinstance(value, Text) else Text(value))
    return grid


def _pairs(mapping: dict[str, str]) -> Text:
    return Text(", ".join(f"{k}={v}" for k, v in sorted(mapping.items())) or "-")


def print_model(model: ModelRecord) -> None:
    out.print(Text.assemble((model.name, "bold"),
                            f" ({plural(model.version_count, 'version')})"))
    aliases = ", ".join(f"@{a} → v{v}" for a, v in sorted(model.aliases.items()))
    print_table(_fields([
        ("description", model.description or "-"),
        ("tags", _pairs(model.tags)),
        ("aliases", aliases or "-"),
        ("redirects", ", ".join(model.redirects) or "-"),
        ("updated", short_time(model.updated_at)),
    ]))
    versions = version_stages(model)
    by_version = aliases_by_version(model)
    for index, (version, stage) in enumerate(versions):
        branch = "└─ " if index == len(versions) - 1 else "├─ "
        out.print(version_line(branch, version, stage, by_version.get(version, [])))


def print_version(record: VersionRecord) -> None:
    out.print(Text.assemble((f"{record.name} v{record.version}", "bold"), ": ",
                            stage_text(record.stage)))
    print_table(_fields([
        ("uri", record.uri),
        ("source", record.source or "-"),
        ("run id", record.run_id or "-"),
        ("digest", record.digest or "-"),
        ("status", record.status),
        ("signed by", record.signer or "-"),
        ("description", record.description or "-"),
        ("tags", _pairs(record.tags)),
        ("aliases", " ".join(f"@{a}" for a in record.aliases) or "-"),
        ("registered", short_time(record.created_at)),
        ("stage since", short_time(record.stage_changed_at)),
    ]))
    if record.files:
        print_table(files_table(record.files))


def files_table(files: list[FileRecord]) -> Table:
    from rich.table import Table

    table = Table(title="files", title_justify="left", box=None, pad_edge=False)
    table.add_column("path")
    table.add_column("size", justify="right")
    table.add_column("sha256", style="dim")
    for file in files:
        shown = file.sha256[:16] + ELLIPSIS if out.is_terminal else file.sha256  # whole in a pipe
        table.add_row(Text(file.path), human_size(file.size), shown)
    return table


# --- events, findings, resolutions ------------------------------------------------------


def stage_move(event: EventRecord) -> Text:
    if not event.from_stage and not event.to_stage:
        return Text("")
    return Text.assemble(stage_text(event.from_stage or "-"), " → ",
                         stage_text(event.to_stage or "-"))


def history_table(events: list[EventRecord]) -> Table:
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("seq", "time (UTC)", "actor", "action", "version", "from → to"):
        table.add_column(column, no_wrap=True)
    table.add_column("reason")
    for event in events:
        table.add_row(str(event.seq), short_time(event.time), Text(event.actor), event.action,
                      f"v{event.version}" if event.version is not None else "",
                      stage_move(event), Text(event.reason))
    return table


def print_moves(name: str, moves: list[EventRecord]) -> None:
    for event in moves:
        out.print(Text.assemble(f"{name} ", (f"v{event.version}", "bold"), ": ",
                                stage_move(event)))


def finding_fields(finding: Any) -> dict[str, Any]:
    # A Finding from the embedded registry; a remote client may hand back plain dicts.
    if isinstance(finding, dict):
        return finding
    return finding.to_dict() if hasattr(finding, "to_dict") else dict(vars(finding))


def findings_table(name: str, findings: list[Any]) -> Table:
    from rich.table import Table

    table = Table(title=Text(name, style="bold"), title_justify="left", header_style="bold")
    for column in ("code", "token", "message", "suggestion"):
        table.add_column(column)
    for finding in findings:
        fields = finding_fields(finding)
        table.add_row(*(Text(str(fields.get(key) or "")) for key in
                        ("code", "token", "message", "suggestion")))
    return table


def print_lint(name: str, findings: list[Any]) -> None:
    if findings:
        print_table(findings_table(name, findings))
    else:
        out.print(Text.assemble(("ok ", "green"), (name, "bold"), ": no findings"))


def print_resolution(resolution: Resolution) -> None:
    version = resolution.version
    out.print(Text.assemble(resolution.uri, " → ", (f"{version.name} v{version.version}", "bold"),
                            " (", stage_text(version.stage), ")"), soft_wrap=True)
    print_table(_fields([("artifact", resolution.artifact_location),
                       ("digest", resolution.digest or "-")]))
    print_warnings(resolution.warnings)


def print_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        err.print(Text.assemble(("warning: ", "bold yellow"), warning), soft_wrap=True)
