"""One error hierarchy for the whole product.

Every error carries a stable dotted ``code`` (``name.invalid``,
``stage.illegal_transition``), a ``message`` that names the value and the rule,
a ``hint`` that says how to fix it, and machine-readable ``details``. The
*kind* of an error (its class) decides the HTTP status, the MLflow
``error_code`` and the CLI exit code; those mappings live at the edges
(api, cli), once.
"""

from __future__ import annotations

from typing import Any


class CharterError(Exception):
    """Base of every error the product raises on purpose."""

    kind = "error"

    def __init__(
        self,
        code: str,
        message: str,
        hint: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.details = details or {}

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt as the base form of its class, so errors survive a process boundary.
        return (_rebuild, (type(self), self.code, self.message, self.hint, self.details))

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "hint": self.hint}
        if self.details:
            body["details"] = self.details
        return body

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InvalidInput(CharterError):
    """The request is malformed or breaks a rule about values (400)."""

    kind = "invalid"


class NotFound(CharterError):
    """The thing asked for does not exist, or the caller may not see it (404)."""

    kind = "not_found"


class AlreadyExists(CharterError):
    """Creating something whose identity is taken (400 on the MLflow surface, 409 native)."""

    kind = "exists"


class Conflict(CharterError):
    """The request is well-formed but the current state refuses it (409)."""

    kind = "conflict"


class Unauthenticated(CharterError):
    kind = "unauthenticated"


class PermissionDenied(CharterError):
    kind = "forbidden"


class IntegrityFailure(CharterError):
    """Stored data does not match what was recorded (a digest, the audit chain)."""

    kind = "integrity"


class StorageFull(CharterError):
    """The disk that would hold the bytes has no room for them (507)."""

    kind = "storage_full"


def _rebuild(cls: type[CharterError], code: str, message: str, hint: str,
             details: dict[str, Any]) -> CharterError:
    error = CharterError.__new__(cls)
    CharterError.__init__(error, code, message, hint, details)
    return error


def error_from_dict(kind: str, body: dict[str, Any]) -> CharterError:
    """Rebuild an error from its wire form (the remote client uses this)."""
    cls = _BY_KIND.get(kind, CharterError)
    return cls(body.get("code", "error"), body.get("message", ""), body.get("hint", ""),
               body.get("details") or {})


_BY_KIND: dict[str, type[CharterError]] = {
    cls.kind: cls
    for cls in (InvalidInput, NotFound, AlreadyExists, Conflict, Unauthenticated,
                PermissionDenied, IntegrityFailure, StorageFull)
}
