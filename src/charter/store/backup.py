"""Online copies of a SQLite registry database, with SQLite's backup API.

``copy_database`` opens a read transaction on the source first and keeps it for the
whole copy: in WAL mode writers go on committing, the copy is the database as of that
one moment (the backup API copies pages inside the reader's snapshot, so a concurrent
writer never makes it start over), and every change committed before the read began is
in it. ``referenced_blobs`` then reads, from the copy itself, the blobs its versions hold.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from charter.store import events, versions
from charter.store.driver import Reader

PAGES_PER_STEP = 4096  # 16 MB of 4 KB pages between two progress reports
BUSY_TIMEOUT_S = 60

Progress = Callable[[int, int], None]  # (pages copied, pages in all)


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///…`` URL; None for another database or an in-memory one."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or ":memory:" in url or "mode=memory" in url:
        return None
    path = url[len(prefix):].split("?", 1)[0]
    return Path(path) if path else None


def copy_database(source: Path, dest: Path, progress: Progress | None = None) -> int:
    """Copy the database ``source`` to the new file ``dest`` as of one moment, while
    others may write to it; answers the chain head's seq the copy holds."""
    reading = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S,
                              isolation_level=None, check_same_thread=False)
    target = sqlite3.connect(dest, isolation_level=None)
    try:
        reading.execute("BEGIN")
        seq = events.head_seq(Reader(reading, "sqlite"))  # the snapshot starts here

        def report(_status: int, remaining: int, total: int) -> None:
            if progress is not None:
                progress(total - remaining, total)

        reading.backup(target, pages=PAGES_PER_STEP, progress=report)
        reading.execute("ROLLBACK")
        return seq
    finally:
        target.close()
        reading.close()


def restore_database(source: Path, dest: Path) -> None:
    """Overwrite the database file ``dest`` with the copy ``source`` (the registry must be
    stopped: no server, no other command writing to it)."""
    copy = sqlite3.connect(f"file:{source}?mode=ro", uri=True, isolation_level=None)
    target = sqlite3.connect(dest, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        copy.backup(target)
    finally:
        target.close()
        copy.close()


def open_copy(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                           timeout=BUSY_TIMEOUT_S, check_same_thread=False)


def settle(path: Path) -> None:
    """Fold a copy's write-ahead log into its file, and drop the write turn's lock file
    that opening it left: a backup folder holds one file per database, not four."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=DELETE")
    finally:
        connection.close()
    Path(f"{path}-writelock").unlink(missing_ok=True)


def referenced_blobs(path: Path) -> set[str]:
    """Every blob a version in the copy at ``path`` holds (files, signatures, attestations)."""
    connection = open_copy(path)
    try:
        return versions.referenced_digests(Reader(connection, "sqlite"))
    finally:
        connection.close()


def head_seq(path: Path) -> int:
    connection = open_copy(path)
    try:
        return events.head_seq(Reader(connection, "sqlite"))
    finally:
        connection.close()


def holds_anything(path: Path) -> bool:
    """Whether the registry database at ``path`` has recorded any event (or exists at all)."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    try:
        return head_seq(path) > 0
    except sqlite3.Error:  # a file that is no registry (yet): treat as holding something
        return True
