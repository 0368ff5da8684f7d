"""The export format's rules: its files, their fields, the manifest, the events' chain.

The format (version ``FORMAT_VERSION``, specified in docs/migration.md) is JSON Lines
and blobs::

    manifest.json          format, version, chain head, every file's line count and sha256
    models.jsonl           one model per line          (sorted by name, case-insensitively)
    versions.jsonl         one version, with its files (by model, then number)
    tags.jsonl             model and version tags      (by model, version, key)
    aliases.jsonl          (by model, alias)
    retired_names.jsonl    tombstones: a deleted name's version counter
    redirects.jsonl        former names that still resolve
    signatures.jsonl       who signed a version, and its signature's blob   (version 2 on)
    signers.jsonl          each model's allowed signers                     (version 2 on)
    attestations.jsonl     the attestations of versions                     (version 2 on)
    interfaces.jsonl       versions' interfaces, canonical JSON             (version 3 on)
    model_ids.jsonl        MLflow 3's logged-model id of versions that have one (version 3 on)
    events.jsonl           every audit event exactly as stored, hashes included (by seq)
    blobs/sha256/ab/cdef…  the files, signatures and attestations versions hold, by digest

Every line is canonical JSON (sorted keys, no spaces) and the order depends on the
data alone, so exporting the same registry from SQLite and from PostgreSQL gives
byte-identical folders. Reading and writing the folder is the service's
(``service.archive``); this module checks what it reads, without I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from charter.domain import error_codes as codes
from charter.domain.errors import IntegrityFailure, InvalidInput
from charter.domain.events import GENESIS_HASH, TIME_FORMAT, NewEvent, first_break, hashed_fields
from charter.domain.interface import parse_interface_text

FORMAT = "charter-export"
FORMAT_VERSION = 3
# version 1: before signed versions and attestations; 2: before interfaces and model ids
READABLE_VERSIONS = (1, 2, 3)
MANIFEST = "manifest.json"
STATE_FILES_V1 = ("models.jsonl", "versions.jsonl", "tags.jsonl", "aliases.jsonl",
                  "retired_names.jsonl", "redirects.jsonl")
PROVENANCE_FILES = ("signatures.jsonl", "signers.jsonl", "attestations.jsonl")
INTERFACE_FILES = ("interfaces.jsonl", "model_ids.jsonl")
STATE_FILES = (*STATE_FILES_V1, *PROVENANCE_FILES, *INTERFACE_FILES)
EVENTS = "events.jsonl"
FILES = (*STATE_FILES, EVENTS)
# Each state file holds one kind of row (the field of ``store.bulk.Rows`` it fills).
KINDS = dict(zip(STATE_FILES, ("models", "versions", "tags", "aliases", "retired_names",
                               "redirects", "signatures", "signers", "attestations",
                               "interfaces", "model_ids"),
                 strict=True))


def state_files(format_version: int) -> tuple[str, ...]:
    """The state files an export of ``format_version`` holds."""
    if format_version >= 3:
        return STATE_FILES
    return (*STATE_FILES_V1, *PROVENANCE_FILES) if format_version == 2 else STATE_FILES_V1
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
    "signatures.jsonl": {"model": str, "version": int, "signer": str, "signature": str},
    "signers.jsonl": {"model": str, "signer": str, "public_key": str, "added_by": str,
                      "added_at": TIME},
    "attestations.jsonl": {"model": str, "version": int, "sha256": str, "size": int,
                           "predicate_type": str, "predicate": str, "signer": _OPT_STR,
                           "created_by": str, "created_at": TIME},
    "interfaces.jsonl": {"model": str, "version": int, "spec": str, "origin": str,
                         "created_at": TIME},
    "model_ids.jsonl": {"model": str, "version": int, "model_id": str},
    "events.jsonl": {"seq": int, "time": str, "actor": str, "action": str, "model": str,
                     "model_key": str, "version": _OPT_INT, "from_stage": _OPT_STR,
                     "to_stage": _OPT_STR, "reason": str, "correlation_id": str,
                     "payload": str, "prev_hash": str, "hash": str},
}
FILE_SCHEMA = {"path": str, "size": int, "sha256": str}
CHAIN_BATCH = 1000


def format_moment(moment: datetime) -> str:
    """A stored time (naive UTC) as the export writes it."""
    return moment.strftime(TIME_FORMAT)


def parse_moment(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT)


def line(row: dict[str, Any]) -> bytes:
    return json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":")
                      ).encode("utf-8") + b"\n"


def blob_parts(digest: str) -> tuple[str, str]:
    """The folder and file name a blob has under ``blobs/sha256/``; refused unless a digest."""
    if len(digest) != 64 or not set(digest) <= _HEX:
        raise invalid(f"{digest[:80]!r} is not a sha256 digest")
    return digest[:2], digest[2:]


def check_manifest(manifest: Any) -> dict[str, Any]:
    """The parsed ``manifest.json``, refused unless it describes a readable export."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise invalid(f"{MANIFEST} does not describe a {FORMAT}")
    if manifest.get("format_version") not in READABLE_VERSIONS:
        raise InvalidInput(codes.ARCHIVE_UNSUPPORTED, f"export format version "
                           f"{manifest.get('format_version')!r} is not supported; this "
                           f"Charter reads versions "
                           f"{', '.join(map(str, READABLE_VERSIONS))}",
                           "import it with the Charter version that wrote it, or newer")
    head = manifest.get("chain_head")
    if not isinstance(manifest.get("files"), dict) or not isinstance(head, dict) or \
            not isinstance(head.get("seq"), int) or not isinstance(head.get("hash"), str) \
            or not isinstance(head.get("time"), str):
        raise invalid(f"{MANIFEST} lacks its files or chain_head")
    return manifest


def parse_line(file: str, number: int, raw: bytes) -> dict[str, Any]:
    """Line ``number`` of ``file``, checked against the file's schema."""
    where = f"{file} line {number}"
    try:
        row = json.loads(raw)
    except ValueError as exc:
        raise invalid(f"{where} is not JSON: {exc}") from exc
    checked = check_row(row, SCHEMAS[file], where)
    for stored in checked.get("files", []) if file == "versions.jsonl" else []:
        blob_parts(check_row(stored, FILE_SCHEMA, f"{where}, a file")["sha256"])
    if file in ("signatures.jsonl", "attestations.jsonl"):
        blob_parts(checked.get("signature") or checked["sha256"])
    if file == "interfaces.jsonl":
        try:
            parse_interface_text(checked["spec"])
        except InvalidInput as bad:
            raise invalid(f"{where}: {bad.message}") from None
    return checked


def blob_digests(rows: Any) -> set[str]:
    """Every blob the state rows hold: version files, signatures, attestations."""
    found = {f["sha256"] for v in rows.versions for f in v["files"]}
    found |= {s["signature"] for s in rows.signatures}
    return found | {a["sha256"] for a in rows.attestations}


def check_row(row: object, schema: dict[str, Any], where: str) -> dict[str, Any]:
    """``row`` if it has exactly the schema's fields, each of its type."""
    if not isinstance(row, dict) or set(row) != set(schema):
        found = sorted(row) if isinstance(row, dict) else type(row).__name__
        raise invalid(f"{where} has the fields {found}, expected {sorted(schema)}")
    for key, kind in schema.items():
        value = row[key]
        if kind == TIME:
            try:
                parse_moment(value)
            except (TypeError, ValueError):
                raise invalid(f"{where}: {key} {value!r} is not a time like "
                              "2025-03-01T09:00:00.000000Z") from None
        elif not isinstance(value, kind) or (isinstance(value, bool) and kind is not str):
            raise invalid(f"{where}: {key} has the wrong type ({type(value).__name__})")
    return row


def check_chain(events: Iterable[dict[str, Any]], head: dict[str, Any]) -> int:
    """Re-walk the hash chain of exported events; returns how many there are."""
    prev, expected = GENESIS_HASH, 1
    batch: list[tuple[dict[str, Any], str, str]] = []
    for event in events:
        if event["model_key"] != event["model"].lower():
            raise _broken(event["seq"], "its model_key does not match its model")
        batch.append((_hashed(event), event["prev_hash"], event["hash"]))
        if len(batch) == CHAIN_BATCH:
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


def _broken(seq: int, problem: str) -> IntegrityFailure:
    return IntegrityFailure(codes.ARCHIVE_CHAIN_BROKEN, f"the export's audit chain is broken at "
                            f"event #{seq}: {problem}", "the events were altered after the "
                            "export; nothing was imported", {"seq": seq, "problem": problem})


def corrupt(message: str, hint: str = "export the registry again") -> IntegrityFailure:
    return IntegrityFailure(codes.ARCHIVE_CORRUPT, message, hint)


def invalid(message: str) -> InvalidInput:
    return InvalidInput(codes.ARCHIVE_INVALID, message,
                        "the export was edited or is incomplete; export the registry again")
