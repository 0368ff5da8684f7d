"""Models and their versions: names, tags, aliases, files, interfaces, and what a
deleted or renamed name leaves behind (its tombstone, its redirect)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
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
from sqlalchemy.orm import Mapped, mapped_column, relationship

from charter.store.tables.base import STAGE_CHECK, Base


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


class ModelNameSuffix(Base):
    """Every suffix of a model's name key: a name contains ``s`` exactly when one of its
    suffixes starts with ``s``, so the listing's substring filter is a range of this
    index (store/models.py ``page``) and costs what its matches do, not a walk over every
    model's name. Written by the store with the name (insert, rename, import); goes with
    the model. On PostgreSQL the suffix compares bytewise (collation "C"), as SQLite's
    does, so the range is exactly the names that start with ``s``."""

    __tablename__ = "model_name_suffixes"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    suffix: Mapped[str] = mapped_column(
        String(256).with_variant(String(256, collation="C"), "postgresql"), primary_key=True)

    __table_args__ = (Index("ix_model_name_suffixes_suffix", "suffix", "model_id"),)


class Redirect(Base):
    """An old name that keeps resolving to its model: renamed, merged by an import, or
    pointed there by an admin."""

    __tablename__ = "redirects"

    name_key: Mapped[str] = mapped_column(String(256), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
