"""Export a whole Charter registry to a folder, and import such a folder into an empty one.

The format (version ``FORMAT_VERSION``, specified in docs/migration.md) is JSON Lines
and blobs::

    manifest.json          format, version, chain head, every file's line count and sha256
    models.jsonl           one model per line          (sorted by name, case-insensitively)
    versions.jsonl         one version, with its files (by model, then number)
    tags.jsonl             model and version tags      (by model, version, key)
    aliases.jsonl          (by model, alias)
    retired_names.jsonl    tombstones: a deleted name's version counter
    redirects.jsonl        former names that still resolve
    events.jsonl           every audit event exactly as stored, hashes included (by seq)
    blobs/sha256/ab/cdef…  the files versions hold, named by digest

Every line is canonical JSON (sorted keys, no spaces) and the order depends on the
data alone, so exporting the same registry from SQLite and from PostgreSQL gives
byte-identical folders. An import checks the manifest's checksums, re-walks the
hash chain of the events before writing anything, copies the blobs (verifying each
digest), bulk-loads the rows in one transaction, then runs ``verify_audit``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from charter._version import __version__
from charter.domain.errors import IntegrityFailure, InvalidInput
from charter.domain.events import GENESIS_HASH, NewEvent, first_break, hashed_fields
from charter.store import bulk

FORMAT = "charter-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STATE_FILES = ("models.jsonl", "versions.jsonl", "tags.jsonl", "aliases.jsonl",
               "retired_names.jsonl", "redirects.jsonl")
EVENTS = "events.jsonl"
FILES = (*STATE_FILES, EVENTS)
_FIELDS = dict(zip(STATE_FILES, ("models", "versions", "tags", "aliases", "retired_names",
                                 "redirects"), strict=True))
_HEX = frozenset("0123456789abcdef")

# Each file's fields and their JSON types; a line with other keys or types is refused.
_OPT_INT, _OPT_STR, TIME = (int, type(None)), (str, type(None)), "time"
SCHEMAS: dict[str, dict[str, Any]] = {
    "models.jsonl": {"name": str, "description": str, "last_version": int,
                     "created_at": TIME, "updated_at": TIME},
    "versions.jsonl": {"model": str, "version": int, "stage": str, "source": str,
                       "run_id": str, "description": str, "digest": str, "status": str,
                       "created_at": TIME, "updated_at": TIME, "stage_changed_at": TIME,
                       "files": list},
    "tags.jsonl": {"model": str, "version": _OPT_INT, "key": str, "value": str},
    "aliases.jsonl": {"model": str, "alias": str, "version": int},
    "retired_names.jsonl": {"name_key": str, "last_version": int},
    "redirects.jsonl": {"name": str, "name_key": str, "model": str},
    "events.jsonl": {"seq": int, "time": str, "actor": str, "action": str, "model": str,
                     "model_key": str, "version": _OPT_INT, "from_stage": _OPT_STR,
                     "to_stage": _OPT_STR, "reason": str, "correlation_id": str,
                     "payload": str, "prev_hash": str, "hash": str},
}
FILE_SCHEMA = {"path": str, "size": int, "sha256": str}


def line(row: dict[str, Any]) -> bytes:
    return json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":")
                      ).encode("utf-8") + b"\n"


# --- export ----------------------------------------------------------------------------


def export_registry(registry: Any, dest: Path) -> dict[str, Any]:
    """Write the registry into ``dest`` (new or empty); returns the manifest."""
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InvalidInput("export.not_empty", f"'{dest}' exists and is not an empty folder",
                           "export into a new folder")
    dest.mkdir(parents=True, exist_ok=True)
    files = {}
    with bulk.dump(registry.db) as dumped:
        for name in STATE_FILES:
            files[name] = _write_lines(dest / name, getattr(dumped, _FIELDS[name]))
        files[EVENTS] = _write_lines(dest / EVENTS, dumped.events())
        head, versions = dumped.head, dumped.versions
    digests = sorted({f["sha256"] for v in versions for f in v["files"]})
    for digest in digests:
        registry.blobs.copy_to(digest, blob_path(dest, digest))
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "charter_version": __version__, "chain_head": head, "files": files,
                "blobs": len(digests)}
    # Written last: a folder with a manifest is a complete export.
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _write_lines(path: Path, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    digest, count = hashlib.sha256(), 0
    with open(path, "wb") as out:
        for row in rows:
            data = line(row)
            out.write(data)
            digest.update(data)
            count += 1
    return {"lines": count, "sha256": digest.hexdigest()}


def blob_path(root: Path, digest: str) -> Path:
    if len(digest) != 64 or not set(digest) <= _HEX:
        raise _invalid(f"{digest[:80]!r} is not a sha256 digest")
    return root / "blobs" / "sha256" / digest[:2] / digest[2:]


# --- import ----------------------------------------------------------------------------


def import_registry(registry: Any, src: Path) -> dict[str, Any]:
    """Load an export into an empty registry; returns its manifest. All or nothing."""
    src = Path(src)
    manifest = read_manifest(src)
    for name in FILES:
        _check_file(src / name, manifest["files"].get(name))
    rows = bulk.Rows(**{_FIELDS[n]: list(_read_lines(src / n)) for n in STATE_FILES},
                     head=manifest["chain_head"])
    check_chain(_read_lines(src / EVENTS), manifest["chain_head"])
    with registry.db.read() as session:
        if not bulk.is_empty(session):
            raise bulk.refuse_non_empty()
    for digest in sorted({f["sha256"] for v in rows.versions for f in v["files"]}):
        _import_blob(registry, src, digest)
    bulk.load(registry.db, rows, _read_lines(src / EVENTS), actor=registry.actor,
              clock=registry.clock)
    report = registry.verify_audit()
    if not report.ok:
        raise IntegrityFailure("archive.chain_broken", f"after the import the audit chain is "
                               f"broken at event #{report.first_bad_seq}: {report.problem}",
                               "report this: the export verified before it was loaded")
    return manifest


def read_manifest(src: Path) -> dict[str, Any]:
    path = src / MANIFEST
    if not path.is_file():
        raise InvalidInput("archive.not_found", f"'{src}' has no {MANIFEST}; it is not a "
                           "complete Charter export", "give the folder `charter export` wrote")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as exc:
        raise _invalid(f"{MANIFEST} is not JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _invalid(f"{MANIFEST} does not describe a {FORMAT}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise InvalidInput("archive.unsupported", f"export format version "
                           f"{manifest.get('format_version')!r} is not supported; this "
                           f"Charter reads version {FORMAT_VERSION}",
                           "import it with the Charter version that wrote it, or newer")
    head = manifest.get("chain_head")
    if not isinstance(manifest.get("files"), dict) or not isinstance(head, dict) or \
            not isinstance(head.get("seq"), int) or not isinstance(head.get("hash"), str) \
            or not isinstance(head.get("time"), str):
        raise _invalid(f"{MANIFEST} lacks its files or chain_head")
    return manifest


def _check_file(path: Path, listed: Any) -> None:
    if not isinstance(listed, dict) or not path.is_file():
        raise _invalid(f"{path.name} is missing from the export or its manifest")
    digest, count = hashlib.sha256(), 0
    with open(path, "rb") as data:
        for chunk in data:
            digest.update(chunk)
            count += 1
    if digest.hexdigest() != listed.get("sha256") or count != listed.get("lines"):
        raise IntegrityFailure("archive.corrupt", f"{path.name} does not match the checksum "
                               f"in {MANIFEST}: it was changed after the export",
                               "export the registry again; do not edit an export")


def _read_lines(path: Path) -> Iterator[dict[str, Any]]:
    schema = SCHEMAS[path.name]
    with open(path, "rb") as data:
        for number, raw in enumerate(data, start=1):
            where = f"{path.name} line {number}"
            try:
                row = json.loads(raw)
            except ValueError as exc:
                raise _invalid(f"{where} is not JSON: {exc}") from exc
            _check_row(row, schema, where)
            for file in row.get("files", []) if path.name == "versions.jsonl" else []:
                _check_row(file, FILE_SCHEMA, f"{where}, a file")
                blob_path(Path(), file["sha256"])
            yield row


def _check_row(row: Any, schema: dict[str, Any], where: str) -> None:
    if not isinstance(row, dict) or set(row) != set(schema):
        found = sorted(row) if isinstance(row, dict) else type(row).__name__
        raise _invalid(f"{where} has the fields {found}, expected {sorted(schema)}")
    for key, kind in schema.items():
        value = row[key]
        if kind == TIME:
            try:
                bulk.parse_moment(value)
            except (TypeError, ValueError):
                raise _invalid(f"{where}: {key} {value!r} is not a time like "
                               "2025-03-01T09:00:00.000000Z") from None
        elif not isinstance(value, kind) or (isinstance(value, bool) and kind is not str):
            raise _invalid(f"{where}: {key} has the wrong type ({type(value).__name__})")


def check_chain(events: Iterable[dict[str, Any]], head: dict[str, Any]) -> int:
    """Re-walk the hash chain of exported events; returns how many there are."""
    prev, expected, batch = GENESIS_HASH, 1, []
    for event in events:
        if event["model_key"] != event["model"].lower():
            raise _broken(event["seq"], "its model_key does not match its model")
        batch.append((_hashed(event), event["prev_hash"], event["hash"]))
        if len(batch) == 1000:
            prev, expected = _walk(batch, prev, expected)
            batch = []
    prev, expected = _walk(batch, prev, expected)
    if expected - 1 != head["seq"] or prev != head["hash"]:
        raise _broken(min(expected, head["seq"] + 1),
                      "the events end before, or after, the chain head in the manifest")
    return expected - 1


def _walk(batch: list[tuple[dict[str, Any], str, str]], prev: str, expected: int
          ) -> tuple[str, int]:
    broken, prev, expected = first_break(batch, prev, expected)
    if broken:
        raise _broken(broken.seq, broken.problem)
    return prev, expected


def _hashed(event: dict[str, Any]) -> dict[str, Any]:
    try:
        payload = json.loads(event["payload"])
    except ValueError:
        raise _broken(event["seq"], "its payload is not JSON") from None
    return hashed_fields(
        seq=event["seq"], time=event["time"], actor=event["actor"],
        event=NewEvent(event["action"], event["model"], event["version"], event["from_stage"],
                       event["to_stage"], event["reason"], payload),
        correlation_id=event["correlation_id"])


def _import_blob(registry: Any, src: Path, digest: str) -> None:
    path = blob_path(src, digest)
    if not path.is_file():
        raise _invalid(f"blob {digest} is missing from {src / 'blobs'}")
    stored, _size = registry.blobs.put_file(path)
    if stored != digest:
        raise IntegrityFailure("archive.corrupt", f"blob {digest} in the export holds other "
                               f"bytes (sha256 {stored})", "export the registry again")


def _broken(seq: int, problem: str) -> IntegrityFailure:
    return IntegrityFailure("archive.chain_broken", f"the export's audit chain is broken at "
                            f"event #{seq}: {problem}", "the events were altered after the "
                            "export; nothing was imported", {"seq": seq, "problem": problem})


def _invalid(message: str) -> InvalidInput:
    return InvalidInput("archive.invalid", message,
                        "the export was edited or is incomplete; export the registry again")
