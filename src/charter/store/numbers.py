"""New versions' numbers in a PostgreSQL group commit: the batch's models read together
(``read_ahead``), each number then taken without a round trip of its own.

A new version takes its number by counting its model's counter up
(``models.take_next_number``: UPDATE … RETURNING, an answer to wait for). A group commit
holds the chain head's row lock, which every writer of every replica waits on, so a batch
of N new versions waited on N such round trips (bench/README.md, scale12). Every write
takes that lock before it writes, so once the batch holds it no one else can count a
model up: the batch reads its new versions' models in one statement, and each call whose
model no earlier call of the batch can have changed (store/group_commit.py ``_Ahead``)
takes the next number from what was read and sends its UPDATE with the next statement
(held_writes), guarded so that a count that is not what was read fails loudly instead of
handing a number out twice.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from charter.store.driver import Reader

# The model by its key: its columns (models.COLUMNS, written out: models imports this
# module; a test checks they are the same), then whether it has allowed signers.
_AHEAD = ("SELECT m.name_key, m.id, m.name, m.name_key, m.description, m.last_version, "
          "m.created_at, m.updated_at, "
          "EXISTS (SELECT 1 FROM allowed_signers a WHERE a.model_id = m.id) "
          "FROM models m WHERE m.name_key = ANY(?::text[])")

# The counter set to the number taken, only if it still holds what was read (else NULL,
# which the column refuses: the batch then runs each call alone, reading for itself);
# the model's kept brief forgotten, and said so for the transaction, as
# models.take_next_number does (store/triggers.py).
COUNT_UP = ("UPDATE models SET last_version = CASE WHEN last_version = ? THEN ? END, "
            "updated_at = ?, brief = NULL WHERE id = ? "
            "RETURNING set_config('charter.forgot', id::text, true)")

_offered = threading.local()  # the one read-ahead a call of this thread may use


def read_ahead(reader: Reader, keys: Iterable[str]) -> dict[str, Sequence[Any]]:
    """The models of the batch's new versions, by key, in one statement (PostgreSQL): a
    key no model has now is absent (its call then reads for itself, and finds why)."""
    wanted = list(dict.fromkeys(keys))
    if not wanted or reader.dialect != "postgresql":
        return {}
    return {row[0]: row[1:] for row in reader.all(_AHEAD, (wanted,))}


def model_id_of(hit: Sequence[Any]) -> int:
    """The id of the model a row of ``read_ahead`` is of."""
    return int(hit[0])


def offer(key: str | None, hit: Sequence[Any] | None) -> None:
    """Let this thread's next ``take_offered`` of ``key`` use ``hit`` instead of reading;
    None withdraws the offer. The caller offers a read only while it is still true."""
    _offered.count = (key, hit) if key is not None and hit is not None else None


def take_offered(key: str) -> Sequence[Any] | None:
    """The row offered for ``key`` (the model's columns, then whether it has allowed
    signers), once; None when none is."""
    offered: tuple[str, Sequence[Any]] | None = getattr(_offered, "count", None)
    if offered is None or offered[0] != key:
        return None
    _offered.count = None
    return offered[1]
