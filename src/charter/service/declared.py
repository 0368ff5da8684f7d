"""Where a version's interface comes from, and recording it (docs/contracts.md, "The
interface"): an explicit one (REST v1 ``interface``, the SDK's ``interface=``), else the
``signature`` of an ``MLmodel`` among its files, else a tag an MLflow client set
(``mlflow.signature`` or ``charter.interface``). Set once: a version's interface is part
of what its number means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from charter.artifacts import mlmodel
from charter.artifacts.tracking import fetch_mlmodel
from charter.domain import error_codes as codes
from charter.domain import events
from charter.domain.errors import Conflict
from charter.domain.interface import (
    INTERFACE_TAGS,
    Interface,
    check_model_id,
    parse_interface,
    parse_interface_text,
)
from charter.service.base import ServiceBase
from charter.store import interfaces, versions
from charter.store.database import WriteTx
from charter.store.models import ModelRow
from charter.store.versions import StoredFile, VersionRow


@dataclass(frozen=True)
class Declared:
    """What a registration declares: its interface (and where it came from), its model id."""

    interface: Interface | None = None
    origin: str = ""
    model_id: str = ""


def given_interface(value: Interface | Mapping[str, Any] | str | None) -> Interface | None:
    """An interface as a caller may give it: parsed, a dict (either form) or JSON text."""
    if value is None or isinstance(value, Interface):
        return value
    if isinstance(value, str):
        return parse_interface_text(value)
    return parse_interface(value)


def from_tags(tags: Mapping[str, str]) -> Interface | None:
    """The interface a version tag declares (``charter.interface`` wins), if any."""
    for key in INTERFACE_TAGS:
        if key in tags:
            return parse_interface_text(tags[key])
    return None


def declared(service: ServiceBase, *, explicit: Interface | None, files: Sequence[StoredFile],
             tags: Mapping[str, str], model_id: str, source: str = "",
             run_id: str = "") -> Declared:
    """What a new version declares, read before its write transaction (an MLmodel among
    ``files`` is read from the blob store; for a ``runs:/`` or ``models:/m-…`` source, from
    the tracking server the settings name, if any)."""
    check_model_id(model_id)
    tagged = from_tags(tags)  # refuse a malformed tag even when another source wins
    if explicit is not None:
        return Declared(explicit, interfaces.EXPLICIT, model_id)
    uploaded = _uploaded_mlmodel(service, files)
    if uploaded is not None and uploaded.interface is not None:
        return Declared(uploaded.interface, interfaces.MLMODEL, model_id or uploaded.model_id)
    model_id = model_id or (uploaded.model_id if uploaded is not None else "")
    if tagged is not None:
        return Declared(tagged, interfaces.TAG, model_id)
    if service.policies.tracking_uri and source:
        fetched = fetch_mlmodel(service.policies.tracking_uri, source, run_id, model_id)
        tracked = mlmodel.parse(fetched) if fetched is not None else None
        if tracked is not None and tracked.interface is not None:
            return Declared(tracked.interface, interfaces.TRACKING,
                            model_id or tracked.model_id)
    return Declared(model_id=model_id)


def _uploaded_mlmodel(service: ServiceBase, files: Sequence[StoredFile]) -> mlmodel.MLmodel | None:
    """The MLmodel among a version's stored files, read from the blob store, if any."""
    found = mlmodel.find([path for path, _, _ in files])
    if found is None:
        return None
    size, digest = next((size, sha) for path, size, sha in files if path == found)
    if size > mlmodel.MAX_BYTES:
        return None
    return mlmodel.parse(b"".join(service.blobs.iter_chunks(digest)))


def record_declared(tx: WriteTx, model_id: int, number: int, found: Declared) -> None:
    if found.interface is not None:
        interfaces.insert(tx, versions.id_of(tx, model_id, number), found.interface,
                          found.origin, tx.now)


def set_once(tx: WriteTx, model: ModelRow, row: VersionRow, interface: Interface,
             origin: str) -> bool:
    """Record ``interface`` on a registered version; answers False when it already holds
    this very interface, refuses another one (``interface.already_set``)."""
    current = interfaces.get(tx, row.id)
    if current is not None:
        if current.interface == interface:
            return False
        raise Conflict(codes.INTERFACE_ALREADY_SET,
                       f"{model.name} v{row.version} already declares another interface "
                       f"(from {current.origin})",
                       "a version's interface is set once; register a new version with "
                       "the new interface", {"name": model.name, "version": row.version})
    interfaces.insert(tx, row.id, interface, origin, tx.now)
    tx.record(events.NewEvent(events.INTERFACE_SET, model.name, row.version,
                              payload={"origin": origin, "interface": interface.to_dict()}))
    return True
