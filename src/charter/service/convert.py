"""The store's time conventions (``naive``, ``utc``), for the service."""

from __future__ import annotations

from charter.store.driver import naive, utc

__all__ = ["naive", "utc"]
