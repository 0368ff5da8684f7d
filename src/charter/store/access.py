"""Access control's rows: users, API tokens (only their sha256), grants and browser
sessions. Plain SQL on the driver's connection (store/driver.py): authenticating a
token is paid on every request when sign-in is on.

Times come back as aware UTC datetimes; the rules that read them (expiry, the
principal's rights) are ``charter.domain.access`` and the service's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from charter.domain.access import GrantRecord, TokenRecord, UserRecord, user_key
from charter.store.driver import (
    Conn,
    as_stored,
    optional_time,
    reader_for,
    sql_time,
    stored_time,
)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    name_key: str
    admin: bool
    service_account: bool
    created_at: datetime

    def record(self) -> UserRecord:
        return UserRecord(self.name, self.admin, self.service_account, self.created_at)


@dataclass(frozen=True, slots=True)
class Token:
    """A token as it is listed (never its secret, nor the secret's hash), and its owner."""

    record: TokenRecord
    owner: User


@dataclass(frozen=True, slots=True)
class Grant:
    """A role on one model (``model_id``) or on every model (None)."""

    id: int
    model_id: int | None
    role: str
    created_at: datetime


_USER = "u.id, u.name, u.name_key, u.is_admin, u.is_service_account, u.created_at"
_TOKEN = ("t.id, t.prefix, t.note, t.created_at, t.expires_at, t.revoked_at, "
          "t.last_used_at, " + _USER)
_TOKENS = f"SELECT {_TOKEN} FROM tokens t JOIN users u ON u.id = t.user_id"


def _user(raw: Sequence[Any]) -> User:
    return User(raw[0], raw[1], raw[2], bool(raw[3]), bool(raw[4]), stored_time(raw[5]))


def _token(raw: Sequence[Any]) -> Token:
    owner = _user(raw[7:])
    return Token(TokenRecord(raw[0], owner.name, raw[1], raw[2], stored_time(raw[3]),
                             optional_time(raw[4]), optional_time(raw[5]),
                             optional_time(raw[6])), owner)


# ---- users --------------------------------------------------------------------------

def find_user(conn: Conn, name: str) -> User | None:
    raw = reader_for(conn).one(f"SELECT {_USER} FROM users u WHERE u.name_key = ?",
                               (user_key(name),))
    return _user(raw) if raw is not None else None


def insert_user(conn: Conn, name: str, *, admin: bool, service_account: bool, now: datetime
                ) -> User:
    reader = reader_for(conn)
    user_id = reader.value(
        "INSERT INTO users (name, name_key, is_admin, is_service_account, created_at) "
        "VALUES (?, ?, ?, ?, ?) RETURNING id",
        (name, user_key(name), admin, service_account, sql_time(reader, now)))
    return User(int(user_id), name, user_key(name), admin, service_account, as_stored(now))


def users(conn: Conn) -> list[User]:
    return [_user(raw) for raw in reader_for(conn).all(
        f"SELECT {_USER} FROM users u ORDER BY u.name_key")]


# ---- tokens -------------------------------------------------------------------------

def insert_token(conn: Conn, owner: User, *, digest: str, prefix: str, note: str,
                 now: datetime, expires_at: datetime | None) -> Token:
    reader = reader_for(conn)
    token_id = reader.value(
        "INSERT INTO tokens (user_id, hash, prefix, note, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (owner.id, digest, prefix, note, sql_time(reader, now),
         sql_time(reader, expires_at) if expires_at is not None else None))
    return Token(TokenRecord(int(token_id), owner.name, prefix, note, as_stored(now),
                             as_stored(expires_at) if expires_at is not None else None,
                             None, None), owner)


def token(conn: Conn, token_id: int) -> Token | None:
    raw = reader_for(conn).one(f"{_TOKENS} WHERE t.id = ?", (token_id,))
    return _token(raw) if raw is not None else None


def token_by_hash(conn: Conn, digest: str) -> Token | None:
    raw = reader_for(conn).one(f"{_TOKENS} WHERE t.hash = ?", (digest,))
    return _token(raw) if raw is not None else None


def tokens(conn: Conn, owner: User | None = None) -> list[Token]:
    """Every token (of ``owner``), oldest first."""
    if owner is None:
        found = reader_for(conn).all(f"{_TOKENS} ORDER BY t.id")
    else:
        found = reader_for(conn).all(f"{_TOKENS} WHERE u.id = ? ORDER BY t.id", (owner.id,))
    return [_token(raw) for raw in found]


def revoke_token(conn: Conn, token_id: int, now: datetime) -> None:
    """Revoke the token; the browser sessions opened with it end with it."""
    reader = reader_for(conn)
    reader.run("UPDATE tokens SET revoked_at = ? WHERE id = ?", (sql_time(reader, now), token_id))
    reader.run("DELETE FROM web_sessions WHERE token_id = ?", (token_id,))


def mark_used(conn: Conn, token_id: int, now: datetime) -> None:
    reader = reader_for(conn)
    reader.run("UPDATE tokens SET last_used_at = ? WHERE id = ?",
               (sql_time(reader, now), token_id))


# ---- grants -------------------------------------------------------------------------

_GRANT = "g.id, g.model_id, g.role, g.created_at"


def _grant(raw: Sequence[Any]) -> Grant:
    return Grant(raw[0], raw[1], raw[2], stored_time(raw[3]))


def find_grant(conn: Conn, user_id: int, model_id: int | None) -> Grant | None:
    """The user's grant on the model (None: its registry-wide grant)."""
    if model_id is None:
        raw = reader_for(conn).one(f"SELECT {_GRANT} FROM grants g WHERE g.user_id = ? "
                                   "AND g.model_id IS NULL", (user_id,))
    else:
        raw = reader_for(conn).one(f"SELECT {_GRANT} FROM grants g WHERE g.user_id = ? "
                                   "AND g.model_id = ?", (user_id, model_id))
    return _grant(raw) if raw is not None else None


def insert_grant(conn: Conn, user_id: int, model_id: int | None, role: str, now: datetime
                 ) -> Grant:
    reader = reader_for(conn)
    grant_id = reader.value(
        "INSERT INTO grants (user_id, model_id, role, created_at) VALUES (?, ?, ?, ?) "
        "RETURNING id", (user_id, model_id, role, sql_time(reader, now)))
    return Grant(int(grant_id), model_id, role, as_stored(now))


def set_role(conn: Conn, grant_id: int, role: str) -> None:
    reader_for(conn).run("UPDATE grants SET role = ? WHERE id = ?", (role, grant_id))


def delete_grant(conn: Conn, grant_id: int) -> None:
    reader_for(conn).run("DELETE FROM grants WHERE id = ?", (grant_id,))


def grants_on(conn: Conn, model_id: int | None, shown: str) -> list[GrantRecord]:
    """Who holds which role on the model (None: registry-wide), by user name; ``shown`` is
    the name the records carry."""
    where = "g.model_id IS NULL" if model_id is None else "g.model_id = ?"
    found = reader_for(conn).all(
        f"SELECT u.name, g.role, g.created_at FROM grants g JOIN users u ON u.id = g.user_id "
        f"WHERE {where} ORDER BY u.name_key", () if model_id is None else (model_id,))
    return [GrantRecord(shown, name, role, stored_time(at)) for name, role, at in found]


def roles_of(conn: Conn, user_id: int) -> list[tuple[int | None, str, str | None]]:
    """(model id or None, role, the model's name key) of every grant the user holds."""
    return [(model_id, role, key) for model_id, role, key in reader_for(conn).all(
        "SELECT g.model_id, g.role, m.name_key FROM grants g "
        "LEFT OUTER JOIN models m ON m.id = g.model_id WHERE g.user_id = ?", (user_id,))]


# ---- browser sessions ---------------------------------------------------------------

def open_session(conn: Conn, token_id: int, digest: str, *, now: datetime, until: datetime
                 ) -> None:
    """Record a signed-in browser (by its secret's sha256); expired sessions are dropped."""
    reader = reader_for(conn)
    at = sql_time(reader, now)
    reader.run("DELETE FROM web_sessions WHERE expires_at <= ?", (at,))
    reader.run("INSERT INTO web_sessions (hash, token_id, created_at, expires_at) "
               "VALUES (?, ?, ?, ?)", (digest, token_id, at, sql_time(reader, until)))


def session_token(conn: Conn, digest: str) -> tuple[datetime, Token] | None:
    """When the session ends, and the token it was opened with."""
    raw = reader_for(conn).one(
        f"SELECT s.expires_at, {_TOKEN} FROM web_sessions s "
        f"JOIN tokens t ON t.id = s.token_id JOIN users u ON u.id = t.user_id "
        f"WHERE s.hash = ?", (digest,))
    return (stored_time(raw[0]), _token(raw[1:])) if raw is not None else None


def close_session(conn: Conn, digest: str) -> None:
    reader_for(conn).run("DELETE FROM web_sessions WHERE hash = ?", (digest,))
