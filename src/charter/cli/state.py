"""What one invocation shares: the global options and the registry built from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from charter.connection import DATABASE_SCHEMES, connect, connect_listing

if TYPE_CHECKING:
    from charter.registry import ModelLister, Registry, ServerRegistry


@dataclass
class State:
    home: Path | None = None
    registry_url: str | None = None
    traceback: bool = False
    _registry: Registry | None = field(default=None, repr=False)

    @property
    def registry(self) -> Registry:
        # Built on first use, so `--help` and usage errors never open a database.
        if self._registry is None:
            self._registry = connect(self.registry_url or None, **self.overrides())
        return self._registry

    def lister(self) -> ModelLister:
        """What `charter ls` reads: an embedded SQLite registry's read-only listing, which
        prints the first screen without loading SQLAlchemy or the service (docs/cli.md,
        "Start-up"), or the registry wherever only it can answer."""
        if self._registry is None:
            found = connect_listing(self.registry_url or None, **self.overrides())
            if found is not None:
                return found
        return self.registry

    def embedded(self) -> ServerRegistry:
        """The registry with its server-only operations (users, gc, export, import).

        The caller refuses a remote target first, with its own hint; a remote registry
        reaching here is a bug."""
        from charter.service import RegistryService

        found = self.registry
        if not isinstance(found, RegistryService):
            raise TypeError(f"{type(found).__name__} is not the embedded registry")
        return found

    def overrides(self) -> dict[str, Any]:
        # Only an explicit --home is passed: connect() falls back to a folder given as
        # --registry, then to $CHARTER_HOME, and an explicit None would hide both.
        return {"home": self.home} if self.home is not None else {}

    def settings_overrides(self) -> dict[str, Any]:
        """The Settings overrides connect() would derive, for commands that need no service."""
        target = self.registry_url or ""
        given = self.overrides()
        if target.startswith(DATABASE_SCHEMES):
            given["database_url"] = target
        elif target:
            given.setdefault("home", Path(target))
        return given

    @property
    def is_remote(self) -> bool:
        return (self.registry_url or "").startswith(("http://", "https://"))


def state(ctx: typer.Context) -> State:
    found = ctx.find_object(State)
    return found if found is not None else State()


def registry(ctx: typer.Context) -> Registry:
    return state(ctx).registry
