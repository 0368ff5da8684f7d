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
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

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
from charter.service.convert import naive, utc
from charter.service.guard import GuardMixin
from charter.store import models, tables
from charter.store import repository as repo
from charter.store.database import WriteTx

SESSION_LIFETIME = timedelta(hours=12)
LAST_USED_EVERY = timedelta(minutes=5)   # last_used_at is a hint: written at most this often
MAX_NOTE = 256


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class AccessMixin(GuardMixin):
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
        with self._snapshot() as reader:
            row, _ = models.get(reader, name)
            self._require(operation, row)

    # ---- users ----------------------------------------------------------------------

    def create_user(self, name: str, *, admin: bool = False,
                    service_account: bool = False) -> UserRecord:
        check_user_name(name)
        self._require_admin("create users")
        with self._write() as tx:
            if _find_user(tx.session, name) is not None:
                raise AlreadyExists("user.exists", f"A user named '{name}' already exists",
                                    "user names are unique regardless of case", {"user": name})
            row = tables.User(name=name, name_key=user_key(name), is_admin=admin,
                              is_service_account=service_account, created_at=naive(tx.now))
            tx.session.add(row)
            tx.session.flush()
            tx.record(events.NewEvent(events.USER_CREATED, "", payload={
                "user": name, "admin": admin, "service_account": service_account}))
            return _user_record(row)

    def list_users(self) -> list[UserRecord]:
        self._require_admin("list users")
        with self._read() as session:
            rows = session.execute(select(tables.User).order_by(tables.User.name_key))
            return [_user_record(row) for row in rows.scalars()]

    # ---- tokens ---------------------------------------------------------------------

    def create_token(self, user: str | None = None, *, expires: str | timedelta | None = None,
                     note: str = "") -> IssuedToken:
        """A new token for ``user`` (yourself by default); its secret is in the answer only."""
        owner = self._token_owner(user, "create tokens for other users")
        lifetime = expires if isinstance(expires, timedelta) else parse_lifetime(expires)
        note = _check_note(note)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._write() as tx:
            account = _get_user(tx.session, owner)
            row = tables.Token(user_id=account.id, hash=token_hash(secret),
                               prefix=secret[:TOKEN_SHOWN], note=note,
                               created_at=naive(tx.now),
                               expires_at=naive(tx.now + lifetime) if lifetime else None)
            tx.session.add(row)
            tx.session.flush()
            record = _token_record(row, account.name)
            tx.record(events.NewEvent(events.TOKEN_CREATED, "", payload={
                "user": account.name, "token_id": row.id, "prefix": row.prefix, "note": note,
                "expires_at": record.expires_at.isoformat() if record.expires_at else None}))
            return IssuedToken(record, secret)

    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        """Your tokens; an admin may name a user, and a local admin sees everyone's."""
        with self._read() as session:
            query = (select(tables.Token, tables.User.name)
                     .join(tables.User, tables.User.id == tables.Token.user_id)
                     .order_by(tables.Token.id))
            if user is not None or not self.principal.is_local:
                owner = self._token_owner(user, "list other users' tokens")
                query = query.where(tables.User.id == _get_user(session, owner).id)
            return [_token_record(row, name) for row, name in session.execute(query)]

    def revoke_token(self, token_id: int | str) -> TokenRecord:
        number = _token_id(token_id)
        with self._write() as tx:
            row = tx.session.get(tables.Token, number)
            account = tx.session.get(tables.User, row.user_id) if row is not None else None
            mine = account is not None and account.id == self.principal.user_id
            if row is None or account is None or not (mine or self.principal.admin):
                raise NotFound("token.not_found", f"You have no token {number}",
                               "list your tokens with `charter token list`", {"id": number})
            if row.revoked_at is None:
                row.revoked_at = naive(tx.now)
                tx.session.execute(delete(tables.WebSession)
                                   .where(tables.WebSession.token_id == row.id))
                tx.record(events.NewEvent(events.TOKEN_REVOKED, "", payload={
                    "user": account.name, "token_id": row.id, "prefix": row.prefix}))
            return _token_record(row, account.name)

    def _token_owner(self, user: str | None, what: str) -> str:
        if user is None:
            if self.principal.is_local:
                raise InvalidInput(
                    "token.user_required", "Say whose token this is",
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
            account = _get_user(tx.session, user)
            row = _find_grant(tx.session, account.id, target.id if target else None)
            previous = row.role if row is not None else None
            if row is None:
                row = tables.Grant(user_id=account.id, model_id=target.id if target else None,
                                   role=str(role), created_at=naive(tx.now))
                tx.session.add(row)
            else:
                row.role = str(role)
            tx.session.flush()
            tx.record(events.NewEvent(
                events.ACCESS_GRANTED, target.name if target else "", reason=reason,
                payload={"user": account.name, "role": str(role), "previous": previous,
                         **({} if target else {"scope": EVERY_MODEL})}))
            return GrantRecord(target.name if target else EVERY_MODEL, account.name,
                               str(role), utc(row.created_at))

    def revoke(self, model: str, user: str, *, reason: str = "") -> None:
        """Take ``user``'s role on ``model`` (``*``: its registry-wide role) away."""
        reason = check_reason(reason, required=False)
        with self._write() as tx:
            target = self._grant_target(tx, model)
            account = _get_user(tx.session, user)
            row = _find_grant(tx.session, account.id, target.id if target else None)
            where = target.name if target else "the whole registry"
            if row is None:
                raise NotFound("grant.not_found", f"{account.name} has no role on {where}",
                               f"list the grants with `charter grants {model}`",
                               {"model": model, "user": account.name})
            tx.session.delete(row)
            tx.record(events.NewEvent(
                events.ACCESS_REVOKED, target.name if target else "", reason=reason,
                payload={"user": account.name, "previous": row.role,
                         **({} if target else {"scope": EVERY_MODEL})}))

    def list_grants(self, model: str = EVERY_MODEL) -> list[GrantRecord]:
        """Who holds which role on ``model``; ``*``: the registry-wide grants."""
        G, U = tables.Grant, tables.User
        with self._read() as session:
            query = select(G, U.name).join(U, U.id == G.user_id).order_by(U.name_key)
            if model == EVERY_MODEL:
                self._require_registry(READ_ALL)
                query, shown = query.where(G.model_id.is_(None)), EVERY_MODEL
            else:
                row, _ = repo.get_model(session, model)
                self._require(READ, row)
                query, shown = query.where(G.model_id == row.id), row.name
            return [GrantRecord(shown, name, grant.role, utc(grant.created_at))
                    for grant, name in session.execute(query)]

    def _grant_target(self, tx: WriteTx, model: str) -> tables.Model | None:
        if model == EVERY_MODEL:
            self._require_admin("grant roles on every model")
            return None
        row, _ = repo.get_model(tx.session, model)
        self._require(GRANT, row)
        return row

    # ---- signing in -----------------------------------------------------------------

    def authenticate(self, token: str, *, user: str | None = None) -> Principal:
        """The principal a token acts for; ``user`` (HTTP Basic) must be the token's owner."""
        if not isinstance(token, str) or not looks_like_token(token):
            raise Unauthenticated(
                "token.malformed", "The credentials are not a Charter token",
                "tokens start with 'charter_'; create one with `charter token create`")
        with self._read() as session:
            row, account = _token_with_user(session, token_hash(token))
            self._check_usable(row, account)
            if user is not None and user_key(user) != account.name_key:
                raise Unauthenticated(
                    "token.user_mismatch", f"The token does not belong to user {user[:128]!r}",
                    "send the user name the token was created for (MLFLOW_TRACKING_USERNAME), "
                    "or send the token alone as a bearer token")
            principal = self._principal_of(session, account, row.id)
        self._touch(row)
        return principal

    def open_session(self, token: str) -> tuple[str, datetime, Principal]:
        """Sign a browser in: a random session id for its cookie, valid at most 12 h and
        never longer than the token. Only the id's sha256 is stored."""
        principal = self.authenticate(token)
        secret = secrets.token_urlsafe(32)
        with self.db.write(principal.name, self.clock) as tx:
            now = naive(tx.now)
            tx.session.execute(delete(tables.WebSession)
                               .where(tables.WebSession.expires_at <= now))
            row = tx.session.get_one(tables.Token, principal.token_id)
            until = now + SESSION_LIFETIME
            if row.expires_at is not None:
                until = min(until, row.expires_at)
            tx.session.add(tables.WebSession(hash=token_hash(secret), token_id=row.id,
                                              created_at=now, expires_at=until))
        return secret, utc(until), principal

    def session_principal(self, secret: str) -> Principal:
        with self._read() as session:
            found = session.execute(
                select(tables.WebSession, tables.Token, tables.User)
                .join(tables.Token, tables.Token.id == tables.WebSession.token_id)
                .join(tables.User, tables.User.id == tables.Token.user_id)
                .where(tables.WebSession.hash == token_hash(secret))).first()
            if found is None or found[0].expires_at <= naive(self.clock()):
                raise Unauthenticated("session.expired", "Your session has ended",
                                      "sign in again with a token")
            web, row, account = found
            self._check_usable(row, account)
            return self._principal_of(session, account, row.id)

    def close_session(self, secret: str) -> None:
        with self.db.write(self.actor, self.clock) as tx:
            tx.session.execute(delete(tables.WebSession)
                               .where(tables.WebSession.hash == token_hash(secret)))

    def _check_usable(self, row: tables.Token | None, account: tables.User | None) -> None:
        if row is None or account is None:
            raise Unauthenticated("token.invalid", "The token is not valid",
                                  "check it was copied whole, or create a new one with "
                                  "`charter token create`")
        if row.revoked_at is not None:
            raise Unauthenticated("token.revoked", f"Token {row.prefix}… was revoked",
                                  "create a new one with `charter token create`")
        if row.expires_at is not None and row.expires_at <= naive(self.clock()):
            raise Unauthenticated("token.expired", f"Token {row.prefix}… expired at "
                                  f"{utc(row.expires_at).isoformat()}",
                                  "create a new one with `charter token create --expires 30d`")

    def _principal_of(self, session: Session, account: tables.User, token_id: int
                      ) -> Principal:
        rows = session.execute(
            select(tables.Grant.model_id, tables.Grant.role, tables.Model.name_key)
            .outerjoin(tables.Model, tables.Model.id == tables.Grant.model_id)
            .where(tables.Grant.user_id == account.id))
        registry_role = self.policies.access.default_role
        model_roles: dict[int, Role] = {}
        model_keys: dict[str, int] = {}
        for model_id, role_name, key in rows:
            role = parse_role(role_name)
            if model_id is None:
                registry_role = max(role, registry_role) if registry_role else role
            else:
                model_roles[model_id], model_keys[key] = role, model_id
        return Principal(name=account.name, admin=account.is_admin, user_id=account.id,
                         token_id=token_id, registry_role=registry_role,
                         model_roles=model_roles, model_keys=model_keys)

    def _touch(self, row: tables.Token) -> None:
        now = naive(self.clock())
        if row.last_used_at is not None and now - row.last_used_at < LAST_USED_EVERY:
            return
        with self.db.write(self.actor, self.clock) as tx:
            tx.session.execute(update(tables.Token).where(tables.Token.id == row.id)
                               .values(last_used_at=now))


def _find_user(session: Session, name: str) -> tables.User | None:
    return session.execute(select(tables.User).where(
        tables.User.name_key == user_key(name))).scalar_one_or_none()


def _get_user(session: Session, name: str) -> tables.User:
    check_user_name(name)
    row = _find_user(session, name)
    if row is None:
        raise NotFound("user.not_found", f"There is no user '{name}'",
                       f"create it on the server with `charter user create {name}`",
                       {"user": name})
    return row


def _find_grant(session: Session, user_id: int, model_id: int | None) -> tables.Grant | None:
    model_clause = (tables.Grant.model_id.is_(None) if model_id is None
                    else tables.Grant.model_id == model_id)
    return session.execute(select(tables.Grant).where(
        tables.Grant.user_id == user_id, model_clause)).scalar_one_or_none()


def _token_with_user(session: Session, digest: str
                     ) -> tuple[tables.Token | None, tables.User | None]:
    found = session.execute(select(tables.Token, tables.User)
                            .join(tables.User, tables.User.id == tables.Token.user_id)
                            .where(tables.Token.hash == digest)).first()
    return (found[0], found[1]) if found else (None, None)


def _token_id(value: int | str) -> int:
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**31:
        raise InvalidInput("token.id_invalid", f"{text[:40]!r} is not a token id",
                           "token ids are the numbers `charter token list` shows")
    return int(text)


def _check_note(note: str) -> str:
    if not isinstance(note, str) or len(note) > MAX_NOTE or \
            find_hidden_char(note, allow_space=True) is not None:
        raise InvalidInput("token.note_invalid", f"A token's note is one line of at most "
                           f"{MAX_NOTE} characters", "describe what the token is for, "
                           "e.g. 'CI deploy job'")
    return note.strip()


def _user_record(row: tables.User) -> UserRecord:
    return UserRecord(row.name, row.is_admin, row.is_service_account, utc(row.created_at))


def _token_record(row: tables.Token, user: str) -> TokenRecord:
    def when(moment: datetime | None) -> datetime | None:
        return utc(moment) if moment is not None else None

    return TokenRecord(row.id, user, row.prefix, row.note, utc(row.created_at),
                       when(row.expires_at), when(row.revoked_at), when(row.last_used_at))
