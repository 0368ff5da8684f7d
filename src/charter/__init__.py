"""Charter: a model registry in which names and stages are product contracts.

    import charter
    registry = charter.connect()                      # embedded, under $CHARTER_HOME
    registry = charter.connect("sqlite:///reg.db")    # embedded, this database
    registry = charter.connect("./registry-data")     # embedded, this folder
    registry = charter.connect("http://host:8080")    # a Charter server
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__version__ = "0.1.0"


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

    if text.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
        settings.setdefault("database_url", text)
    elif text:
        settings.setdefault("home", Path(text))
    return build_service(Settings.load(settings), actor=actor)


__all__ = ["connect", "__version__"]
