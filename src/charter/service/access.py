"""Use cases of access control: users, API tokens, grants, and signing in.

A token is ``charter_`` + 43 random URL-safe characters, shown once; only its
sha256 is stored. Authenticating a token resolves the principal with every right
it holds (its grants, the registry-wide default), once per request. Creating
users and registry-wide grants is an admin's; granting on a model is its owner's.
Every change here is an audit event, like every other change.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from charter.domain import error_codes as codes
from charter.domain import events
from charter.domain.access import (
    EVERY_MODEL,
    GRANT,
    READ,
    READ_ALL,
    REGISTER,
    TOKEN_PREFIX,
    TOKEN_SHOWN,
    GrantRecord,
    IssuedToken,
    Principal,
    Role,
    TokenRecord,
    UserRecord,
    check_user_name,
    looks_like_token,
    parse_lifetime,
    parse_role,
    user_key,
)
from charter.domain.errors import AlreadyExists, InvalidInput, NotFound, Unauthenticated
from charter.domain.values import check_reason, find_hidden_char
from charter.service.base import ServiceBase
from charter.service.turns import TurnBusy
from charter.store import access, models
from charter.store.database import WriteTx
from charter.store.driver import Conn, Reader, as_stored
from charter.store.models import ModelRow

SESSION_LIFETIME = timedelta(hours=12)
LAST_USED_EVERY = timedelta(minutes=5)   # last_used_at is a hint: written at most this often
MAX_NOTE = 256


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class AccessMixin(ServiceBase):
    # ---- who am I -----------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        return self.principal.describe()

    def authorize(self, name: str, operation: str) -> None:
        """Refuse (404 / 403) unless the principal may do ``operation`` on model ``name``;
        REGISTER on a name not registered yet needs the right to create models. For routes
        whose use cases do not check access themselves (``charter.api.access.on_model``)."""
        if operation == REGISTER:
            self._check_may_register(name, create_model=True)
            return
        with self._read() as reader:
            row, _ = models.get(reader, name)
            self._require(operation, row)

    # ---- users ----------------------------------------------------------------------

    def create_user(self, name: str, *, admin: bool = False,
                    service_account: bool = False) -> UserRecord:
        check_user_name(name)
        self._require_admin("create users")
        with self._write() as tx:
            if access.find_user(tx, name) is not None:
                raise AlreadyExists(codes.USER_EXISTS, f"A user named '{name}' already exists",
                                    "user names are unique regardless of case", {"user": name})
            user = access.insert_user(tx, name, admin=admin, service_account=service_account,
                                      now=tx.now)
            tx.record(events.NewEvent(events.USER_CREATED, "", payload={
                "user": name, "admin": admin, "service_account": service_account}))
            return user.record()

    def list_users(self) -> list[UserRecord]:
        self._require_admin("list users")
        with self._read() as reader:
            return [user.record() for user in access.users(reader)]

    # ---- tokens ---------------------------------------------------------------------

    def create_token(self, user: str | None = None, *, expires: str | timedelta | None = None,
                     note: str = "") -> IssuedToken:
        """A new token for ``user`` (yourself by default); its secret is in the answer only."""
        owner = self._token_owner(user, "create tokens for other users")
        lifetime = expires if isinstance(expires, timedelta) else parse_lifetime(expires)
        note = _check_note(note)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._write() as tx:
            token = access.insert_token(
                tx, _get_user(tx, owner), digest=token_hash(secret),
                prefix=secret[:TOKEN_SHOWN], note=note, now=tx.now,
                expires_at=tx.now + lifetime if lifetime else None)
            record = token.record
            tx.record(events.NewEvent(events.TOKEN_CREATED, "", payload={
                "user": record.user, "token_id": record.id, "prefix": record.prefix,
                "note": note,
                "expires_at": record.expires_at.isoformat() if record.expires_at else None}))
            return IssuedToken(record, secret)

    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        """Your tokens; an admin may name a user, and a local admin sees everyone's."""
        with self._read() as reader:
            owner = None
            if user is not None or not self.principal.is_local:
                owner = _get_user(reader, self._token_owner(user, "list other users' tokens"))
            return [token.record for token in access.tokens(reader, owner)]

    def revoke_token(self, token_id: int | str) -> TokenRecord:
        number = _token_id(token_id)
        with self._write() as tx:
            token = access.token(tx, number)
            if token is None or not (token.owner.id == self.principal.user_id
                                     or self.principal.admin):
                raise NotFound(codes.TOKEN_NOT_FOUND, f"You have no token {number}",
                               "list your tokens with `charter token list`", {"id": number})
            if token.record.revoked_at is None:
                access.revoke_token(tx, number, tx.now)
                tx.record(events.NewEvent(events.TOKEN_REVOKED, "", payload={
                    "user": token.owner.name, "token_id": number,
                    "prefix": token.record.prefix}))
                token = access.token(tx, number) or token
            return token.record

    def _token_owner(self, user: str | None, what: str) -> str:
        if user is None:
            if self.principal.is_local:
                raise InvalidInput(
                    codes.TOKEN_USER_REQUIRED, "Say whose token this is",
                    "pass --user NAME: the embedded registry acts as a local admin, which "
                    "has no tokens of its own")
            return self.principal.name
        check_user_name(user)
        if user_key(user) != user_key(self.principal.name) or self.principal.is_local:
            self._require_admin(what)
        return user

    # ---- grants ---------------------------------------------------------------------

    def grant(self, model: str, user: str, role: str | Role, *, reason: str = ""
              ) -> GrantRecord:
        """Give ``user`` ``role`` on ``model`` (``*``: every model), replacing its role there."""
        role = role if isinstance(role, Role) else parse_role(role)
        reason = check_reason(reason, required=False)
        with self._write() as tx:
            target = self._grant_target(tx, model)
            account = _get_user(tx, user)
            model_id = target.id if target else None
            found = access.find_grant(tx, account.id, model_id)
            if found is None:
                granted_at = access.insert_grant(tx, account.id, model_id, str(role),
                                                 tx.now).created_at
            else:
                access.set_role(tx, found.id, str(role))
                granted_at = found.created_at
            tx.record(events.NewEvent(
                events.ACCESS_GRANTED, target.name if target else "", reason=reason,
                payload={"user": account.name, "role": str(role),
                         "previous": found.role if found else None,
                         **({} if target else {"scope": EVERY_MODEL})}))
            return GrantRecord(target.name if target else EVERY_MODEL, account.name,
                               str(role), granted_at)

    def revoke(self, model: str, user: str, *, reason: str = "") -> None:
        """Take ``user``'s role on ``model`` (``*``: its registry-wide role) away."""
        reason = check_reason(reason, required=False)
        with self._write() as tx:
            target = self._grant_target(tx, model)
            account = _get_user(tx, user)
            found = access.find_grant(tx, account.id, target.id if target else None)
            where = target.name if target else "the whole registry"
            if found is None:
                raise NotFound(codes.GRANT_NOT_FOUND, f"{account.name} has no role on {where}",
                               f"list the grants with `charter grants {model}`",
                               {"model": model, "user": account.name})
            access.delete_grant(tx, found.id)
            tx.record(events.NewEvent(
                events.ACCESS_REVOKED, target.name if target else "", reason=reason,
                payload={"user": account.name, "previous": found.role,
                         **({} if target else {"scope": EVERY_MODEL})}))

    def list_grants(self, model: str = EVERY_MODEL) -> list[GrantRecord]:
        """Who holds which role on ``model``; ``*``: the registry-wide grants."""
        with self._read() as reader:
            if model == EVERY_MODEL:
                self._require_registry(READ_ALL)
                return access.grants_on(reader, None, EVERY_MODEL)
            row, _ = models.get(reader, model)
            self._require(READ, row)
            return access.grants_on(reader, row.id, row.name)

    def _grant_target(self, tx: WriteTx, model: str) -> ModelRow | None:
        if model == EVERY_MODEL:
            self._require_admin("grant roles on every model")
            return None
        row, _ = models.get(tx, model)
        self._require(GRANT, row)
        return row

    # ---- signing in -----------------------------------------------------------------

    def authenticate(self, token: str, *, user: str | None = None) -> Principal:
        """The principal a token acts for; ``user`` (HTTP Basic) must be the token's owner."""
        if not isinstance(token, str) or not looks_like_token(token):
            raise Unauthenticated(
                codes.TOKEN_MALFORMED, "The credentials are not a Charter token",
                "tokens start with 'charter_'; create one with `charter token create`")
        with self._read() as reader:
            found = self._usable(access.token_by_hash(reader, token_hash(token)))
            if user is not None and user_key(user) != found.owner.name_key:
                raise Unauthenticated(
                    codes.TOKEN_USER_MISMATCH, f"The token does not belong to user {user[:128]!r}",
                    "send the user name the token was created for (MLFLOW_TRACKING_USERNAME), "
                    "or send the token alone as a bearer token")
            principal = self._principal_of(reader, found)
        self._touch(found)
        return principal

    def open_session(self, token: str) -> tuple[str, datetime, Principal]:
        """Sign a browser in: a random session id for its cookie, valid at most 12 h and
        never longer than the token. Only the id's sha256 is stored."""
        principal = self.authenticate(token)
        assert principal.token_id is not None
        secret = secrets.token_urlsafe(32)
        with self.db.write(principal.name, self.clock) as tx:
            until = tx.now + SESSION_LIFETIME
            found = access.token(tx, principal.token_id)
            if found is not None and found.record.expires_at is not None:
                until = min(until, found.record.expires_at)
            access.open_session(tx, principal.token_id, token_hash(secret), now=tx.now,
                                until=until)
        return secret, as_stored(until), principal

    def session_principal(self, secret: str) -> Principal:
        with self._read() as reader:
            found = access.session_token(reader, token_hash(secret))
            if found is None or found[0] <= self._now():
                raise Unauthenticated(codes.SESSION_EXPIRED, "Your session has ended",
                                      "sign in again with a token")
            return self._principal_of(reader, self._usable(found[1]))

    def close_session(self, secret: str) -> None:
        with self.db.write(self.actor, self.clock) as tx:
            access.close_session(tx, token_hash(secret))

    def _usable(self, token: access.Token | None) -> access.Token:
        """The token, unless it is unknown, revoked or expired."""
        if token is None:
            raise Unauthenticated(codes.TOKEN_INVALID, "The token is not valid",
                                  "check it was copied whole, or create a new one with "
                                  "`charter token create`")
        if token.record.revoked_at is not None:
            raise Unauthenticated(codes.TOKEN_REVOKED, f"Token {token.record.prefix}… was revoked",
                                  "create a new one with `charter token create`")
        if token.record.expires_at is not None and token.record.expires_at <= self._now():
            raise Unauthenticated(codes.TOKEN_EXPIRED, f"Token {token.record.prefix}… expired at "
                                  f"{token.record.expires_at.isoformat()}",
                                  "create a new one with `charter token create --expires 30d`")
        return token

    def _principal_of(self, reader: Reader, token: access.Token) -> Principal:
        """The token's owner with every right it holds: its grants, the default role."""
        registry_role = self.policies.access.default_role
        model_roles: dict[int, Role] = {}
        model_keys: dict[str, int] = {}
        for model_id, role_name, key in access.roles_of(reader, token.owner.id):
            role = parse_role(role_name)
            if model_id is None:
                registry_role = max(role, registry_role) if registry_role else role
            elif key is not None:
                model_roles[model_id], model_keys[key] = role, model_id
        return Principal(name=token.owner.name, admin=token.owner.admin,
                         user_id=token.owner.id, token_id=token.record.id,
                         registry_role=registry_role, model_roles=model_roles,
                         model_keys=model_keys)

    def _touch(self, token: access.Token) -> None:
        """Note when the token was last used (a hint: written at most every 5 minutes).
        The server authenticates on its event loop, where a write may not wait for SQLite's
        write turn (``turn_wait`` 0): a busy turn leaves the note to a later request."""
        now, last = self._now(), token.record.last_used_at
        if last is not None and now - last < LAST_USED_EVERY:
            return
        try:
            with self.db.write(self.actor, self.clock) as tx:
                access.mark_used(tx, token.record.id, now)
        except TurnBusy:
            return

    def _now(self) -> datetime:
        """The clock's time, aware (a clock without a zone tells UTC)."""
        moment = self.clock()
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _get_user(conn: Conn, name: str) -> access.User:
    check_user_name(name)
    found = access.find_user(conn, name)
    if found is None:
        raise NotFound(codes.USER_NOT_FOUND, f"There is no user '{name}'",
                       f"create it on the server with `charter user create {name}`",
                       {"user": name})
    return found


def _token_id(value: int | str) -> int:
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**31:
        raise InvalidInput(codes.TOKEN_ID_INVALID, f"{text[:40]!r} is not a token id",
                           "token ids are the numbers `charter token list` shows")
    return int(text)


def _check_note(note: str) -> str:
    if not isinstance(note, str) or len(note) > MAX_NOTE or \
            find_hidden_char(note, allow_space=True) is not None:
        raise InvalidInput(codes.TOKEN_NOTE_INVALID, f"A token's note is one line of at most "
                           f"{MAX_NOTE} characters", "describe what the token is for, "
                           "e.g. 'CI deploy job'")
    return note.strip()
