"""What the two web doors, ``api/`` and ``ui/``, share — and nothing else.

* **Who acts**: ``registry(request)`` is the service acting as the request's caller.
* **Where a use case runs**: ``run_read``/``run_write``, on the event loop or in the
  thread pool.
* **The web UI's session cookie**, which the access middleware reads.

An error's HTTP status is the error catalogue's (``charter.domain.errors.http_status``).
``api/`` and ``ui/`` import this module and never each other; ``charter.server`` builds
the one app that mounts both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from charter.domain import error_codes as codes
from charter.domain.errors import Unauthenticated
from charter.service import RegistryService
from charter.store.database import TurnBusy, turn_wait

ACTOR_HEADER = "x-charter-actor"
SESSION_COOKIE = "charter_session"

T = TypeVar("T")

# --- who acts --------------------------------------------------------------------------


def actor_of(request: Request) -> str:
    """Who the request acts as.

    The access-control layer sets ``request.state.actor`` from a verified token;
    without it (a loopback server with auth off) the client's claimed name is kept,
    marked as unverified so the audit trail never passes it off as proven.
    """
    verified = getattr(request.state, "actor", None)
    if verified:
        return str(verified)
    claimed = request.headers.get(ACTOR_HEADER, "").strip()[:128]
    return f"{claimed} (unverified)" if claimed else "anonymous"


def auth_enabled(request: Request) -> bool:
    """Whether this server requires credentials (set by the access middleware)."""
    access = getattr(request.app.state, "access", None)
    return bool(access is not None and access.enabled)


def registry(request: Request) -> RegistryService:
    """The service acting for the caller: its verified principal when auth is on (set by
    the access middleware), else a local admin named by ``actor_of``."""
    service: RegistryService = request.app.state.service
    principal = getattr(request.state, "principal", None)
    if principal is not None:
        return service.as_principal(principal)
    if auth_enabled(request):  # a public route must not reach the registry
        raise Unauthenticated(codes.AUTH_REQUIRED, "This registry requires a token",
                              "sign in, or send `Authorization: Bearer <token>`")
    return service.as_actor(actor_of(request))


# --- where a use case runs --------------------------------------------------------------


async def run_read(service: RegistryService, use_case: Callable[..., T], *args: object) -> T:
    """Run a read-only use case: on the event loop itself when the database is SQLite,
    else in the thread pool.

    A SQLite read in WAL mode never waits for a writer and answers in tens of
    microseconds (store/driver.py), less than the hand-off to a pool thread and back
    costs. A PostgreSQL read waits on the network, so it keeps the pool.
    """
    if service.db.dialect == "sqlite":
        return use_case(*args)
    return await run_in_threadpool(use_case, *args)


# How long an event loop may wait for SQLite's write turn before handing the write to a
# pool thread: a few ordinary writes' worth. Longer holders (a bulk import) then cannot
# stall the loop's other connections.
LOOP_TURN_WAIT_S = 0.02


async def run_write(service: RegistryService, use_case: Callable[..., T], *args: object) -> T:
    """Run a use case that writes: on the event loop when the SQLite write turn comes
    within ``LOOP_TURN_WAIT_S``, else in the thread pool.

    A write of the MLflow surface holds the turn for about a millisecond; handing it to
    a pool thread costs more than that in wake-ups and GIL hand-offs, and queued
    writers then hold the turn longer. TurnBusy is raised before the use case has done
    anything, so running it again in the pool is safe.
    """
    if service.db.turn_can_wait:
        token = turn_wait.set(LOOP_TURN_WAIT_S)
        try:
            return use_case(*args)
        except TurnBusy:
            pass
        finally:
            turn_wait.reset(token)
    return await run_in_threadpool(use_case, *args)
