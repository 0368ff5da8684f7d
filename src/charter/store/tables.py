"""The schema. The contract's invariants live here as constraints, not only as code:

* ``models.name_key`` is unique: names are compared case-insensitively;
* ``versions (model_id, version)`` is unique and ``stage`` is one of four words;
* ``one_production_per_model`` is a partial unique index: a second Production
  version cannot be written, whatever the code above it does;
* ``retired_names`` keeps a deleted name's version counter (its tombstone);
* ``events`` is append-only (triggers in the migration refuse UPDATE and DELETE)
  and hash-chained through ``chain_head``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

STAGE_CHECK = "stage IN ('None', 'Staging', 'Production', 'Archived')"


class Base(DeclarativeBase):
    pass


class Model(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    name_key: Mapped[str] = mapped_column(String(256), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    last_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)

    tags: Mapped[list[ModelTag]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="select")
    aliases: Mapped[list[Alias]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="select")


class ModelTag(Base):
    # ix_model_tags_key_value (key, value) finds a tag's owners; on PostgreSQL the
    # value is indexed by its md5 (migration 0007; store/search.py compares both).
    __tablename__ = "model_tags"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Version(Base):
    __tablename__ = "versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version", name="uq_version_number"),
        CheckConstraint(STAGE_CHECK, name="ck_version_stage"),
        CheckConstraint("version > 0", name="ck_version_positive"),
        Index(
            "one_production_per_model", "model_id", unique=True,
            sqlite_where=text("stage = 'Production'"),
            postgresql_where=text("stage = 'Production'"),
        ),
        Index("ix_versions_stage_version", "model_id", "stage", "version"),
        Index("ix_versions_run_id", "run_id"),
        Index("ix_versions_updated", "updated_at"),
        # ix_versions_source (source): a B-tree on SQLite, a hash index on PostgreSQL,
        # whose B-tree entries cannot hold a long source (migration 0007).
        Index("ix_versions_signature", "signature"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(16), default="None")
    source: Mapped[str] = mapped_column(Text, default="")
    run_id: Mapped[str] = mapped_column(String(256), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    digest: Mapped[str] = mapped_column(String(64), default="")
    # READY; PENDING_REGISTRATION while an owner decides on an unknown signer (held);
    # FAILED_REGISTRATION once refused (MLflow's three statuses).
    status: Mapped[str] = mapped_column(String(24), default="READY")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    stage_changed_at: Mapped[datetime] = mapped_column(DateTime)
    # Who signed its files (domain.signers), and the signature bundle's blob; set once.
    signer: Mapped[str | None] = mapped_column(String(1100), nullable=True)
    signature: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # MLflow 3's logged-model id (``m-…``) the version was registered from; "" if none.
    logged_model_id: Mapped[str] = mapped_column(String(64), default="", server_default="")

    model: Mapped[Model] = relationship(lazy="joined", innerjoin=True)
    tags: Mapped[list[VersionTag]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="select")
    files: Mapped[list[VersionFile]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="select",
        order_by="VersionFile.path")


class VersionInterface(Base):
    """A version's interface (domain.interface), as canonical JSON; set once, never
    updated (a trigger refuses it), gone with the version."""

    __tablename__ = "version_interfaces"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("versions.id", ondelete="CASCADE"), primary_key=True)
    spec: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(32))   # mlmodel, explicit, tag
    created_at: Mapped[datetime] = mapped_column(DateTime)


class VersionTag(Base):
    # ix_version_tags_key_value: as ModelTag's (migration 0007).
    __tablename__ = "version_tags"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("versions.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class VersionFile(Base):
    __tablename__ = "version_files"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("versions.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)


class Alias(Base):
    __tablename__ = "aliases"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id", ondelete="CASCADE"),
                                            index=True)

    version: Mapped[Version] = relationship(lazy="select")


class RetiredName(Base):
    """A deleted or renamed-away name's tombstone: its counter outlives the model."""

    __tablename__ = "retired_names"

    name_key: Mapped[str] = mapped_column(String(256), primary_key=True)
    last_version: Mapped[int] = mapped_column(Integer)


class Redirect(Base):
    """An old name that keeps resolving to its model: renamed, merged by an import, or
    pointed there by an admin."""

    __tablename__ = "redirects"

    name_key: Mapped[str] = mapped_column(String(256), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_model_seq", "model_key", "seq"),
        Index("ix_events_time", "time"),
        Index("ix_events_action_seq", "action", "seq"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # ISO-8601 UTC text, fixed width: it is hashed as stored, and sorts as time does.
    time: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(256))
    model_key: Mapped[str] = mapped_column(String(256))
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    from_stage: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_stage: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    correlation_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AllowedSigner(Base):
    """Who may sign a model's versions: pinned by its first signed version, then edited by
    its owners (docs/provenance.md). A key's PEM is kept so later bundles can be checked
    without the client sending it again."""

    __tablename__ = "allowed_signers"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    signer: Mapped[str] = mapped_column(String(1100), primary_key=True)
    public_key: Mapped[str] = mapped_column(Text, default="")
    added_by: Mapped[str] = mapped_column(String(256))
    added_at: Mapped[datetime] = mapped_column(DateTime)


class Attestation(Base):
    """An in-toto statement about a version's bytes; the document is a blob (``sha256``),
    its predicate kept here too so gates read it without the blob store. Immutable."""

    __tablename__ = "attestations"
    __table_args__ = (
        UniqueConstraint("version_id", "sha256", name="uq_attestation_document"),
        Index("ix_attestations_version", "version_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id", ondelete="CASCADE"))
    predicate_type: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    predicate: Mapped[str] = mapped_column(Text)
    signer: Mapped[str | None] = mapped_column(String(1100), nullable=True)
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ChainHead(Base):
    """One row: the last event's sequence number and hash.

    Locking it is how a write transaction takes its turn: the chain must be
    extended one event at a time, and the same turn makes every read-check-write
    in the transaction race-free on PostgreSQL (SQLite gets it from BEGIN IMMEDIATE).
    """

    __tablename__ = "chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    time: Mapped[str] = mapped_column(String(32), default="")  # the last event's time
    # The newest signed checkpoint (domain.checkpoints): the seq it signed and when, read
    # with the head so deciding whether the next one is due costs no query.
    checkpoint_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    checkpoint_time: Mapped[str] = mapped_column(String(32), default="", server_default="")



class AuditVerified(Base):
    """One row: the point up to which the audit chain was last proved (its seq and hash,
    and when), and the last full walk's seq and time. An incremental verify starts after
    ``seq`` once the event there still hashes to ``hash`` (service.checkpoints)."""

    __tablename__ = "audit_verified"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    time: Mapped[str] = mapped_column(String(32))
    full_seq: Mapped[int] = mapped_column(Integer)
    full_time: Mapped[str] = mapped_column(String(32))

# --- access control (docs/access.md) ----------------------------------------------------


class User(Base):
    """A person or a service account; it signs in with its tokens."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    name_key: Mapped[str] = mapped_column(String(128), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_service_account: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Token(Base):
    """An API token: only its sha256 is stored; ``prefix`` tells tokens apart in listings."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Grant(Base):
    """A role for a user on one model, or on every model (``model_id`` NULL).

    Keyed by the model's id, not its name: a rename keeps the grants, and deleting
    the model deletes them (a name registered again starts with no grants).
    """

    __tablename__ = "grants"
    __table_args__ = (
        CheckConstraint("role IN ('reader', 'contributor', 'maintainer', 'owner')",
                        name="ck_grant_role"),
        Index("uq_grant_model", "user_id", "model_id", unique=True,
              sqlite_where=text("model_id IS NOT NULL"),
              postgresql_where=text("model_id IS NOT NULL")),
        Index("uq_grant_registry", "user_id", unique=True,
              sqlite_where=text("model_id IS NULL"), postgresql_where=text("model_id IS NULL")),
        Index("ix_grants_model", "model_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    model_id: Mapped[int | None] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), nullable=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class WebSession(Base):
    """A signed-in browser: the cookie holds a random id, the table only its sha256.

    A session lives no longer than the token it was opened with, and dies with it.
    """

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id", ondelete="CASCADE"),
                                          index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


# --- approvals and webhooks (docs/governance.md) ---------------------------------------


class ApprovalRequest(Base):
    """A request to move a version from ``from_stage`` to ``to_stage``.

    ``stage_since`` is when the version entered ``from_stage``: once the version
    leaves that stage (even to come back) the request and its approvals are stale.
    """

    __tablename__ = "approval_requests"
    __table_args__ = (
        CheckConstraint("from_stage IN ('None', 'Staging', 'Production', 'Archived')",
                        name="ck_approval_from_stage"),
        CheckConstraint("to_stage IN ('Staging', 'Production', 'Archived')",
                        name="ck_approval_to_stage"),
        Index("ix_approval_requests_version", "version_id", "to_stage"),
        Index("ix_approval_requests_model", "model_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    from_stage: Mapped[str] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    stage_since: Mapped[datetime] = mapped_column(DateTime)
    requested_by: Mapped[str] = mapped_column(String(256))
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    comment: Mapped[str] = mapped_column(Text, default="")

    decisions: Mapped[list[ApprovalDecision]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin",
        order_by="ApprovalDecision.id")


class ApprovalDecision(Base):
    """One person's approve or reject on a request; the database lets each decide once."""

    __tablename__ = "approval_decisions"
    __table_args__ = (
        UniqueConstraint("request_id", "actor", name="uq_approval_decision_actor"),
        CheckConstraint("decision IN ('approve', 'reject')", name="ck_approval_decision"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("approval_requests.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(256))
    decision: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime] = mapped_column(DateTime)


class WebhookSubscription(Base):
    """Where events are POSTed. The secret signs every body, so it is stored as given
    (it must be retrievable); listings show only its first characters."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(256))
    events: Mapped[str] = mapped_column(Text, default="")   # comma-separated; "" = every event
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class WebhookOutbox(Base):
    """One delivery: an event for one subscription, written in the event's transaction.

    ``body`` holds the exact bytes that are signed and sent on every attempt. A
    worker claims a due row by moving ``next_attempt_at`` past a lease, so a worker
    that dies mid-send leaves the row to be retried, never lost.
    """

    __tablename__ = "webhook_outbox"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'dead')",
                        name="ck_webhook_outbox_status"),
        Index("ix_webhook_outbox_due", "status", "next_attempt_at"),
        Index("ix_webhook_outbox_subscription", "subscription_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    event_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: a test ping
    action: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(256), default="")
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")


class WebhookDelivery(Base):
    """The delivery log: one row per attempt."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_outbox.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str] = mapped_column(Text, default="")
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


class ConsumerReport(Base):
    """Per consumer (a named deployment) and ``models:/`` URI: the version it last
    reported serving, since when, and when it was last seen (docs/contracts.md)."""

    __tablename__ = "consumers"
    __table_args__ = (
        UniqueConstraint("model_id", "consumer", "uri", name="uq_consumer_uri"),
        Index("ix_consumers_model_seen", "model_id", "last_seen"),
        CheckConstraint("version > 0", name="ck_consumer_version_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    consumer: Mapped[str] = mapped_column(String(128))
    uri: Mapped[str] = mapped_column(String(600))
    version: Mapped[int] = mapped_column(Integer)
    since: Mapped[datetime] = mapped_column(DateTime)
    last_seen: Mapped[datetime] = mapped_column(DateTime)
