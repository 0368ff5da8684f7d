"""Every error code Charter raises: stable, dotted, and of one kind.

A code names one refusal (``name.invalid``, ``stage.illegal_transition``) and keeps its
meaning for good: clients, scripts and tests match on it. It is raised with the error
class of its kind, ``raise NotFound(codes.MODEL_NOT_FOUND, message, hint)``, and the
kind decides what the error becomes at each door — HTTP status, MLflow ``error_code``,
CLI exit code — in the one table ``charter.domain.errors.OUTCOMES``.

``api=False`` marks the codes no REST or MLflow client meets (the CLI's, the remote
client's, configuration's, the web UI's pages'); docs/rest.md lists every other one.
``tests/unit/test_error_catalogue.py`` holds each raise site to its code's kind, the
docs' error tables to this catalogue, and ``src/`` to these names (no code is spelled
out twice). Where a new error goes: docs/architecture.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Entry:
    kind: str              # the error class's ``kind``: a row of errors.OUTCOMES
    api: bool              # whether a REST or MLflow client can meet it
    http_status: int = 0   # the HTTP status, when it is not the kind's (0: the kind's)


CATALOGUE: dict[str, Entry] = {}


class _Kind:
    """Declares the codes of one kind: ``_invalid("name.invalid")``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __call__(self, code: str, *, api: bool = True, http_status: int = 0) -> str:
        if code in CATALOGUE:
            raise ValueError(f"error code {code!r} is declared twice")
        CATALOGUE[code] = Entry(self.kind, api, http_status)
        return code


_invalid = _Kind("invalid")
_not_found = _Kind("not_found")
_exists = _Kind("exists")
_conflict = _Kind("conflict")
_unauthenticated = _Kind("unauthenticated")
_forbidden = _Kind("forbidden")
_integrity = _Kind("integrity")
_storage_full = _Kind("storage_full")
_unavailable = _Kind("unavailable")
_other = _Kind("error")


def kind_of(code: str) -> str | None:
    """The kind a code is raised as; None for a code Charter does not raise."""
    entry = CATALOGUE.get(code)
    return entry.kind if entry else None


def http_status_of(code: str) -> int:
    """The HTTP status of the few codes whose status is not their kind's; else 0."""
    entry = CATALOGUE.get(code)
    return entry.http_status if entry else 0


# --- invalid (InvalidInput): a value breaks a rule
AFTER_INVALID: Final = _invalid("after.invalid")
ALIAS_INVALID: Final = _invalid("alias.invalid")
GATE_OVERRIDE_REASON_REQUIRED: Final = _invalid("gate.override_reason_required")
INTERFACE_INVALID: Final = _invalid("interface.invalid")
LIMIT_INVALID: Final = _invalid("limit.invalid")
MANIFEST_CONFLICT: Final = _invalid("manifest.conflict")
MANIFEST_DUPLICATE: Final = _invalid("manifest.duplicate")
MANIFEST_EMPTY: Final = _invalid("manifest.empty")
MANIFEST_INVALID: Final = _invalid("manifest.invalid")
MANIFEST_TOO_LARGE: Final = _invalid("manifest.too_large")
MAX_RESULTS_INVALID: Final = _invalid("max_results.invalid")
MODEL_ID_INVALID: Final = _invalid("model_id.invalid")
METHOD_NOT_ALLOWED: Final = _invalid("method.not_allowed", http_status=405)
NAME_INVALID: Final = _invalid("name.invalid")
PAGE_TOKEN_INVALID: Final = _invalid("page_token.invalid")
PATH_REFUSED: Final = _invalid("path.refused")
REASON_INVALID: Final = _invalid("reason.invalid")
REASON_REQUIRED: Final = _invalid("reason.required")
REQUEST_INVALID: Final = _invalid("request.invalid")
REQUEST_INVALID_JSON: Final = _invalid("request.invalid_json")
REQUEST_INVALID_PARAMETER: Final = _invalid("request.invalid_parameter")
REQUEST_INVALID_TEXT: Final = _invalid("request.invalid_text")
REQUEST_MISSING_PARAMETER: Final = _invalid("request.missing_parameter")
REQUEST_NUMBER_OUT_OF_RANGE: Final = _invalid("request.number_out_of_range")
REQUEST_TOO_LARGE: Final = _invalid("request.too_large")
ROLE_UNKNOWN: Final = _invalid("role.unknown")
RUN_ID_INVALID: Final = _invalid("run_id.invalid")
SEARCH_INVALID_FILTER: Final = _invalid("search.invalid_filter")
SEARCH_INVALID_ORDER_BY: Final = _invalid("search.invalid_order_by")
SOURCE_REFUSED: Final = _invalid("source.refused")
STAGE_UNKNOWN: Final = _invalid("stage.unknown")
TAG_INVALID: Final = _invalid("tag.invalid")
TOKEN_EXPIRY_INVALID: Final = _invalid("token.expiry_invalid")
TOKEN_ID_INVALID: Final = _invalid("token.id_invalid")
TOKEN_NOTE_INVALID: Final = _invalid("token.note_invalid")
TOKEN_USER_REQUIRED: Final = _invalid("token.user_required")
UPLOAD_BAD_LENGTH: Final = _invalid("upload.bad_length")
UPLOAD_DIGEST_MISMATCH: Final = _invalid("upload.digest_mismatch")
UPLOAD_INVALID_DIGEST: Final = _invalid("upload.invalid_digest")
UPLOAD_MISMATCH: Final = _invalid("upload.mismatch")
URI_INVALID: Final = _invalid("uri.invalid")
USER_INVALID: Final = _invalid("user.invalid")
VERSION_INVALID: Final = _invalid("version.invalid")
VERSION_SOURCE_REQUIRED: Final = _invalid("version.source_required")
WEBHOOK_EVENTS_UNKNOWN: Final = _invalid("webhook.events_unknown")
WEBHOOK_SECRET_INVALID: Final = _invalid("webhook.secret_invalid")
WEBHOOK_URL_CREDENTIALS: Final = _invalid("webhook.url_credentials")
WEBHOOK_URL_INVALID: Final = _invalid("webhook.url_invalid")
# met by no API client:
ARCHIVE_INVALID: Final = _invalid("archive.invalid", api=False)
ARCHIVE_NOT_FOUND: Final = _invalid("archive.not_found", api=False)
ARCHIVE_UNSUPPORTED: Final = _invalid("archive.unsupported", api=False)
ARGUMENT_INVALID_TEXT: Final = _invalid("argument.invalid_text", api=False)
AUDIT_CURSOR: Final = _invalid("audit.cursor", api=False)
AUTH_REQUIRED_TO_LISTEN: Final = _invalid("auth.required_to_listen", api=False)
BACKUP_INVALID: Final = _invalid("backup.invalid", api=False)
BACKUP_NOT_EMPTY: Final = _invalid("backup.not_empty", api=False)
BACKUP_UNSUPPORTED: Final = _invalid("backup.unsupported", api=False)
CLI_REMOTE_UNSUPPORTED: Final = _invalid("cli.remote_unsupported", api=False)
CONFIG_INVALID: Final = _invalid("config.invalid", api=False)
CONFIG_MISSING_DEPENDENCY: Final = _invalid("config.missing_dependency", api=False)
CONFIG_NOT_FOUND: Final = _invalid("config.not_found", api=False)
EXPORT_NOT_EMPTY: Final = _invalid("export.not_empty", api=False)
FILTER_TAG: Final = _invalid("filter.tag")
IMPORT_CONFLICT: Final = _invalid("import.conflict", api=False)
IMPORT_INVALID: Final = _invalid("import.invalid", api=False)
MLFLOW_URL_INVALID: Final = _invalid("mlflow.url_invalid", api=False)
NAMING_MODE: Final = _invalid("naming.mode", api=False)
PAGE_INVALID: Final = _invalid("page.invalid", api=False)
PATH_CONFLICT: Final = _invalid("path.conflict", api=False)
PATH_EMPTY: Final = _invalid("path.empty", api=False)
PATH_NOT_FOUND: Final = _invalid("path.not_found", api=False)
PATH_OUTSIDE: Final = _invalid("path.outside", api=False)
PLAN_CONFLICT: Final = _invalid("plan.conflict", api=False)
PLAN_EXISTS: Final = _invalid("plan.exists", api=False)
PLAN_INVALID: Final = _invalid("plan.invalid", api=False)
PLAN_NOT_FOUND: Final = _invalid("plan.not_found", api=False)
PLAN_STALE: Final = _invalid("plan.stale", api=False)
STAGE_INVALID_EDGE: Final = _invalid("stage.invalid_edge", api=False)
VERSION_NO_FILES: Final = _invalid("version.no_files", api=False)
WEBHOOK_REMOTE_DELIVER: Final = _invalid("webhook.remote_deliver", api=False)

# --- not_found (NotFound): it does not exist, or the caller may not see it
ALIAS_NOT_FOUND: Final = _not_found("alias.not_found")
ARTIFACT_NOT_FOUND: Final = _not_found("artifact.not_found")
BLOB_NOT_FOUND: Final = _not_found("blob.not_found")
DELIVERY_NOT_FOUND: Final = _not_found("delivery.not_found")
FILE_NOT_FOUND: Final = _not_found("file.not_found")
GRANT_NOT_FOUND: Final = _not_found("grant.not_found")
MODEL_NOT_FOUND: Final = _not_found("model.not_found")
ROUTE_NOT_FOUND: Final = _not_found("route.not_found")
STAGE_EMPTY: Final = _not_found("stage.empty")
TAG_NOT_FOUND: Final = _not_found("tag.not_found")
TOKEN_NOT_FOUND: Final = _not_found("token.not_found")
UPLOAD_NOT_FOUND: Final = _not_found("upload.not_found")
USER_NOT_FOUND: Final = _not_found("user.not_found")
VERSION_NOT_FOUND: Final = _not_found("version.not_found")
WEBHOOK_NOT_FOUND: Final = _not_found("webhook.not_found")
# met by no API client:
PAGE_NOT_FOUND: Final = _not_found("page.not_found", api=False)

# --- exists (AlreadyExists): the identity is taken
MODEL_EXISTS: Final = _exists("model.exists")
NAME_REDIRECTED: Final = _exists("name.redirected")
# met by no API client:
USER_EXISTS: Final = _exists("user.exists", api=False)

# --- conflict (Conflict): the current state refuses it
APPROVAL_ALREADY_DECIDED: Final = _conflict("approval.already_decided")
APPROVAL_NOT_REQUESTED: Final = _conflict("approval.not_requested")
APPROVAL_REJECTED: Final = _conflict("approval.rejected")
FILE_IMMUTABLE: Final = _conflict("file.immutable")
GATE_FAILED: Final = _conflict("gate.failed")
GATE_INTERFACE_BREAKING: Final = _conflict("gate.interface_breaking")
INTERFACE_ALREADY_SET: Final = _conflict("interface.already_set")
MODEL_NOT_DELETABLE: Final = _conflict("model.not_deletable")
NAME_RETIRED: Final = _conflict("name.retired")
ROLLBACK_NO_PRODUCTION: Final = _conflict("rollback.no_production")
ROLLBACK_NO_TARGET: Final = _conflict("rollback.no_target")
STAGE_ILLEGAL_TRANSITION: Final = _conflict("stage.illegal_transition")
STAGE_PRECONDITION_FAILED: Final = _conflict("stage.precondition_failed")
STAGE_PRODUCTION_TAKEN: Final = _conflict("stage.production_taken")
STAGE_UNCHANGED: Final = _conflict("stage.unchanged")
UPLOAD_COMMITTED: Final = _conflict("upload.committed")
UPLOAD_EXPIRED: Final = _conflict("upload.expired")
UPLOAD_FILE_EXISTS: Final = _conflict("upload.file_exists")
VERSION_NOT_DELETABLE: Final = _conflict("version.not_deletable")
# met by no API client:
IMPORT_NOT_EMPTY: Final = _conflict("import.not_empty", api=False)
RESTORE_NOT_EMPTY: Final = _conflict("restore.not_empty", api=False)

# --- unauthenticated (Unauthenticated): no valid credentials
AUTH_MALFORMED: Final = _unauthenticated("auth.malformed")
AUTH_REQUIRED: Final = _unauthenticated("auth.required")
SESSION_EXPIRED: Final = _unauthenticated("session.expired")
TOKEN_EXPIRED: Final = _unauthenticated("token.expired")
TOKEN_INVALID: Final = _unauthenticated("token.invalid")
TOKEN_MALFORMED: Final = _unauthenticated("token.malformed")
TOKEN_REVOKED: Final = _unauthenticated("token.revoked")
TOKEN_USER_MISMATCH: Final = _unauthenticated("token.user_mismatch")

# --- forbidden (PermissionDenied): the caller may not do this
ACCESS_ADMIN_ONLY: Final = _forbidden("access.admin_only")
ACCESS_DENIED: Final = _forbidden("access.denied")
APPROVAL_REGISTRANT: Final = _forbidden("approval.registrant")
APPROVAL_SELF_APPROVAL: Final = _forbidden("approval.self_approval")
# met by no API client:
CSRF_INVALID: Final = _forbidden("csrf.invalid", api=False)

# --- integrity (IntegrityFailure): stored data does not match what was recorded
ARTIFACT_DIGEST_MISMATCH: Final = _integrity("artifact.digest_mismatch")
# met by no API client:
ARCHIVE_CHAIN_BROKEN: Final = _integrity("archive.chain_broken", api=False)
ARCHIVE_CORRUPT: Final = _integrity("archive.corrupt", api=False)
ARTIFACT_TRANSIT_MISMATCH: Final = _integrity("artifact.transit_mismatch", api=False)
AUDIT_CHAIN_BROKEN: Final = _integrity("audit.chain_broken", api=False)
BACKUP_CORRUPT: Final = _integrity("backup.corrupt", api=False)

# --- storage_full (StorageFull): no room for the bytes
STORAGE_FULL: Final = _storage_full("storage.full")

# --- error (CharterError itself): a failure that is not the caller's input
INTERNAL: Final = _other("internal")
# met by no API client:
MLFLOW_ERROR: Final = _other("mlflow.error", api=False)
MLFLOW_UNREACHABLE: Final = _other("mlflow.unreachable", api=False)
OS_ERROR: Final = _other("os.error", api=False)
PAGE_TOKEN_LOOP: Final = _other("page_token.loop", api=False)
SERVER_BAD_ANSWER: Final = _other("server.bad_answer", api=False)
SERVER_TIMEOUT: Final = _other("server.timeout", api=False)
SERVER_UNREACHABLE: Final = _other("server.unreachable", api=False)
UPLOAD_FILE_CHANGED: Final = _other("upload.file_changed", api=False)

# --- provenance (docs/provenance.md)
ATTESTATION_INVALID: Final = _invalid("attestation.invalid")
ATTESTATION_SIGNATURE_INVALID: Final = _invalid("attestation.signature_invalid")
ATTESTATION_SIGNER_KEY_REQUIRED: Final = _invalid("attestation.signer_key_required")
ATTESTATION_SUBJECT_MISMATCH: Final = _invalid("attestation.subject_mismatch")
ATTESTATION_TOO_LARGE: Final = _invalid("attestation.too_large")
CHECKPOINT_INVALID: Final = _invalid("checkpoint.invalid")
PROOF_TOO_LARGE: Final = _invalid("proof.too_large")
SIGNATURE_FILES_MISMATCH: Final = _invalid("signature.files_mismatch")
SIGNATURE_INVALID: Final = _invalid("signature.invalid")
SIGNATURE_KEY_UNKNOWN: Final = _invalid("signature.key_unknown")
SIGNATURE_MISSING: Final = _invalid("signature.missing")
SIGNATURE_NO_FILES: Final = _invalid("signature.no_files")
SIGNATURE_NO_ROOTS: Final = _invalid("signature.no_roots")
SIGNATURE_TOO_LARGE: Final = _invalid("signature.too_large")
SIGNATURE_UNSUPPORTED: Final = _invalid("signature.unsupported")
SIGNER_INVALID: Final = _invalid("signer.invalid")
SIGNER_KEY_INVALID: Final = _invalid("signer.key_invalid")
SIGNER_TOO_MANY: Final = _invalid("signer.too_many")
ATTESTATION_NOT_FOUND: Final = _not_found("attestation.not_found")
CHECKPOINT_NOT_FOUND: Final = _not_found("checkpoint.not_found")
SIGNATURE_NOT_FOUND: Final = _not_found("signature.not_found")
ATTESTATION_EXISTS: Final = _conflict("attestation.exists")
ATTESTATION_TOO_MANY: Final = _conflict("attestation.too_many")
CHECKPOINT_EMPTY_LOG: Final = _conflict("checkpoint.empty_log")
CHECKPOINT_NO_KEY: Final = _conflict("checkpoint.no_key")
PROOF_NOT_YET: Final = _conflict("proof.not_yet")
SIGNATURE_EXISTS: Final = _conflict("signature.exists")
SIGNATURE_REQUIRED: Final = _conflict("signature.required")
SIGNER_EXISTS: Final = _conflict("signer.exists")
SIGNER_NOT_ALLOWED: Final = _conflict("signer.not_allowed")
SIGNER_UNKNOWN: Final = _conflict("signer.unknown")
VERSION_HELD: Final = _conflict("version.held")
VERSION_NOT_HELD: Final = _conflict("version.not_held")
VERSION_NOT_READY: Final = _conflict("version.not_ready")
DATABASE_UNAVAILABLE: Final = _unavailable("database.unavailable")
SIGNING_ROOTS_UNREADABLE: Final = _unavailable("signing.roots_unreadable")
SIGNING_UNAVAILABLE: Final = _unavailable("signing.unavailable")
CHECKPOINT_UNREACHABLE: Final = _invalid("checkpoint.unreachable", api=False)
CHECKPOINT_UNREADABLE: Final = _invalid("checkpoint.unreadable", api=False)
KEY_EXISTS: Final = _invalid("key.exists", api=False)
KEY_INVALID: Final = _invalid("key.invalid", api=False)
KEY_NOT_FOUND: Final = _invalid("key.not_found", api=False)
KEY_UNREADABLE: Final = _invalid("key.unreadable", api=False)
PROOF_INVALID: Final = _invalid("proof.invalid", api=False)
PROOF_FAILED: Final = _integrity("proof.failed", api=False)

# --- consumers (docs/contracts.md "Consumers")
CONSUMER_INVALID: Final = _invalid("consumer.invalid")
VERSION_SERVED: Final = _conflict("version.served")
