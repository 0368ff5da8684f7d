"""Four-eyes approvals: requests to move a version to a stage, and the decisions on them.
Plain SQL on the driver's connection (store/driver.py).

Gates and retention are configuration (``charter.domain.gates``, ``.retention``)
judged over versions and events; they have no rows of their own. Webhook
subscriptions and their outbox are ``store/webhooks.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from charter.domain.approvals import Decision
from charter.store.driver import Conn, as_stored, placeholders, reader_for, sql_time, stored_time
from charter.store.versions import VersionRow


@dataclass(frozen=True, slots=True)
class Request:
    """A request to move version ``version`` from ``from_stage`` to ``to_stage``, asked
    while it had been in ``from_stage`` since ``stage_since``."""

    id: int
    version: int
    from_stage: str
    to_stage: str
    stage_since: datetime
    requested_by: str
    requested_at: datetime
    comment: str
    decisions: tuple[Decision, ...] = ()


@dataclass(frozen=True, slots=True)
class RequestOn:
    """A request with the stage its version is in now, and since when."""

    request: Request
    stage: str
    stage_since: datetime


_COLUMNS = ("r.id, r.version, r.from_stage, r.to_stage, r.stage_since, r.requested_by, "
            "r.requested_at, r.comment")


def _requests(conn: Conn, found: Sequence[Sequence[Any]]) -> list[Request]:
    """Requests from rows of ``_COLUMNS``, each with its decisions (one more query)."""
    decided: dict[int, list[Decision]] = {raw[0]: [] for raw in found}
    if decided:
        for request_id, actor, decision, comment, at in reader_for(conn).all(
                f"SELECT request_id, actor, decision, comment, decided_at "
                f"FROM approval_decisions WHERE request_id IN ({placeholders(len(decided))}) "
                f"ORDER BY id", list(decided)):
            decided[request_id].append(Decision(actor, decision, comment, stored_time(at)))
    return [Request(raw[0], raw[1], raw[2], raw[3], stored_time(raw[4]), raw[5],
                    stored_time(raw[6]), raw[7], tuple(decided[raw[0]])) for raw in found]


def current_request(conn: Conn, version_id: int, target: str) -> Request | None:
    """The newest request for moving the version to ``target`` that is not stale: made
    while the version was in the stage it is in now, since the time it entered it."""
    found = reader_for(conn).all(
        f"SELECT {_COLUMNS} FROM approval_requests r JOIN versions v ON v.id = r.version_id "
        f"WHERE r.version_id = ? AND r.to_stage = ? AND r.from_stage = v.stage "
        f"AND r.stage_since = v.stage_changed_at ORDER BY r.id DESC LIMIT 1",
        (version_id, target))
    requests = _requests(conn, found)
    return requests[0] if requests else None


def insert_request(conn: Conn, row: VersionRow, target: str, *, requested_by: str,
                   comment: str, now: datetime) -> Request:
    """A new request for moving the version ``row`` (as it is now) to ``target``."""
    reader = reader_for(conn)
    request_id = reader.value(
        "INSERT INTO approval_requests (model_id, version_id, version, from_stage, to_stage, "
        "stage_since, requested_by, requested_at, comment) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        # the version's own stored time, so the staleness test compares like with like
        (row.model_id, row.id, row.version, row.stage, target, row.stage_changed_at,
         requested_by, sql_time(reader, now), comment))
    return Request(int(request_id), row.version, row.stage, target, row.stage_since,
                   requested_by, as_stored(now), comment)


def add_decision(conn: Conn, request: Request, actor: str, decision: str, comment: str,
                 now: datetime) -> Request:
    """Record one person's decision (the database lets each decide once); the request with
    it added."""
    reader = reader_for(conn)
    reader.run("INSERT INTO approval_decisions (request_id, actor, decision, comment, "
               "decided_at) VALUES (?, ?, ?, ?, ?)",
               (request.id, actor, decision, comment, sql_time(reader, now)))
    made = Decision(actor, decision, comment, as_stored(now))
    return Request(request.id, request.version, request.from_stage, request.to_stage,
                   request.stage_since, request.requested_by, request.requested_at,
                   request.comment, (*request.decisions, made))


def requests_of(conn: Conn, model_id: int, *, version: int | None, limit: int
                ) -> list[RequestOn]:
    """The model's (one version's) requests, newest first, with their versions' stages."""
    sql = (f"SELECT {_COLUMNS}, v.stage, v.stage_changed_at FROM approval_requests r "
           f"JOIN versions v ON v.id = r.version_id WHERE r.model_id = ?")
    params: list[object] = [model_id]
    if version is not None:
        sql += " AND r.version = ?"
        params.append(version)
    found = reader_for(conn).all(sql + " ORDER BY r.id DESC LIMIT ?", [*params, limit])
    requests = _requests(conn, [raw[:8] for raw in found])
    return [RequestOn(request, raw[8], stored_time(raw[9]))
            for request, raw in zip(requests, found, strict=True)]
