"""The checks every use case makes before it reads or changes a model.

The rules are ``charter.domain.access``; this mixin applies them to the acting
principal, writes every refusal to the denied-attempts log, and filters listings
down to the models the principal may read. It lives in the service so the REST
API, the MLflow surface, the web UI and the CLI against a server get one answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from charter.domain import events
from charter.domain.access import (
    CREATE_MODEL,
    EVERY_MODEL,
    READ,
    REGISTER,
    Role,
    admin_only,
    denied_registry,
    require,
    role_for_move,
)
from charter.domain.errors import CharterError
from charter.domain.gates import StageGates
from charter.domain.lifecycle import Stage
from charter.service.base import ServiceBase
from charter.store import access, models
from charter.store.database import WriteTx
from charter.store.driver import Conn


class GuardMixin(ServiceBase):
    def _former_names(self, conn: Any, model: Any, declared: Mapping[str, Any]) -> list[str]:
        """The names ``model`` had before (its redirects), under which per-model settings
        of ``declared`` may still be; no query when ``declared`` is empty."""
        return models.redirect_keys(conn, model.id) if declared else []

    def _gates_of(self, conn: Any, model: Any, target: Stage) -> StageGates:
        """The gates of moving a version of ``model`` to ``target`` (domain.per_model)."""
        gates = self.policies.gates
        return gates.for_move(model.name, target,
                              former=self._former_names(conn, model, gates.models))

    def _require(self, operation: str, model: Any, *, needed: Role | None = None,
                 what: str = "") -> None:
        """Refuse unless the principal may do ``operation`` on ``model`` (a row with
        ``id`` and ``name``): 404 when it may not read the model, 403 otherwise."""
        if self.principal.admin:
            return
        try:
            require(self.principal, operation, model_id=model.id, model=model.name,
                    needed=needed, what=what)
        except CharterError as error:
            self._log_denial(error, operation, model.name)
            raise

    def _require_move(self, model: Any, version: int, from_stage: Stage,
                      to_stage: Stage) -> None:
        self._require("transition", model, needed=role_for_move(from_stage, to_stage),
                      what=f"move v{version} from {from_stage} to {to_stage}")

    def _require_registry(self, operation: str) -> None:
        if not self.principal.may(operation):
            error = denied_registry(self.principal, operation)
            self._log_denial(error, operation, EVERY_MODEL)
            raise error

    def _require_admin(self, what: str) -> None:
        if not self.principal.admin:
            error = admin_only(self.principal, what)
            self._log_denial(error, "admin", EVERY_MODEL)
            raise error

    def _check_read(self, conn: Conn, name: str) -> None:
        """For reads that do not load the model row themselves: one more lookup, paid
        only by a principal that cannot read every model."""
        if not self.principal.sees_all:
            row, _ = models.get(conn, name)
            self._require(READ, row)

    def _readable_ids(self) -> list[int] | None:
        """The ids of the models a listing may show the principal; None: every model."""
        return None if self.principal.sees_all else self.principal.readable_ids()

    def _check_may_register(self, name: str, create_model: bool) -> None:
        """Refuse a registration before any byte is stored (the transaction checks again)."""
        if self.principal.admin:
            return
        with self._snapshot() as reader:
            row = models.find(reader, name)
            if row is None and (not create_model or models.redirect_of(reader, name)):
                row, _ = models.get(reader, name)  # a redirect, or not found
        if row is None:
            self._require_registry(CREATE_MODEL)
        else:
            self._require(REGISTER, row)

    def _grant_creator(self, tx: WriteTx, model: models.ModelRow) -> None:
        """The user who creates a model owns it (a local admin needs no grant)."""
        if self.principal.user_id is None:
            return
        access.insert_grant(tx, self.principal.user_id, model.id, str(Role.OWNER), tx.now)
        tx.record(events.NewEvent(events.ACCESS_GRANTED, model.name,
                                  reason="the creator of a model owns it",
                                  payload={"user": self.principal.name,
                                           "role": str(Role.OWNER), "previous": None}))

    def _log_denial(self, error: CharterError, operation: str, model: str) -> None:
        self.denials.record({
            "actor": self.principal.name, "token_id": self.principal.token_id,
            "operation": operation, "model": model, "code": error.code,
            "needs": error.details.get("needs"), "status": error.kind})
