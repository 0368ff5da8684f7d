"""Governance and delivery: approval requests and decisions, webhook subscriptions,
their outbox and deliveries, and the consumers a deployment reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from charter.store.tables.base import Base


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
