"""The Registry interface: what ``charter.connect()`` answers, embedded or remote.

``Registry`` is every operation the embedded service (``charter.service.RegistryService``)
and the remote client (``charter.client.RemoteRegistry``) both offer, with the same
names, parameters, records and error classes. ``ServerRegistry`` adds the operations
that only run where the database and the blob store are: the server's side of uploads
and file routes, MLflow search, sign-in and sessions, users, garbage collection, export
and import; and what the web doors read of it (its principal, policies, blob store and
``ServerDatabase``). ``charter.web``, ``api/`` and ``ui/`` are typed against it.

Both are Protocols: neither implementation names them. mypy proves each implements its
interface where ``charter.connection`` returns them (``connect()`` and the checks at the
end of that module), so a method added to one side and not the other, or a parameter
renamed on one side, fails ``mypy`` (docs/architecture.md, "The Registry interface").

This module imports the standard library and ``charter.domain`` only; the service's own
records that ``ServerRegistry`` names are imported for the type checker alone.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar

from charter.domain.access import GrantRecord, IssuedToken, Principal, Role, TokenRecord, UserRecord
from charter.domain.approvals import ApprovalRecord
from charter.domain.checkpoints import SignedCheckpoint
from charter.domain.consumers import ConsumerRecord, ConsumersView
from charter.domain.gate_report import GateReport
from charter.domain.gates import StageGates
from charter.domain.importing import ImportedModel
from charter.domain.interface import Interface, InterfaceRecord
from charter.domain.lifecycle import ANY, Stage
from charter.domain.manifest import TreeEntry
from charter.domain.naming import Finding
from charter.domain.proofs import AsOfProof
from charter.domain.records import (
    AttestationRecord,
    AuditPoint,
    AuditReport,
    EventRecord,
    FileRecord,
    ModelBrief,
    ModelRecord,
    Page,
    Resolution,
    SignerRecord,
    VersionBrief,
    VersionLocation,
    VersionRecord,
)
from charter.domain.retention import RetentionReport
from charter.domain.version_diff import VersionDiff
from charter.domain.webhooks import DeliveryRecord, WebhookRecord

if TYPE_CHECKING:
    from charter.service.base import Policies
    from charter.service.consumer_ledger import Note as ConsumerNote
    from charter.service.garbage import GarbageReport
    from charter.service.ports import BlobStore
    from charter.service.search import ModelSummary
    from charter.service.uploads import FileUpload, UploadRecord

#: Called with the number of bytes moved since the last call (uploads, downloads).
Progress = Callable[[int], None]

T = TypeVar("T")


class ModelLister(Protocol):
    """What lists models: every registry, and the read-only listing of an embedded
    SQLite registry that ``charter ls`` starts from (``connection.connect_listing``)."""

    def list_models(self, *, name_like: str = "", tag: str = "", stage: str = "",
                    max_results: int = 100, page_token: str = "") -> Page: ...


class Registry(Protocol):
    """The registry as a program uses it, wherever it lives (docs/python.md)."""

    def as_actor(self, actor: str) -> Self:
        """The same registry, acting for ``actor`` (the audit log's actor)."""
        ...

    # ---- models ---------------------------------------------------------------------

    def create_model(self, name: str, *, description: str = "",
                     tags: dict[str, str] | None = None, reason: str = "") -> ModelRecord: ...

    def get_model(self, name: str) -> ModelRecord: ...

    def list_models(self, *, name_like: str = "", tag: str = "", stage: str = "",
                    max_results: int = 100, page_token: str = "") -> Page: ...

    def rename_model(self, name: str, new_name: str, *, reason: str = "") -> ModelRecord: ...

    def update_model(self, name: str, *, description: str, reason: str = "") -> ModelRecord: ...

    def set_model_tag(self, name: str, key: str, value: str) -> None: ...

    def delete_model_tag(self, name: str, key: str) -> None: ...

    def delete_model(self, name: str, *, reason: str, force: bool = False) -> None: ...

    # ---- versions -------------------------------------------------------------------

    def register(self, name: str, source: str = "", *, path: str | Path | None = None,
                 run_id: str = "", description: str = "", tags: dict[str, str] | None = None,
                 create_model: bool = True, reason: str = "",
                 progress: Progress | None = None,
                 signature: bytes | str | Path | None = None,
                 signer_key: str | Path | None = None,
                 interface: Interface | dict[str, Any] | str | None = None,
                 model_id: str = "") -> VersionRecord: ...

    def get_version(self, name: str, version: int | str) -> VersionRecord: ...

    def list_versions(self, name: str, *, stage: str | None = None) -> list[VersionRecord]: ...

    def update_version(self, name: str, version: int | str, *, description: str
                       ) -> VersionRecord: ...

    def set_version_tag(self, name: str, version: int | str, key: str, value: str) -> None: ...

    def delete_version_tag(self, name: str, version: int | str, key: str) -> None: ...

    def set_alias(self, name: str, alias: str, version: int | str) -> None: ...

    def delete_alias(self, name: str, alias: str) -> None: ...

    def get_version_by_alias(self, name: str, alias: str) -> VersionRecord: ...

    def delete_version(self, name: str, version: int | str, *, reason: str,
                       force: bool = False) -> None: ...

    # ---- stages ---------------------------------------------------------------------

    def transition(self, name: str, version: int | str, stage: str, *,
                   archive_existing: bool = False, reason: str = "",
                   expect_production: Any = ANY, override_gates: bool = False,
                   accept_breaking: str = "", force: bool = False) -> VersionRecord: ...

    def promote(self, name: str, version: int | str, stage: str, *,
                archive_existing: bool = False, reason: str = "",
                expect_production: Any = ANY, override_gates: bool = False,
                accept_breaking: str = "", force: bool = False) -> VersionRecord: ...

    def archive(self, name: str, version: int | str, *, reason: str = "",
                force: bool = False) -> VersionRecord: ...

    def rollback(self, name: str, *, reason: str) -> VersionRecord: ...

    # ---- queries and files ----------------------------------------------------------

    def resolve(self, uri: str, *, as_of: datetime | None = None,
                consumer: str | None = None) -> Resolution: ...

    # ---- consumers (docs/contracts.md, "Consumers") -----------------------------------

    def report_consumer(self, consumer: str, uri: str, *, version: int | str | None = None
                        ) -> ConsumerRecord: ...

    def consumers(self, name: str, *, include_stale: bool = False) -> ConsumersView: ...

    def latest_versions(self, name: str, stages: list[str] | None = None
                        ) -> list[VersionRecord]: ...

    def history(self, name: str, version: int | None = None, *, limit: int = 1000
                ) -> list[EventRecord]: ...

    def events(self, *, after: int = 0, limit: int = 100) -> list[EventRecord]: ...

    def lint(self, name: str) -> list[Finding]: ...

    def list_files(self, name: str, version: int | str) -> VersionRecord: ...

    def get_file(self, name: str, version: int | str, path: str) -> FileRecord: ...

    def download(self, uri: str, dest: str | Path, progress: Progress | None = None) -> Path: ...

    # ---- access ---------------------------------------------------------------------

    def whoami(self) -> dict[str, Any]: ...

    def create_token(self, user: str | None = None, *, expires: str | timedelta | None = None,
                     note: str = "") -> IssuedToken: ...

    def list_tokens(self, user: str | None = None) -> list[TokenRecord]: ...

    def revoke_token(self, token_id: int | str) -> TokenRecord: ...

    def grant(self, model: str, user: str, role: str | Role, *, reason: str = ""
              ) -> GrantRecord: ...

    def revoke(self, model: str, user: str, *, reason: str = "") -> None: ...

    def list_grants(self, model: str = "*") -> list[GrantRecord]: ...

    # ---- governance -----------------------------------------------------------------

    def check_gates(self, name: str, version: int | str, stage: str) -> GateReport: ...

    # ---- interfaces (docs/contracts.md, "The interface") ------------------------------

    def get_interface(self, name: str, version: int | str) -> InterfaceRecord: ...

    def set_interface(self, name: str, version: int | str,
                      interface: Interface | dict[str, Any] | str) -> InterfaceRecord: ...

    def diff_versions(self, name: str, a: int | str, b: int | str) -> VersionDiff: ...

    def request_approval(self, name: str, version: int | str, stage: str, *,
                         comment: str = "") -> ApprovalRecord: ...

    def approve(self, name: str, version: int | str, stage: str, *, comment: str = ""
                ) -> ApprovalRecord: ...

    def reject(self, name: str, version: int | str, stage: str, *, comment: str
               ) -> ApprovalRecord: ...

    def list_approvals(self, name: str, version: int | str | None = None
                       ) -> list[ApprovalRecord]: ...

    def retention(self, *, apply: bool = False, name: str | None = None) -> RetentionReport: ...

    # ---- provenance and the audit ---------------------------------------------------

    def sign_version(self, name: str, version: int | str, signature: bytes | str | Path, *,
                     signer_key: str | Path | None = None, reason: str = "") -> VersionRecord: ...

    def signature_bundle(self, name: str, version: int | str) -> bytes: ...

    def signers(self, name: str) -> list[SignerRecord]: ...

    def edit_signers(self, name: str, *, add: Iterable[str] = (), remove: Iterable[str] = (),
                     reason: str) -> list[SignerRecord]: ...

    def release_hold(self, name: str, version: int | str, *, reason: str) -> VersionRecord: ...

    def reject_hold(self, name: str, version: int | str, *, reason: str) -> VersionRecord: ...

    def attest(self, name: str, version: int | str, document: bytes | str | Path, *,
               signer_key: str | Path | None = None) -> AttestationRecord: ...

    def attestations(self, name: str, version: int | str) -> list[AttestationRecord]: ...

    def attestation_document(self, name: str, version: int | str, sha256: str) -> bytes: ...

    def sign_checkpoint(self) -> SignedCheckpoint: ...

    def latest_checkpoint(self) -> SignedCheckpoint: ...

    def checkpoints(self, *, after: int = 0, limit: int = 100) -> list[SignedCheckpoint]: ...

    def prove_resolution(self, uri: str, as_of: datetime) -> AsOfProof: ...

    def verify_audit(self, *, checkpoint: SignedCheckpoint | None = None,
                     trusted_keys: Collection[str] = (), full: bool = False) -> AuditReport: ...

    def audit_verified(self) -> AuditPoint: ...

    # ---- webhooks -------------------------------------------------------------------

    def add_webhook(self, url: str, *, secret: str = "", events_filter: str | list[str] = "",
                    description: str = "") -> WebhookRecord: ...

    def get_webhook(self, webhook_id: int | str) -> WebhookRecord: ...

    def list_webhooks(self) -> list[WebhookRecord]: ...

    def remove_webhook(self, webhook_id: int | str) -> None: ...

    def test_webhook(self, webhook_id: int | str) -> DeliveryRecord: ...

    def webhook_deliveries(self, webhook_id: int | str | None = None, *,
                           status: str | None = None, limit: int = 50
                           ) -> list[DeliveryRecord]: ...

    def redeliver(self, delivery_id: int | str) -> DeliveryRecord: ...

    def deliver_webhooks(self, *, limit: int = 100) -> int: ...

    def wait_for_events(self, *, after: int = 0, limit: int = 100, wait: float = 30.0
                        ) -> list[EventRecord]: ...


class ServerDatabase(Protocol):
    """What the web doors ask of a ``ServerRegistry``'s database: where a use case runs
    (``charter.web`` ``run_read``/``run_write``) and whether the registry has changed
    since an answer was cached (``api/mlflow/cache.py``)."""

    @property
    def dialect(self) -> str: ...

    @property
    def turn_can_wait(self) -> bool: ...

    @property
    def group_commit(self) -> object | None: ...

    def batched(self, call: Callable[..., T], *args: object,
                move: tuple[str, int] | None = None, count: str | None = None
                ) -> Future[T]: ...

    async def loop_generation(self) -> int: ...

    async def read_on_loop(self, call: Callable[..., T], *args: object) -> T: ...


class ServerRegistry(Registry, Protocol):
    """The embedded registry: ``Registry`` and what runs only where the database is."""

    @property
    def principal(self) -> Principal:
        """Who the registry acts for, with the rights the access rules gave them."""
        ...

    @property
    def policies(self) -> Policies:
        """The settings' rules (naming, stage moves, gates...), as the web UI shows them."""
        ...

    @property
    def blobs(self) -> BlobStore:
        """The blob store, for the file routes' sizes and direct (sendfile) reads."""
        ...

    @property
    def db(self) -> ServerDatabase: ...

    def as_principal(self, principal: Principal) -> Self:
        """The same registry, acting as a signed-in ``principal`` (the web's requests)."""
        ...

    # ---- sign-in, sessions and users ------------------------------------------------

    def authenticate(self, token: str, *, user: str | None = None) -> Principal: ...

    def authorize(self, name: str, operation: str) -> None: ...

    def open_session(self, token: str) -> tuple[str, datetime, Principal]: ...

    def session_principal(self, secret: str) -> Principal: ...

    def close_session(self, secret: str) -> None: ...

    def create_user(self, name: str, *, admin: bool = False, service_account: bool = False
                    ) -> UserRecord: ...

    def list_users(self) -> list[UserRecord]: ...

    # ---- the server's side of uploads and file routes -------------------------------

    def start_upload(self, name: str, *, create_model: bool = True) -> UploadRecord: ...

    def get_upload(self, name: str, upload_id: str) -> UploadRecord: ...

    def begin_file(self, name: str, upload_id: str, path: str, *,
                   expected_sha256: str | None = None) -> FileUpload: ...

    def upload_file(self, name: str, upload_id: str, path: str, chunks: Iterable[bytes], *,
                    expected_sha256: str | None = None) -> FileRecord: ...

    def commit_upload(self, name: str, upload_id: str, manifest: list[dict[str, Any]], *,
                      source: str = "", run_id: str = "", description: str = "",
                      tags: dict[str, str] | None = None, reason: str = "",
                      signature: bytes | str | None = None, signer_key: str | None = None,
                      interface: Interface | dict[str, Any] | str | None = None,
                      model_id: str = "") -> VersionRecord: ...

    def abort_upload(self, name: str, upload_id: str) -> None: ...

    def list_folder(self, name: str, version: int | str, folder: str = ""
                    ) -> list[TreeEntry]: ...

    def read_file(self, file: FileRecord, start: int = 0, stop: int | None = None
                  ) -> Iterator[bytes]: ...

    # ---- MLflow search and the web UI's reads ---------------------------------------

    def search_models(self, filter_string: str | None = "", max_results: int = 100,
                      order_by: Iterable[str] | None = None, page_token: str = "") -> Page: ...

    def search_versions(self, filter_string: str | None = "", max_results: int = 10000,
                        order_by: Iterable[str] | None = None, page_token: str = "") -> Page: ...

    def model_summaries(self, filter_string: str | None = "", max_results: int = 100,
                        order_by: Iterable[str] | None = None, page_token: str = "") -> Page: ...

    def model_summary(self, name: str) -> ModelSummary: ...

    # The MLflow API's reads: the same searches as plain tuples (ModelBrief, VersionBrief).
    def model_briefs(self, filter_string: str | None = "", max_results: int = 100,
                     order_by: Iterable[str] | None = None, page_token: str = "") -> Page: ...

    def model_brief_page(self, filter_string: str | None = "", max_results: int = 100,
                         order_by: Iterable[str] | None = None, page_token: str = ""
                         ) -> Page:
        """``model_briefs`` as read: ModelBriefs, or (PostgreSQL) Stored ones."""
        ...

    def model_brief(self, name: str) -> ModelBrief: ...

    def latest_briefs(self, name: str, stages: list[str] | None = None
                      ) -> Sequence[VersionBrief | VersionRecord]: ...

    def version_briefs(self, filter_string: str | None = "", max_results: int = 10_000,
                       order_by: Iterable[str] | None = None, page_token: str = "") -> Page: ...

    def version_location(self, name: str, version: int | str) -> VersionLocation:
        """Where a version is downloaded from (MLflow's get-download-uri), read narrowly."""
        ...

    def gates_for(self, name: str, stage: str | Stage) -> StageGates: ...

    def audit_events(self, *, model: str = "", action: str = "", actor: str = "",
                     before: int | None = None, after: int | None = None, limit: int = 50
                     ) -> list[EventRecord]: ...

    # ---- where the database and the blob store are ----------------------------------

    def collect_garbage(self, *, apply: bool = False, grace: timedelta = timedelta(days=1),
                        now: datetime | None = None) -> GarbageReport: ...

    def sign_due_checkpoint(self) -> SignedCheckpoint | None: ...

    # ---- the MLflow surface noting a consumer's lookups (service.consumer_reports) ------

    def note_consumer_lookup(self, consumer: str, uri: str, name: str, version: int
                             ) -> ConsumerNote | None: ...

    def write_consumer_note(self, note: ConsumerNote) -> None: ...

    def add_redirect(self, old_name: str, name: str, *, reason: str) -> ModelRecord: ...

    def import_models(self, models: Sequence[ImportedModel]) -> list[ModelRecord]: ...

    def export_registry(self, dest: str | Path) -> dict[str, Any]: ...

    def import_registry(self, src: str | Path) -> dict[str, Any]: ...

    def outbox_counts(self) -> dict[str, int]: ...
