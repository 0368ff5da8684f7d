"""Who may do what: roles, the operations they allow, and the acting principal.

Pure rules, no I/O. Roles are ordered ``reader < contributor < maintainer < owner``
and are held per model, or on the whole registry (a ``*`` grant, or the configured
default role every signed-in user has). An admin may do everything, including
managing users, other people's tokens and registry-wide grants.

The service asks ``require`` before every use case; a model the principal may not
read is answered exactly like a model that does not exist (404, never 403), so
access rules cannot be used to learn which names are registered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from types import MappingProxyType
from typing import Any

from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput, NotFound, PermissionDenied
from charter.domain.lifecycle import Stage


class Role(IntEnum):
    READER = 1
    CONTRIBUTOR = 2
    MAINTAINER = 3
    OWNER = 4

    def __str__(self) -> str:
        return self.name.lower()


ROLES: tuple[Role, ...] = tuple(Role)
EVERY_MODEL = "*"  # the scope of a registry-wide grant
NO_ROLE = "none"   # the default role that hides every model until it is granted


def parse_role(text: object) -> Role:
    for role in ROLES:
        if isinstance(text, str) and text.strip().lower() == str(role):
            return role
    raise InvalidInput(codes.ROLE_UNKNOWN, f"{str(text)[:40]!r} is not a role",
                       f"use one of: {', '.join(str(r) for r in ROLES)}",
                       {"allowed": [str(r) for r in ROLES]})


def parse_default_role(text: object) -> Role | None:
    """The registry-wide default: a role, or ``none`` (models are private until granted)."""
    if isinstance(text, str) and text.strip().lower() == NO_ROLE:
        return None
    try:
        return parse_role(text)
    except InvalidInput:
        raise InvalidInput(codes.CONFIG_INVALID, f"[auth] default_role {str(text)[:40]!r} is not "
                           "a role", f"use one of: {NO_ROLE}, "
                           f"{', '.join(str(r) for r in ROLES)}") from None


# --- which role each operation needs ---------------------------------------------------
#
# The one table of rights (docs/access.md prints it). Stage moves are not listed by
# name: ``role_for_move`` derives them from the edge, so edges added in configuration
# are covered the day they are enabled.

READ = "read"                  # models, versions, history, resolve, files, grants
REGISTER = "register"          # a new version of an existing model
EDIT = "edit"                  # tags and descriptions of the model and its versions
ALIAS = "alias"                # set or delete an alias (champion, challenger)
ROLLBACK = "rollback"
RENAME = "rename"              # the name is the contract: only its owner changes it
DELETE = "delete"              # a version (from Archived) or the whole model
GRANT = "grant"                # give or take roles on the model
CREATE_MODEL = "create_model"  # registry-wide: a new name
READ_ALL = "read_all"          # registry-wide: the event feed and the audit chain
METRICS = "metrics"            # registry-wide: the server's /metrics (counts, no content)

NEEDS: Mapping[str, Role] = MappingProxyType({
    READ: Role.READER,
    REGISTER: Role.CONTRIBUTOR,
    EDIT: Role.CONTRIBUTOR,
    ALIAS: Role.MAINTAINER,
    ROLLBACK: Role.MAINTAINER,
    RENAME: Role.OWNER,
    DELETE: Role.OWNER,
    GRANT: Role.OWNER,
    CREATE_MODEL: Role.CONTRIBUTOR,
    READ_ALL: Role.READER,
    METRICS: Role.READER,
})

REGISTRY_WIDE = frozenset({CREATE_MODEL, READ_ALL, METRICS})

WHAT = {  # how a refusal names the operation
    READ: "read it", REGISTER: "register versions", EDIT: "change tags and descriptions",
    ALIAS: "set aliases", ROLLBACK: "roll back Production", RENAME: "rename it",
    DELETE: "delete versions or the model", GRANT: "grant or revoke roles",
    CREATE_MODEL: "create models", READ_ALL: "read the whole audit trail",
    METRICS: "read the server's metrics",
}


def role_for_move(from_stage: Stage, to_stage: Stage) -> Role:
    """Anything that touches Production is a release decision (maintainer); other
    moves (None -> Staging, Staging -> Archived, configured extras) are a contributor's."""
    if Stage.PRODUCTION in (from_stage, to_stage):
        return Role.MAINTAINER
    return Role.CONTRIBUTOR


# --- the acting principal ----------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """Who a use case acts for, with every right it has, resolved once per request.

    ``user_id`` is None for a local principal: the embedded registry, or a loopback
    server with authentication off. A local principal is an admin, recorded in events
    by name.
    """

    name: str
    admin: bool = False
    user_id: int | None = None
    token_id: int | None = None
    registry_role: Role | None = None            # on every model: max(default, '*' grant)
    model_roles: Mapping[int, Role] = field(default_factory=dict)  # model id -> role
    model_keys: Mapping[str, int] = field(default_factory=dict)    # name key -> model id

    @classmethod
    def local(cls, name: str) -> Principal:
        return cls(name=name, admin=True)

    @property
    def is_local(self) -> bool:
        return self.user_id is None

    @property
    def sees_all(self) -> bool:
        """Every model is readable: no listing needs filtering, no name needs hiding."""
        return self.admin or self.registry_role is not None

    def role_on(self, model_id: int | None) -> Role | None:
        if self.admin:
            return Role.OWNER
        granted = self.model_roles.get(model_id) if model_id is not None else None
        roles = [r for r in (granted, self.registry_role) if r is not None]
        return max(roles) if roles else None

    def role_on_name(self, name: str) -> Role | None:
        """The role on a model known by name (the UI's question); the name's key is enough."""
        return self.role_on(self.model_keys.get(name.strip().lower()))

    def may(self, operation: str, model_id: int | None = None) -> bool:
        if self.admin:
            return True
        role = self.registry_role if operation in REGISTRY_WIDE else self.role_on(model_id)
        return role is not None and role >= NEEDS[operation]

    def may_move(self, model_id: int | None, from_stage: Stage, to_stage: Stage) -> bool:
        role = self.role_on(model_id)
        return role is not None and role >= role_for_move(from_stage, to_stage)

    def readable_ids(self) -> list[int]:
        return sorted(self.model_roles)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "admin": self.admin, "local": self.is_local,
                "registry_role": str(self.registry_role) if self.registry_role else None,
                "models": {key: str(self.model_roles[mid])
                           for key, mid in sorted(self.model_keys.items())
                           if mid in self.model_roles}}


def hidden_model(name: str, *, denied: bool = True) -> NotFound:
    """What a caller who may not read ``name`` is told: exactly the answer for a missing
    model, without the "did you mean" hint (it could name models the caller may not see).
    ``denied`` marks a refusal for the denied-attempts log; it never reaches the caller."""
    error = NotFound(codes.MODEL_NOT_FOUND, f"No model named '{str(name)[:256]}' is registered",
                     "list the registered models with `charter ls`", {"name": str(name)[:256]})
    error.denied = denied  # type: ignore[attr-defined]
    return error


def denied(principal: Principal, needed: Role, *, model: str, what: str,
           role: Role | None) -> PermissionDenied:
    held = f"is {role} on {model}" if role else f"has no role on {model}"
    return PermissionDenied(
        codes.ACCESS_DENIED, f"{principal.name} {held}; to {what} needs {needed}",
        f"ask an owner of {model} or an admin for it: "
        f"`charter grant {model} {principal.name} {needed}`",
        {"model": model, "role": str(role) if role else None, "needs": str(needed)})


def denied_registry(principal: Principal, operation: str) -> PermissionDenied:
    needed = NEEDS[operation]
    held = (f"is {principal.registry_role} on the registry" if principal.registry_role
            else "has no registry-wide role")
    return PermissionDenied(
        codes.ACCESS_DENIED, f"{principal.name} {held}; to {WHAT[operation]} needs {needed} "
        "on every model", f"ask an admin for it: `charter grant '*' {principal.name} {needed}`",
        {"model": EVERY_MODEL, "needs": str(needed)})


def admin_only(principal: Principal, what: str) -> PermissionDenied:
    return PermissionDenied(codes.ACCESS_ADMIN_ONLY, f"{principal.name} is not an admin; only an "
                            f"admin may {what}", "ask an admin of this registry to do it")


def require(principal: Principal, operation: str, *, model_id: int, model: str,
            needed: Role | None = None, what: str = "") -> None:
    """Refuse unless the principal may do ``operation`` on the model: 404 when it may not
    even read it, 403 when it may read it but lacks the role."""
    role = principal.role_on(model_id)
    if role is None:
        raise hidden_model(model)
    needed = needed or NEEDS[operation]
    if role < needed:
        raise denied(principal, needed, model=model, what=what or WHAT[operation], role=role)


# --- users and tokens ------------------------------------------------------------------

TOKEN_PREFIX = "charter_"
TOKEN_SHOWN = 16                   # "charter_" and 8 random characters: enough to tell apart
_TOKEN = re.compile(r"charter_[A-Za-z0-9_-]{43}")  # token_urlsafe(32) is 43 characters
_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")
_DURATION = re.compile(r"([1-9][0-9]{0,5})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_TOKEN_LIFETIME = timedelta(days=3660)


def looks_like_token(text: str) -> bool:
    return bool(_TOKEN.fullmatch(text))


def check_user_name(name: object) -> str:
    if not isinstance(name, str) or not _USER.fullmatch(name):
        shown = str(name)[:60]
        raise InvalidInput(codes.USER_INVALID, f"{shown!r} is not a user name",
                           "use 1-128 letters, digits, '.', '_', '@' or '-', starting with a "
                           "letter or digit", {"user": shown})
    return name


def user_key(name: str) -> str:
    return name.lower()


def parse_lifetime(text: str | None) -> timedelta | None:
    """``30d``, ``12h``, ``90m``, ``2w``; ``never`` (or nothing) for no expiry."""
    if text is None or text.strip().lower() in ("", "never"):
        return None
    match = _DURATION.fullmatch(text.strip().lower())
    lifetime = (timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
                if match else None)
    if lifetime is None or lifetime > MAX_TOKEN_LIFETIME:
        raise InvalidInput(codes.TOKEN_EXPIRY_INVALID, f"{text[:40]!r} is not a token lifetime",
                           "write a number and a unit, e.g. 90m, 12h, 30d or 2w (at most "
                           "3660d), or 'never'", {"expires": text[:40]})
    return lifetime


@dataclass(frozen=True)
class UserRecord:
    name: str
    admin: bool
    service_account: bool
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "admin": self.admin,
                "service_account": self.service_account,
                "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class TokenRecord:
    """A token as it is listed: never its secret, only the first characters."""

    id: int
    user: str
    prefix: str
    note: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        def when(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {"id": self.id, "user": self.user, "prefix": self.prefix, "note": self.note,
                "created_at": self.created_at.isoformat(), "expires_at": when(self.expires_at),
                "revoked_at": when(self.revoked_at), "last_used_at": when(self.last_used_at)}


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``secret`` is shown once and never stored (only its sha256 is)."""

    record: TokenRecord
    secret: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.record.to_dict(), "token": self.secret}


@dataclass(frozen=True)
class GrantRecord:
    model: str      # a model's name, or "*" for the whole registry
    user: str
    role: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "user": self.user, "role": self.role,
                "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class AccessPolicy:
    """``default_role``: what every signed-in user is on every model (None: nothing)."""

    default_role: Role | None = Role.READER
