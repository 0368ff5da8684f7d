"""``charter backup DEST`` and ``charter restore SRC``: exact copies of an embedded registry.

A backup folder holds ``charter.db`` (SQLite's own backup API, taken online: servers and
commands may go on writing while it runs), ``blobs/`` (the blobs the copy's versions
hold) and ``backup.json`` (what was copied; written last, so a folder without it is an
unfinished backup).

Why copying the blobs *after* the database snapshot is consistent: blobs are
content-addressed and never change, and a version's row commits only after its blobs
are stored. So every blob the snapshot names already exists when the snapshot is taken,
and a blob stored later is simply not copied. The one way to lose a blob in between is
to delete it (``charter gc`` after a purge); the backup then stops and names it.

A restore refuses a copy whose audit chain does not verify, or whose blobs do not
match their digests, and a registry that already holds events unless ``--force``.
For PostgreSQL and S3 the procedure is pg_dump and bucket versioning (docs/operations.md).
Like ``bootstrap``, this module wires settings to the store and the blob stores.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from charter._version import __version__
from charter.artifacts.local import LocalBlobStore
from charter.bootstrap import build_service
from charter.config import Settings
from charter.domain import error_codes as codes
from charter.domain.errors import Conflict, IntegrityFailure, InvalidInput
from charter.store import backup as sqlite_backup
from charter.store.database import SCHEMA_REVISION
from charter.store.engines import sqlite_url

FORMAT = "charter-backup"
FORMAT_VERSION = 1
MANIFEST = "backup.json"
DATABASE = "charter.db"
BLOBS = "blobs"
PROCEDURE = "see docs/operations.md#backups (pg_dump, S3 bucket versioning)"

Say = Callable[[str], None]  # a progress line, for stderr


@dataclass(frozen=True)
class BackupReport:
    folder: str
    seq: int          # the last event the copy holds
    blobs: int
    bytes: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _embedded(settings: Settings, what: str) -> Path:
    """The registry's SQLite file; refuse PostgreSQL, in-memory databases and S3 blobs."""
    database = sqlite_backup.sqlite_file(settings.database_url)
    if database is None:
        raise InvalidInput(codes.BACKUP_UNSUPPORTED, f"charter {what} copies an embedded "
                           "(SQLite) registry; this one's database is not a SQLite file",
                           f"for PostgreSQL, {PROCEDURE}")
    if settings.artifacts.backend != "local":
        raise InvalidInput(codes.BACKUP_UNSUPPORTED, f"charter {what} copies a local blob "
                           f"folder; this registry keeps its blobs in {settings.artifacts.backend}",
                           f"for S3, {PROCEDURE}")
    return database


def _copy_blobs(digests: set[str], source: LocalBlobStore, target: LocalBlobStore,
                say: Say) -> int:
    """Copy each blob, checking its digest on the way; answers the bytes copied."""
    copied, last_said = 0, time.monotonic()
    for number, digest in enumerate(sorted(digests), start=1):
        got, size = target.put_file(source.local_path(digest))
        if got != digest:
            raise IntegrityFailure(codes.BACKUP_CORRUPT, f"The blob {digest} holds bytes whose "
                                   f"sha256 is {got}", "the blob was damaged on disk; restore it "
                                   "from an older backup", {"digest": digest, "actual": got})
        copied += size
        if time.monotonic() - last_said > 1 or number == len(digests):
            say(f"blobs: {number}/{len(digests)} ({copied / 1e6:.1f} MB)")
            last_said = time.monotonic()
    return copied


def _verify_chain(home: Path, database: Path, blob_root: Path, whose: str) -> int:
    """Walk the audit chain of the database at ``database``; answers its head's seq."""
    settings = Settings.load({"home": home, "database_url": sqlite_url(database),
                              "blob_root": blob_root}, env={})
    service = build_service(settings, actor="charter-backup", migrate=False)
    try:
        report = service.verify_audit(full=True)  # every event: a copy earns no trust
    finally:
        service.db.dispose()
    if not report.ok:
        raise IntegrityFailure(
            codes.AUDIT_CHAIN_BROKEN, f"{whose} audit log is not the one recorded, at event "
            f"#{report.first_bad_seq}: {report.problem}",
            "this copy was altered or damaged: use another backup, and investigate who had "
            "access to it", report.to_dict())
    return sqlite_backup.head_seq(database)


def take_backup(settings: Settings, dest: Path, say: Say) -> BackupReport:
    started = time.monotonic()
    database = _embedded(settings, "backup")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InvalidInput(codes.BACKUP_NOT_EMPTY, f"{dest} exists and is not an empty folder",
                           "give a new folder: a backup never overwrites anything")
    dest.mkdir(parents=True, exist_ok=True)
    copy = dest / DATABASE
    seq = sqlite_backup.copy_database(
        database, copy, lambda done, total: say(f"database: {done}/{total} pages"))
    say(f"database: copied as of event #{seq}")
    digests = sqlite_backup.referenced_blobs(copy)
    copied = _copy_blobs(digests, LocalBlobStore(settings.blob_root),
                         LocalBlobStore(dest / BLOBS), say)
    _verify_chain(dest, copy, dest / BLOBS, "The registry's")
    sqlite_backup.settle(copy)
    say("audit chain: verified")
    report = BackupReport(str(dest), seq, len(digests), copied,
                          round(time.monotonic() - started, 3))
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "charter": __version__,
                "schema": SCHEMA_REVISION, "created_at": datetime.now(UTC).isoformat(),
                "source": str(database), **report.to_dict()}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return report


def read_manifest(source: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((source / MANIFEST).read_text())
    except (OSError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT \
            or not (source / DATABASE).is_file():
        raise InvalidInput(codes.BACKUP_INVALID, f"{source} is not a finished Charter backup "
                           f"(no readable {MANIFEST} and {DATABASE})",
                           "give the folder `charter backup DEST` wrote; a folder without "
                           f"{MANIFEST} is a backup that did not finish")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise InvalidInput(codes.BACKUP_INVALID, f"{source} was written by a newer Charter "
                           f"({manifest.get('charter')})", "restore it with that version")
    schema = str(manifest.get("schema", ""))
    if schema.isdigit() and int(schema) > int(SCHEMA_REVISION):
        # refused before anything is replaced: this code could not open what it restored
        raise InvalidInput(codes.BACKUP_INVALID, f"{source} holds schema {schema}, newer than "
                           f"this Charter's {SCHEMA_REVISION} ({manifest.get('charter')} "
                           "wrote it)", "restore it with that version or a later one")
    return manifest


def restore_backup(settings: Settings, source: Path, say: Say, *,
                   force: bool = False) -> BackupReport:
    started = time.monotonic()
    target = _embedded(settings, "restore")
    manifest = read_manifest(source)
    seq = _verify_chain(source, source / DATABASE, source / BLOBS, "The backup's")
    sqlite_backup.settle(source / DATABASE)
    if seq != manifest.get("seq"):
        raise IntegrityFailure(codes.BACKUP_CORRUPT, f"The backup's database ends at event "
                               f"#{seq}, its {MANIFEST} says #{manifest.get('seq')}",
                               "the folder mixes two backups: use another one")
    say(f"backup: audit chain verified up to event #{seq}")
    if sqlite_backup.holds_anything(target) and not force:
        raise Conflict(codes.RESTORE_NOT_EMPTY, f"The registry at {target} already holds "
                       "events; a restore would replace all of them",
                       "restore into an empty home (--home), or pass --force to replace it "
                       "(stop its servers first)", {"database": str(target)})
    # Blobs first: if the restore stops half-way, the registry is as it was (plus blobs).
    digests = sqlite_backup.referenced_blobs(source / DATABASE)
    copied = _copy_blobs(digests, LocalBlobStore(source / BLOBS),
                         LocalBlobStore(settings.blob_root), say)
    target.parent.mkdir(parents=True, exist_ok=True)
    sqlite_backup.restore_database(source / DATABASE, target)
    say(f"database: restored as of event #{seq}")
    settings.home.mkdir(parents=True, exist_ok=True)
    build_service(settings, actor="charter-restore").db.dispose()  # migrates an older copy
    _verify_chain(settings.home, target, settings.blob_root, "The restored registry's")
    return BackupReport(str(target), seq, len(digests), copied,
                        round(time.monotonic() - started, 3))
