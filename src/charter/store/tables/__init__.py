"""The schema. The contract's invariants live here as constraints, not only as code:

* ``models.name_key`` is unique: names are compared case-insensitively;
* ``versions (model_id, version)`` is unique and ``stage`` is one of four words;
* ``one_production_per_model`` is a partial unique index: a second Production
  version cannot be written, whatever the code above it does;
* ``retired_names`` keeps a deleted name's version counter (its tombstone);
* ``events`` is append-only (triggers in the migration refuse UPDATE and DELETE)
  and hash-chained through ``chain_head``.

The tables are grouped by aggregate in this package's modules (registry, audit, access,
governance); every name is imported from here: ``from charter.store import tables``.
"""

from __future__ import annotations

from charter.store.tables.access import Grant, Token, User, WebSession
from charter.store.tables.audit import AllowedSigner, Attestation, AuditVerified, ChainHead, Event
from charter.store.tables.base import STAGE_CHECK, Base
from charter.store.tables.governance import (
    ApprovalDecision,
    ApprovalRequest,
    ConsumerReport,
    WebhookDelivery,
    WebhookOutbox,
    WebhookSubscription,
)
from charter.store.tables.registry import (
    Alias,
    Model,
    ModelNameSuffix,
    ModelTag,
    Redirect,
    RetiredName,
    Version,
    VersionFile,
    VersionInterface,
    VersionTag,
)

__all__ = [
    "STAGE_CHECK",
    "Base",
    "Model",
    "ModelTag",
    "ModelNameSuffix",
    "Version",
    "VersionInterface",
    "VersionTag",
    "VersionFile",
    "Alias",
    "RetiredName",
    "Redirect",
    "Event",
    "AllowedSigner",
    "Attestation",
    "ChainHead",
    "AuditVerified",
    "User",
    "Token",
    "Grant",
    "WebSession",
    "ApprovalRequest",
    "ApprovalDecision",
    "WebhookSubscription",
    "WebhookOutbox",
    "WebhookDelivery",
    "ConsumerReport",
]
