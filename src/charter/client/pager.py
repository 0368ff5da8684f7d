"""Walk every page of a listing without handling tokens (kubeflow/model-registry's idea).

Works over any registry, embedded or remote, because both answer
``list_models(..., page_token=) -> Page``. A server that hands back a token it
already gave would loop forever; the pager stops with an error instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from charter.domain import error_codes as codes
from charter.domain.errors import CharterError
from charter.domain.records import Page


class Pager(Iterator[Any]):
    """Iterate the items of ``fetch(token)`` page after page, starting from ``""``."""

    def __init__(self, fetch: Callable[[str], Page]) -> None:
        self._fetch = fetch
        self._items: deque[Any] = deque()
        self._token: str | None = ""   # None once the last page was fetched
        self._seen: set[str] = set()
        self.pages = 0

    def __iter__(self) -> Pager:
        return self

    def __next__(self) -> Any:
        while not self._items:
            if self._token is None:
                raise StopIteration
            self._load(self._token)
        return self._items.popleft()

    def _load(self, token: str) -> None:
        page = self._fetch(token)
        self.pages += 1
        self._items = deque(page.items)
        if page.next_token and page.next_token in self._seen:
            raise CharterError(codes.PAGE_TOKEN_LOOP, f"The listing returned page token "
                               f"{page.next_token!r} twice", "this is a server bug; report it")
        self._seen.add(page.next_token)
        self._token = page.next_token or None


def iter_models(registry: Any, *, name_like: str = "", page_size: int = 100) -> Pager:
    """Every model whose name contains ``name_like``, fetched ``page_size`` at a time."""
    return Pager(lambda token: registry.list_models(name_like=name_like, max_results=page_size,
                                                    page_token=token))
