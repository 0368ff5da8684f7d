"""The model listing of an embedded SQLite registry, read with the standard library alone.

``charter ls`` prints its first screen from here (docs/cli.md, "Start-up"): importing
SQLAlchemy, the tables and the service costs a fresh process more than the listing
itself. This door opens only a database that exists and whose schema is current
(``SCHEMA_REVISION``); for anything else — no database yet, a schema to migrate, a URL
it does not read as a plain file path — ``open_listing`` answers None and the caller
opens the full registry, which creates or migrates it. A page is read by the same store
function as the service's (``model_listing.listing``), so it holds the same records. Nothing
is written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

from charter.domain.paging import ModelFilter, after_key, clamp_page_size
from charter.domain.records import Page
from charter.store import model_listing
from charter.store.driver import (
    SCHEMA_REVISION,
    SQLITE_BUSY_TIMEOUT_S,
    Reader,
    prepare_sqlite,
)

PLAIN_SQLITE = "sqlite:///"


def sqlite_path(database_url: str) -> str | None:
    """The file a ``sqlite:///PATH`` URL names; None for any other URL (PostgreSQL, an
    in-memory database, a driver or query parameters, an escaped character)."""
    if not database_url.startswith(PLAIN_SQLITE):
        return None
    path = database_url[len(PLAIN_SQLITE):]
    if not path or path == ":memory:" or any(mark in path for mark in "?#%"):
        return None
    return path


def open_listing(database_url: str) -> ModelListing | None:
    """The listing of the SQLite database at ``database_url`` when it exists and needs no
    migration; None when only the full registry can answer."""
    path = sqlite_path(database_url)
    if path is None:
        return None
    listing = ModelListing(path)
    try:
        with listing.connection() as connection:
            revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:  # no such file, not a database, or a database without a schema
        return None
    return listing if revision is not None and revision[0] == SCHEMA_REVISION else None


class ModelListing:
    """``list_models`` as the embedded registry answers its local admin (who reads every
    model): a connection and a read transaction per page, so nothing stays open between
    two pages, or after the last."""

    def __init__(self, path: str) -> None:
        self.path = path

    def list_models(self, *, name_like: str = "", tag: str = "", stage: str = "",
                    max_results: int = 100, page_token: str = "") -> Page:
        only = ModelFilter.parse(name_like, tag, stage)
        after = after_key(page_token)
        limit = clamp_page_size(max_results)
        with self.connection() as connection:
            connection.execute("BEGIN")
            try:
                return model_listing.listing(Reader(connection, "sqlite"), readable=None,
                                             after=after, limit=limit, only=only)
            finally:
                connection.execute("ROLLBACK")

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A connection as every one of Charter's (``prepare_sqlite``) to an existing
        file: ``mode=rw`` makes a missing one an error instead of a new empty database."""
        connection = sqlite3.connect(f"file:{quote(self.path)}?mode=rw", uri=True,
                                     timeout=SQLITE_BUSY_TIMEOUT_S)
        try:
            prepare_sqlite(connection, SQLITE_BUSY_TIMEOUT_S)
            yield connection
        finally:
            connection.close()
