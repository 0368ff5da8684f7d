"""Access control: users, their tokens, per-model grants and web sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from charter.store.tables.base import Base


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
