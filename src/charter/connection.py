"""``connect()``: open a registry, embedded or remote, by what the target looks like.

It lives here rather than in ``charter/__init__.py`` so the CLI can open a registry
without importing the package root; ``charter.connect`` is this function.

Both registries are typed by their interface (``charter.registry``): mypy checks here
that the remote client is a ``Registry`` and the embedded service a ``ServerRegistry``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # types only: importing the interface imports every record type
    from charter.client import RemoteRegistry
    from charter.config import Settings
    from charter.registry import ModelLister, Registry, ServerRegistry
    from charter.service import RegistryService
    from charter.store.read_only import ModelListing

DATABASE_SCHEMES = ("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")


def connect(target: str | Path | None = None, *, actor: str | None = None,
            token: str | None = None, **settings: Any) -> Registry:
    """Open a registry: embedded (a database URL, a folder, or nothing) or remote (http)."""
    text = str(target) if target is not None else ""
    if text.startswith(("http://", "https://")):
        from charter.client import RemoteRegistry

        return RemoteRegistry(text, token=token, actor=actor,
                              cache_dir=settings.get("cache_dir"))
    return connect_embedded(text, actor=actor, **settings)


def connect_embedded(target: str | Path | None = None, *, actor: str | None = None,
                     **settings: Any) -> ServerRegistry:
    """Open the embedded registry: a database URL, a folder, or nothing ($CHARTER_HOME)."""
    from charter.bootstrap import build_service

    return build_service(_embedded_settings(target, settings), actor=actor)


def _embedded_settings(target: str | Path | None, settings: dict[str, Any]) -> Settings:
    from charter.config import Settings

    text = str(target) if target is not None else ""
    if text.startswith(DATABASE_SCHEMES):
        settings.setdefault("database_url", text)
    elif text:
        settings.setdefault("home", Path(text))
    return Settings.load(settings)


def connect_listing(target: str | Path | None = None, **settings: Any) -> ModelLister | None:
    """The model listing of an embedded SQLite registry, read without the service or
    SQLAlchemy (store/read_only.py): what ``charter ls`` prints its first screen from.

    None when only ``connect()`` can answer: a server, PostgreSQL, a database to create
    or migrate, an S3 blob store or a checkpoint key (they load libraries to check). The
    settings are loaded and checked as ``connect()`` checks them, so a bad configuration
    fails here with the same error."""
    from charter.bootstrap import check_settings
    from charter.store.read_only import open_listing

    if str(target or "").startswith(("http://", "https://")):
        return None
    loaded = _embedded_settings(target, settings)
    if loaded.artifacts.backend != "local" or loaded.checkpoint_key is not None:
        return None
    listing = open_listing(loaded.database_url)
    if listing is not None:
        check_settings(loaded)
    return listing


# The parity check, for mypy alone (never called): the remote client implements the
# Registry interface and the embedded service the ServerRegistry one. A method missing
# on either side, or one whose parameters or result differ, is an error here.
def _remote_is_a_registry(client: RemoteRegistry) -> Registry:
    return client


def _embedded_is_a_server_registry(service: RegistryService) -> ServerRegistry:
    return service


def _read_only_listing_is_a_lister(listing: ModelListing) -> ModelLister:
    return listing


def _registry_is_a_lister(registry: Registry) -> ModelLister:
    return registry
