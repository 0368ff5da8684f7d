"""``connect()``: open a registry, embedded or remote, by what the target looks like.

It lives here rather than in ``charter/__init__.py`` so the CLI can open a registry
without importing the package root; ``charter.connect`` is this function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DATABASE_SCHEMES = ("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")


def connect(target: str | Path | None = None, *, actor: str | None = None,
            token: str | None = None, **settings: Any) -> Any:
    """Open a registry: embedded (a database URL, a folder, or nothing) or remote (http)."""
    text = str(target) if target is not None else ""
    if text.startswith(("http://", "https://")):
        from charter.client import RemoteRegistry

        return RemoteRegistry(text, token=token, actor=actor,
                              cache_dir=settings.get("cache_dir"))
    from charter.bootstrap import build_service
    from charter.config import Settings

    if text.startswith(DATABASE_SCHEMES):
        settings.setdefault("database_url", text)
    elif text:
        settings.setdefault("home", Path(text))
    return build_service(Settings.load(settings), actor=actor)
