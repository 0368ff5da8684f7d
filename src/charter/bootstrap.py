"""The one place that wires settings to the store, the blob store and the service."""

from __future__ import annotations

import getpass
import os
from dataclasses import replace

from charter.artifacts.local import LocalBlobStore
from charter.config import Settings
from charter.domain.lifecycle import DEFAULT_TABLE
from charter.domain.naming import NamingPolicy
from charter.domain.sources import SourcePolicy
from charter.person_names import default_policy
from charter.service import Policies, RegistryService
from charter.store.database import Database


# [naming] keys that extend a shipped word list (docs/configuration.md).
EXTRA_WORDS = {"extra_version_markers": "version_markers", "extra_algorithms": "algorithms",
               "extra_generic_words": "generic_words", "extra_stage_words": "stage_words"}


def naming_policy(settings: Settings) -> NamingPolicy:
    policy = default_policy(mode=settings.naming_mode, allow=settings.naming_allow)
    section = settings.extra.get("naming", {})
    extended = {field: getattr(policy, field) | frozenset(w.lower() for w in section[key])
                for key, field in EXTRA_WORDS.items() if key in section}
    return replace(policy, **extended) if extended else policy


def policies_from(settings: Settings) -> Policies:
    return Policies(
        naming=naming_policy(settings),
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
