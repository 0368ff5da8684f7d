"""Versions' interfaces (domain.interface): one row per version that declares one, its
canonical JSON and where it came from. Set once (a trigger refuses an update); deleted
with the version. Plain SQL on the driver's connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from charter.domain.interface import Interface, parse_interface_text
from charter.store.driver import Conn, placeholders, reader_for, sql_time, stored_time

# Where an interface came from: an uploaded MLmodel, the caller, a version tag, or the
# MLmodel the configured MLflow tracking server holds for the version's source.
MLMODEL, EXPLICIT, TAG, TRACKING = "mlmodel", "explicit", "tag", "tracking"


@dataclass(frozen=True)
class StoredInterface:
    interface: Interface
    origin: str
    created_at: datetime


def get(conn: Conn, version_id: int) -> StoredInterface | None:
    found = reader_for(conn).one(
        "SELECT spec, origin, created_at FROM version_interfaces WHERE version_id = ?",
        (version_id,))
    if found is None:
        return None
    spec, origin, created_at = found
    return StoredInterface(parse_interface_text(spec), origin, stored_time(created_at))


def of_versions(conn: Conn, version_ids: Sequence[int]) -> dict[int, Interface]:
    """version id -> its interface, for those of ``version_ids`` that declare one."""
    if not version_ids:
        return {}
    return {version_id: parse_interface_text(spec) for version_id, spec in reader_for(conn).all(
        f"SELECT version_id, spec FROM version_interfaces "
        f"WHERE version_id IN ({placeholders(len(version_ids))})", list(version_ids))}


def insert(conn: Conn, version_id: int, interface: Interface, origin: str,
           now: datetime) -> None:
    reader = reader_for(conn)
    reader.run("INSERT INTO version_interfaces (version_id, spec, origin, created_at) "
               "VALUES (?, ?, ?, ?)",
               (version_id, interface.to_json(), origin, sql_time(reader, now)))
