"""The one place that wires settings to the store, the blob store and the service."""

from __future__ import annotations

import getpass
import os

from charter.artifacts.local import LocalBlobStore
from charter.config import Settings
from charter.domain.lifecycle import DEFAULT_TABLE
from charter.domain.sources import SourcePolicy
from charter.person_names import default_policy
from charter.service import Policies, RegistryService
from charter.store.database import Database


def policies_from(settings: Settings) -> Policies:
    return Policies(
        naming=default_policy(mode=settings.naming_mode, allow=settings.naming_allow),
        transitions=DEFAULT_TABLE.with_edges(settings.extra_transitions),
        sources=SourcePolicy(file_roots=settings.file_roots),
    )


def default_actor() -> str:
    try:
        return os.environ.get("CHARTER_ACTOR") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


def build_service(settings: Settings, *, actor: str | None = None,
                  migrate: bool = True) -> RegistryService:
    settings.home.mkdir(parents=True, exist_ok=True)
    database = Database(settings.database_url, migrate=migrate)
    blobs = LocalBlobStore(settings.blob_root)
    return RegistryService(database, blobs, policies_from(settings),
                           actor=actor or default_actor())
