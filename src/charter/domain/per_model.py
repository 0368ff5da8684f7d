"""Settings declared per model in the configuration follow the model through renames.

``[models.<name>.…]`` tables are keyed by a name, but a model keeps its identity when
it is renamed or merged by an import: its former names redirect to it. A setting
declared under a former name therefore still applies, unless the current name
declares its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

T = TypeVar("T")


def name_key(name: str) -> str:
    return name.strip().lower()


def declared_for(table: Mapping[str, T], name: str, former: Iterable[str] = ()) -> T | None:
    """The entry of ``table`` for ``name``, else for the first former name that has one."""
    for candidate in (name, *former):
        found = table.get(name_key(candidate))
        if found is not None:
            return found
    return None
