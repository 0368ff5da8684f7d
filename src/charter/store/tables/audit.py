"""The audit: the append-only, hash-chained events and their head, the verified point,
and provenance (a model's allowed signers, a version's attestations)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from charter.store.tables.base import Base


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
