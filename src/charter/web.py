"""What the two web doors, ``api/`` and ``ui/``, share — and nothing else.

* **The access rule each route declares**: ``@allow(SIGNED_IN)`` on its handler. The
  server's access middleware (``charter.server.access``) reads it from the route it
  matched; a route that declares none is closed to all but admins, and a test walks the
  route table so that none ships that way.
* **Who acts**: ``registry(request)`` is the service acting as the request's caller.
* **Where a use case runs**: ``run_read``/``run_write``, on the event loop or in the
  thread pool.
* **The web UI's session cookie**, which the access middleware reads.

An error's HTTP status is the error catalogue's (``charter.domain.errors.http_status``).
``api/`` and ``ui/`` import this module and never each other; ``charter.server`` builds
the one app that mounts both.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import Scope

from charter.domain import error_codes as codes
from charter.domain.access import Principal
from charter.domain.errors import Unauthenticated
from charter.registry import ServerRegistry
from charter.service.turns import NeedsThread, TurnBusy, turn_wait

ACTOR_HEADER = "x-charter-actor"
_ACTOR_HEADER_BYTES = ACTOR_HEADER.encode("ascii")
# Keys of a request's ASGI scope the server's observer reads (charter.server.observe):
REQUEST_ID = "charter.request_id"  # the request's id, set before anything else runs
ROUTE_LABEL = "charter.route"      # a route's label for metrics and logs, when the matched
                                   # route's template says too little (MLflow's dispatch)
SESSION_COOKIE = "charter_session"

T = TypeVar("T")
Handler = TypeVar("Handler")

# --- the access rule a route declares ------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """Who may call a route. ``kind`` is one of:

    * ``public``    — no credentials needed (health check, static files, sign-in, API docs);
    * ``signed_in`` — a valid token (or UI session); the service then checks the caller's
                      role on every model a use case touches, so every surface gets the
                      same answer;
    * ``admin``     — an admin only, checked before the route runs;
    * ``model``     — the caller's role on the route's ``{name}`` must allow ``operation``,
                      checked before the route runs (for routes whose use cases do not
                      check it themselves);
    * ``registry``  — the caller's registry-wide role must allow ``operation`` (e.g.
                      ``metrics``), checked before the route runs.
    """

    kind: str
    operation: str = ""


PUBLIC = Rule("public")
SIGNED_IN = Rule("signed_in")
ADMIN = Rule("admin")
RULE_KINDS = ("public", "signed_in", "admin", "model", "registry")
_RULE_ATTRIBUTE = "charter_access_rule"


def on_model(operation: str) -> Rule:
    return Rule("model", operation)


def registry_wide(operation: str) -> Rule:
    """A right on the whole registry (domain/access.py ``REGISTRY_WIDE``), not on a model."""
    return Rule("registry", operation)


def allow(rule: Rule) -> Callable[[Handler], Handler]:
    """Declare who may call a route: ``@allow(SIGNED_IN)`` on its handler (a function, or
    the ASGI app a mount serves). Returns the handler itself, only marked."""

    def declare(handler: Handler) -> Handler:
        setattr(handler, _RULE_ATTRIBUTE, rule)
        return handler

    return declare


def declared_rule(handler: Any) -> Rule | None:
    """The rule ``allow`` declared on a handler, None when it declared none."""
    rule = getattr(handler, _RULE_ATTRIBUTE, None)
    return rule if isinstance(rule, Rule) else None


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
    return _claimed_actor(request.scope)


def _claimed_actor(scope: Scope) -> str:
    # The raw headers read directly: a Headers object per request is a tenth of a point
    # read's own work. Header names are lowercase in ASGI; a repeated header counts once.
    for name, value in scope["headers"]:
        if name == _ACTOR_HEADER_BYTES:
            claimed = value.decode("latin-1").strip()[:128]
            return f"{claimed} (unverified)" if claimed else "anonymous"
    return "anonymous"


def auth_enabled(request: Request) -> bool:
    """Whether this server requires credentials (set by the access middleware)."""
    access = getattr(request.app.state, "access", None)
    return bool(access is not None and access.enabled)


def registry(request: Request) -> ServerRegistry:
    """The service acting for the caller: its verified principal when auth is on (set by
    the access middleware), else a local admin named by ``actor_of``."""
    service: ServerRegistry = request.app.state.service
    # request.state keeps its attributes in the scope's "state" (Starlette's State); read
    # there, a request without a principal costs no AttributeError.
    state = request.scope.get("state") or {}
    principal = state.get("principal")
    if principal is not None:
        return service.as_principal(principal)
    if auth_enabled(request):  # a public route must not reach the registry
        raise Unauthenticated(codes.AUTH_REQUIRED, "This registry requires a token",
                              "sign in, or send `Authorization: Bearer <token>`")
    verified = state.get("actor")
    if verified:
        return service.as_actor(str(verified))
    return service.as_principal(_local_principal(_claimed_actor(request.scope)))


@functools.lru_cache(maxsize=256)
def _local_principal(actor: str) -> Principal:
    """The local admin named ``actor``: frozen, so one per name serves every request."""
    return Principal.local(actor)


# --- where a use case runs --------------------------------------------------------------


async def run_read(service: ServerRegistry, use_case: Callable[..., T], *args: object) -> T:
    """Run a read-only use case on the event loop itself.

    A SQLite read in WAL mode never waits for a writer and answers in tens of
    microseconds (store/driver.py), less than the hand-off to a pool thread and back
    costs: it runs as a plain call. A PostgreSQL read waits on the network: it runs in a
    greenlet on the loop and awaits its statements (``read_on_loop``, store/pg_loop.py),
    the loop serving other requests meanwhile. Should it reach I/O that would block the
    loop (a read through the ORM, say), it is run again in the thread pool, and that
    noted once in the log.
    """
    if service.db.dialect == "sqlite":
        return use_case(*args)
    try:
        return await service.db.read_on_loop(use_case, *args)
    except NeedsThread as reason:
        _note_thread_read(use_case, reason)
    return await run_in_threadpool(use_case, *args)


_THREAD_READS: set[str] = set()  # what sent a read back to the thread pool, logged once


def _note_thread_read(use_case: Callable[..., object], reason: NeedsThread) -> None:
    if str(reason) not in _THREAD_READS:
        _THREAD_READS.add(str(reason))
        logging.getLogger("charter.web").warning(
            "a read (%s) reached %s on the event loop; such reads run in the thread pool",
            getattr(use_case, "__qualname__", "?"), reason)


# How long an event loop may wait for SQLite's write turn before handing the write to the
# group commit: not at all. A write that finds the turn held queues, with the others that
# did meanwhile, for the next batch (one transaction, one COMMIT); waiting here would hold
# the loop's other connections and poll the file lock.
LOOP_TURN_WAIT_S = 0.0


async def run_write(service: ServerRegistry, use_case: Callable[..., T], *args: object,
                    move: tuple[str, int] | None = None, count: str | None = None) -> T:
    """Run a use case that writes: on the event loop when the SQLite write turn is free,
    else in the process's next group commit (store/group_commit.py ``GroupCommit``).

    A write of the MLflow surface holds the turn for about a millisecond; handing it to
    another thread costs more than that in wake-ups and GIL hand-offs when nothing else
    is waiting. When the turn is held, the writes queued meanwhile share one transaction
    and one COMMIT instead of taking turns. TurnBusy is raised before the use case has
    done anything, so running it again in the batch is safe.

    On PostgreSQL a write waits for the disk at COMMIT while it holds the chain head's
    lock; every write is therefore committed in groups. Either way a write is answered
    only after the COMMIT that holds it. ``move``: the use case moves a stage of this
    model name and version (the batch reads its moves together, ``Database.batched``);
    ``count``: it makes a new version of the model of this name (the batch reads those
    models together).
    """
    if service.db.turn_can_wait:
        token = turn_wait.set(LOOP_TURN_WAIT_S)
        try:
            return use_case(*args)
        except TurnBusy:
            pass
        finally:
            turn_wait.reset(token)
    if service.db.group_commit is not None:  # committed with the others queued meanwhile
        return await asyncio.wrap_future(service.db.batched(use_case, *args, move=move,
                                                            count=count))
    return await run_in_threadpool(use_case, *args)
