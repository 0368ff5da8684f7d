"""What every use case shares: its dependencies, the acting principal, the clock, the
transactions, and the checks made before a model is read or changed.

``ServiceBase`` is the one base of every use-case mixin (``RegistryService`` is their
sum; none inherits another). The access rules are ``charter.domain.access``; the base
applies them to the acting principal, writes every refusal to the denied-attempts
log and keeps listings to the models the principal may read. They live in the
service so the REST API, the MLflow surface, the web UI and the CLI against a server
get one answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from charter.domain import error_codes as codes
from charter.domain import events
from charter.domain.access import (
    CREATE_MODEL,
    EVERY_MODEL,
    READ,
    REGISTER,
    AccessPolicy,
    Principal,
    Role,
    admin_only,
    denied_registry,
    hidden_model,
    require,
    role_for_move,
)
from charter.domain.consumers import ConsumerSettings
from charter.domain.errors import CharterError, NotFound
from charter.domain.gates import GatePolicy, StageGates
from charter.domain.lifecycle import DEFAULT_TABLE, Stage, TransitionTable
from charter.domain.naming import NamingPolicy
from charter.domain.records import ModelBrief
from charter.domain.retention import RetentionPolicy
from charter.domain.signers import SigningPolicy
from charter.domain.sources import SourcePolicy
from charter.domain.webhooks import WebhookSettings
from charter.service.consumer_ledger import ConsumerLedger
from charter.service.ports import BlobStore, DenialLog, NoDenialLog
from charter.store import access, at_once, model_hints, models
from charter.store.database import Database, OrmRead, WriteTx
from charter.store.driver import Conn, Reader
from charter.store.model_hints import Miss
from charter.store.models import FollowedRow, ModelRow


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Policies:
    naming: NamingPolicy = field(default_factory=NamingPolicy)
    transitions: TransitionTable = DEFAULT_TABLE
    sources: SourcePolicy = field(default_factory=SourcePolicy)
    access: AccessPolicy = field(default_factory=AccessPolicy)
    gates: GatePolicy = field(default_factory=GatePolicy)
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    signing: SigningPolicy = field(default_factory=SigningPolicy)
    certificate_roots: tuple[Path, ...] = ()   # CA bundles for certificate-signed models
    tracking_uri: str = ""   # [mlflow] tracking_uri: where logged models' MLmodels are read
    consumers: ConsumerSettings = field(default_factory=ConsumerSettings)


class ServiceBase:
    def __init__(self, db: Database, blobs: BlobStore, policies: Policies | None = None,
                 *, clock: Callable[[], datetime] = utc_now, actor: str = "anonymous",
                 principal: Principal | None = None, denials: DenialLog | None = None) -> None:
        self.db = db
        self.blobs = blobs
        self.policies = policies or Policies()
        self.clock = clock
        # Who the use cases act for, with its rights (charter.domain.access); a plain
        # actor name is a local admin: the embedded registry, a server with auth off.
        self.principal = principal or Principal.local(actor)
        self.actor = self.principal.name
        self.denials: DenialLog = denials or NoDenialLog()
        # What this worker's lookups noted of consumers (shared by every as_principal copy).
        self.ledger = ConsumerLedger()

    def as_actor(self, actor: str) -> Self:
        """The same registry acting for a local admin named ``actor`` (auth off)."""
        return self.as_principal(Principal.local(actor))

    def as_principal(self, principal: Principal) -> Self:
        """The same registry acting for a signed-in principal (one per request)."""
        # copy.copy's own steps for a plain object (a new instance, the same attributes),
        # without its generic dispatch through __reduce_ex__: a quarter of the cost, paid
        # once per request.
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.principal, other.actor = principal, principal.name
        return other

    # ---- transactions ---------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[WriteTx]:
        """A write transaction, holding the write turn; its events join the audit chain."""
        with self._hiding(), self.db.write(self.actor, self.clock) as tx:
            yield tx

    @contextmanager
    def _read(self) -> Iterator[Reader]:
        """A read transaction on the driver's connection: what the store modules written
        in plain SQL take (every one but webhooks and bulk)."""
        with self._hiding(), self.db.snapshot() as reader:
            yield reader

    @contextmanager
    def _one_read(self, *, heavy: bool = False) -> Iterator[Reader]:
        """For a read that is one statement on PostgreSQL: no transaction around it there
        (``Database.one_statement``: no BEGIN and no COMMIT, two round trips fewer); a read
        transaction elsewhere, and within a group commit. SQLite gets the transaction even
        though ``one_statement`` serves it too: the reads that come here (the MLflow
        searches' pages) are two statements on SQLite, and one snapshot must hold both.
        ``heavy``: a search page, which the point reads sent with it do not wait for
        (store/pg_batch.py)."""
        if self.db.dialect == "postgresql":
            with self._hiding(), self.db.one_statement(heavy=heavy) as single:
                if single is not None:
                    yield single
                    return
        with self._read() as reader:
            yield reader

    @contextmanager
    def _read_session(self) -> Iterator[OrmRead]:
        """A read transaction on an ORM session, for the store modules written with
        SQLAlchemy's ORM (webhooks, bulk)."""
        with self._hiding(), self.db.read() as session:
            yield session

    def _brief_at_once(self, name: str) -> ModelBrief | None:
        """On PostgreSQL, the ModelBrief of the model named ``name`` now, read in one
        statement (store/at_once.py ``model_brief_or_miss``) and its access checked; or
        its miss, told by the same statement, raised. None: a former name, or another
        database — the caller reads through ``models.get``, which follows a redirect. A miss
        of registered-models/get was two statements before, three before that, and
        ``models.get`` in a thread before that: 1.7–1.9 ms of the server's CPU."""
        if self.db.dialect != "postgresql":
            return None
        with self._one_read() as single:
            found = at_once.model_brief_or_miss(single, name, hint=self.principal.sees_all)
        if isinstance(found, Miss):
            self._refuse(name, found)
            return None
        row, brief = found
        self._require(READ, row)
        return brief

    def _refuse(self, name: str, miss: Miss) -> None:
        """Raise the not-found of ``name`` that ``miss`` tells, unless it is a former name.
        No hint for a caller who may not see every model (``_hiding``)."""
        if miss.former:
            return
        if not self.principal.sees_all:
            raise hidden_model(name, denied=False)
        raise model_hints.missing(name, miss.candidates)

    @contextmanager
    def _hiding(self) -> Iterator[None]:
        """A caller who cannot see every model gets no "did you mean" hints: they could
        name models it may not read."""
        try:
            yield
        except NotFound as error:
            if error.code != codes.MODEL_NOT_FOUND or self.principal.sees_all:
                raise
            raise hidden_model(str(error.details.get("name", "")), denied=False) from None

    # ---- access checks --------------------------------------------------------------

    def _require(self, operation: str, model: ModelRow, *, needed: Role | None = None,
                 what: str = "") -> None:
        """Refuse unless the principal may do ``operation`` on ``model``: 404 when it may
        not read the model, 403 otherwise."""
        if self.principal.admin:
            return
        try:
            require(self.principal, operation, model_id=model.id, model=model.name,
                    needed=needed, what=what)
        except CharterError as error:
            self._log_denial(error, operation, model.name)
            if isinstance(model, FollowedRow) and isinstance(error, NotFound):
                # not the name it has now (a row remade by _replace has no asked name)
                raise hidden_model(getattr(model, "asked", model.name)) from None
            raise

    def _require_move(self, model: ModelRow, version: int, from_stage: Stage,
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
        """Refuse a registration before any byte is stored (the transaction checks again).

        When the registration may create the model, a model the principal may not read
        answers as an unused name does (the refusal to create models), never 404: else
        anyone could probe which names exist (docs/access.md)."""
        if self.principal.admin:
            return
        with self._read() as reader:
            row = models.find(reader, name)
            if row is None and (not create_model or models.redirect_of(reader, name)):
                row, _ = models.get(reader, name)  # a redirect, or not found
        if row is None or (create_model and self.principal.role_on(row.id) is None):
            self._require_registry(CREATE_MODEL)  # a principal that may, sees every model
        if row is not None:
            self._require(REGISTER, row)

    def _grant_creator(self, tx: WriteTx, model: ModelRow) -> None:
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

    # ---- per-model configuration ----------------------------------------------------

    def _former_names(self, conn: Conn, model: ModelRow, declared: Mapping[str, Any]
                      ) -> list[str]:
        """The names ``model`` had before (its redirects), under which per-model settings
        of ``declared`` may still be; no query when ``declared`` is empty."""
        return models.redirect_keys(conn, model.id) if declared else []

    def _gates_of(self, conn: Conn, model: ModelRow, target: Stage) -> StageGates:
        """The gates of moving a version of ``model`` to ``target`` (domain.per_model)."""
        gates = self.policies.gates
        return gates.for_move(model.name, target,
                              former=self._former_names(conn, model, gates.models))


def tag_not_found(owner: str, key: str) -> NotFound:
    return NotFound(codes.TAG_NOT_FOUND, f"{owner} has no tag '{key}'",
                    "list the tags with `charter show`", {"key": key})
