"""Reading the web UI's forms in process tests."""

from __future__ import annotations


def csrf_token(page: str) -> str:
    """The CSRF token of the first form on an HTML page."""
    marker = 'name="csrf_token" value="'
    start = page.index(marker) + len(marker)
    return page[start:page.index('"', start)]
