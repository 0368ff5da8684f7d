"""The access-control half of ``RemoteRegistry``: your tokens, grants, who you are.

Same names and return types as the service's ``AccessMixin``. Users are created on
the server's machine only (``charter user create``), so there is no remote call for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from charter.client.session import segment
from charter.domain.access import EVERY_MODEL, GrantRecord, IssuedToken, Role, TokenRecord


class AccessClientMixin:
    def _call(self, method: str, path: str, *, json: Any = None, params: Any = None
              ) -> Any:  # provided by RemoteRegistry
        raise NotImplementedError

    def whoami(self) -> dict[str, Any]:
        return dict(self._call("GET", "/whoami"))

    def create_token(self, user: str | None = None, *, expires: str | timedelta | None = None,
                     note: str = "") -> IssuedToken:
        if isinstance(expires, timedelta):
            expires = f"{max(1, int(expires.total_seconds() // 60))}m"
        answer = self._call("POST", "/tokens", json={"user": user, "expires": expires,
                                                     "note": note})
        return IssuedToken(token_record(answer), answer["token"])

    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        params = {"user": user} if user is not None else None
        return [token_record(t) for t in self._call("GET", "/tokens", params=params)["tokens"]]

    def revoke_token(self, token_id: int | str) -> TokenRecord:
        return token_record(self._call("DELETE", f"/tokens/{segment(token_id)}"))

    def grant(self, model: str, user: str, role: str | Role, *, reason: str = ""
              ) -> GrantRecord:
        body = {"role": str(role), "reason": reason}
        return grant_record(self._call("PUT", _grants(model, user), json=body))

    def revoke(self, model: str, user: str, *, reason: str = "") -> None:
        self._call("DELETE", _grants(model, user), json={"reason": reason})

    def list_grants(self, model: str = EVERY_MODEL) -> list[GrantRecord]:
        path = "/grants" if model == EVERY_MODEL else f"/models/{segment(model)}/grants"
        return [grant_record(g) for g in self._call("GET", path)["grants"]]


def _grants(model: str, user: str) -> str:
    if model == EVERY_MODEL:
        return f"/grants/{segment(user)}"
    return f"/models/{segment(model)}/grants/{segment(user)}"


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def token_record(data: dict[str, Any]) -> TokenRecord:
    created = _time(data["created_at"])
    assert created is not None
    return TokenRecord(int(data["id"]), data["user"], data["prefix"], data.get("note", ""),
                       created, _time(data.get("expires_at")), _time(data.get("revoked_at")),
                       _time(data.get("last_used_at")))


def grant_record(data: dict[str, Any]) -> GrantRecord:
    created = _time(data["created_at"])
    assert created is not None
    return GrantRecord(data["model"], data["user"], data["role"], created)
