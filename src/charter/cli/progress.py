"""Byte progress bars for uploads and downloads, drawn on stderr.

The bar goes to stderr so that stdout stays clean for ``--json`` and pipes, and it
is only drawn on a terminal: in CI logs a bar is noise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from charter.cli.render import err

Advance = Callable[[int], None]


@contextmanager
def byte_progress(description: str, total: int) -> Iterator[Advance]:
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, disable=not err.is_terminal) as bar:
        task = bar.add_task(description, total=total)
        yield lambda size: bar.advance(task, size)


def size_of(path: Path) -> int:
    """Bytes a file or folder holds: the bar's total before the upload starts."""
    if path.is_file():
        return path.stat().st_size
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())
