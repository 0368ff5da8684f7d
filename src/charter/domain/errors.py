"""One error hierarchy for the whole product, and what each kind becomes at each door.

Every error carries a stable dotted ``code`` (``name.invalid``,
``stage.illegal_transition``; every code is a constant of ``error_codes``), a
``message`` that names the value and the rule, a ``hint`` that says how to fix it,
and machine-readable ``details``. The *kind* of an error (its class) decides the
HTTP status, the MLflow ``error_code`` and the CLI exit code: ``OUTCOMES`` is the
one table the REST, MLflow, web UI and CLI funnels read, and a class whose kind has
no row in it cannot be defined.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from charter.domain.error_codes import http_status_of


@dataclass(frozen=True)
class Outcome:
    """What an error of one kind becomes at each door."""

    http_status: int     # REST v1 and the web UI
    mlflow_code: str     # the MLflow surface's ``error_code`` ...
    mlflow_status: int   # ... and its status, from MLflow's own map (mlflow.exceptions)
    exit_code: int       # the ``charter`` CLI; scripts branch on it (docs/cli.md)


# A refused transition (``conflict``) is INVALID_PARAMETER_VALUE so the MLflow client
# shows our explanation at once; MLflow has no 409. Exit code 2 is Typer's usage error.
OUTCOMES: dict[str, Outcome] = {
    #                          HTTP  MLflow error_code            MLflow  exit
    "invalid":         Outcome(400, "INVALID_PARAMETER_VALUE", 400, 3),
    "not_found":       Outcome(404, "RESOURCE_DOES_NOT_EXIST", 404, 4),
    "exists":          Outcome(409, "RESOURCE_ALREADY_EXISTS", 400, 5),
    "conflict":        Outcome(409, "INVALID_PARAMETER_VALUE", 400, 5),
    "unauthenticated": Outcome(401, "UNAUTHENTICATED", 401, 6),
    "forbidden":       Outcome(403, "PERMISSION_DENIED", 403, 6),
    "integrity":       Outcome(500, "INTERNAL_ERROR", 500, 7),
    "storage_full":    Outcome(507, "INTERNAL_ERROR", 500, 8),
    # the operator must act (a missing optional package, unreadable trust roots)
    "unavailable":     Outcome(503, "TEMPORARILY_UNAVAILABLE", 503, 9),
    "error":           Outcome(500, "INTERNAL_ERROR", 500, 1),   # CharterError itself
}


def outcome(error: CharterError) -> Outcome:
    return OUTCOMES[error.kind]


def http_status(error: CharterError) -> int:
    """The error's HTTP status: its kind's, unless its code has its own (405)."""
    return http_status_of(error.code) or OUTCOMES[error.kind].http_status


class CharterError(Exception):
    """Base of every error the product raises on purpose."""

    kind = "error"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind not in OUTCOMES:  # an unmapped kind would answer 500 / exit 1 silently
            raise TypeError(f"{cls.__name__}.kind {cls.kind!r} has no row in "
                            "charter.domain.errors.OUTCOMES; add one")

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


class Unavailable(CharterError):
    """The registry cannot do this until its operator acts: a missing optional package,
    an unreadable key or trust root (503; the request itself was fine)."""

    kind = "unavailable"


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
                PermissionDenied, IntegrityFailure, StorageFull, Unavailable)
}
