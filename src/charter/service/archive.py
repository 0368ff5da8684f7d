"""Use cases: export the whole registry to a folder, and import such a folder into an
empty registry (``charter export``, ``charter import charter``).

The format and its checks are ``domain.archive`` (specified in docs/migration.md);
the rows are read and loaded by ``store.bulk``. An export reads every row in one read
transaction and streams the events from it. An import checks the whole folder — the
manifest's checksums, every line's fields, the events' hash chain — before writing
anything, copies the blobs (verifying each digest), loads the rows in one write
transaction, then walks the audit chain as stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from charter._version import __version__
from charter.domain import error_codes as codes
from charter.domain.archive import (
    EVENTS,
    FORMAT,
    FORMAT_VERSION,
    KINDS,
    MANIFEST,
    STATE_FILES,
    blob_digests,
    blob_parts,
    check_chain,
    check_manifest,
    corrupt,
    invalid,
    line,
    parse_line,
    state_files,
)
from charter.domain.errors import IntegrityFailure, InvalidInput
from charter.service.base import ServiceBase
from charter.service.checkpoints import walk_chain
from charter.store import bulk


class ArchiveMixin(ServiceBase):
    def export_registry(self, dest: str | Path) -> dict[str, Any]:
        """Write the whole registry into the folder ``dest`` (new or empty) and return its
        manifest; admins only (it holds every model)."""
        self._require_admin("export the registry")
        dest = Path(dest)
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise InvalidInput(codes.EXPORT_NOT_EMPTY,
                               f"'{dest}' exists and is not an empty folder",
                               "export into a new folder")
        dest.mkdir(parents=True, exist_ok=True)
        files = {}
        with self._read_session() as session:
            dumped = bulk.dump(session)
            for name in STATE_FILES:
                files[name] = _write_lines(dest / name, getattr(dumped, KINDS[name]))
            files[EVENTS] = _write_lines(dest / EVENTS, dumped.events())
        digests = sorted(blob_digests(dumped))
        for digest in digests:
            self.blobs.copy_to(digest, _blob_path(dest, digest))
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                    "charter_version": __version__, "chain_head": dumped.head, "files": files,
                    "blobs": len(digests)}
        # Written last: a folder with a manifest is a complete export.
        (dest / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        return manifest

    def import_registry(self, src: str | Path) -> dict[str, Any]:
        """Load an export into this empty registry, all or nothing, and return its
        manifest; admins only."""
        self._require_admin("import a registry")
        src = Path(src)
        manifest = _read_manifest(src)
        present = state_files(manifest["format_version"])
        for name in (*present, EVENTS):
            _check_file(src / name, manifest["files"].get(name))
        rows = bulk.Rows(**{KINDS[n]: list(_read_lines(src / n)) for n in present},
                         head=manifest["chain_head"])
        check_chain(_read_lines(src / EVENTS), manifest["chain_head"])
        with self._read_session() as session:
            if not bulk.is_empty(session):
                raise bulk.refuse_non_empty()
        for digest in sorted(blob_digests(rows)):
            self._import_blob(src, digest)
        with self._write() as tx:
            bulk.load(tx, rows, _read_lines(src / EVENTS))
        report = walk_chain(self)
        if not report.ok:
            raise IntegrityFailure(codes.ARCHIVE_CHAIN_BROKEN, f"after the import the audit chain "
                                   f"is broken at event #{report.first_bad_seq}: "
                                   f"{report.problem}",
                                   "report this: the export verified before it was loaded")
        return manifest

    def _import_blob(self, src: Path, digest: str) -> None:
        path = _blob_path(src, digest)
        if not path.is_file():
            raise invalid(f"blob {digest} is missing from {src / 'blobs'}")
        stored, _size = self.blobs.put_file(path)
        if stored != digest:
            raise corrupt(f"blob {digest} in the export holds other bytes (sha256 {stored})")


def _blob_path(root: Path, digest: str) -> Path:
    folder, name = blob_parts(digest)
    return root / "blobs" / "sha256" / folder / name


def _write_lines(path: Path, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    digest, count = hashlib.sha256(), 0
    with open(path, "wb") as out:
        for row in rows:
            data = line(row)
            out.write(data)
            digest.update(data)
            count += 1
    return {"lines": count, "sha256": digest.hexdigest()}


def _read_manifest(src: Path) -> dict[str, Any]:
    path = src / MANIFEST
    if not path.is_file():
        raise InvalidInput(codes.ARCHIVE_NOT_FOUND, f"'{src}' has no {MANIFEST}; it is not a "
                           "complete Charter export", "give the folder `charter export` wrote")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as exc:
        raise invalid(f"{MANIFEST} is not JSON: {exc}") from exc
    return check_manifest(manifest)


def _check_file(path: Path, listed: Any) -> None:
    if not isinstance(listed, dict) or not path.is_file():
        raise invalid(f"{path.name} is missing from the export or its manifest")
    digest, count = hashlib.sha256(), 0
    with open(path, "rb") as data:
        for chunk in data:
            digest.update(chunk)
            count += 1
    if digest.hexdigest() != listed.get("sha256") or count != listed.get("lines"):
        raise corrupt(f"{path.name} does not match the checksum in {MANIFEST}: it was "
                      "changed after the export",
                      "export the registry again; do not edit an export")


def _read_lines(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as data:
        for number, raw in enumerate(data, start=1):
            yield parse_line(path.name, number, raw)
