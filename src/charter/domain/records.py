"""Plain records the service returns and every interface renders.

They are frozen dataclasses with no behaviour beyond conversion to plain dicts,
so the embedded registry, the remote client, the API and the CLI all speak the
same types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar

from charter.domain import error_codes as codes
from charter.domain.errors import NotFound
from charter.domain.paths import safe_relative_path


@dataclass(frozen=True)
class ModelRecord:
    name: str
    description: str
    tags: dict[str, str]
    aliases: dict[str, int]
    version_count: int
    last_version: int
    stages: dict[str, list[int]]          # "Production" -> [12], "Staging" -> [13, 14]
    created_at: datetime
    updated_at: datetime
    redirects: list[str] = field(default_factory=list)  # old names that still resolve here

    def to_dict(self) -> dict[str, Any]:
        return _fields(self)


@dataclass(frozen=True)
class FileRecord:
    path: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VersionRecord:
    name: str
    version: int
    stage: str
    source: str
    run_id: str
    description: str
    tags: dict[str, str]
    aliases: list[str]
    digest: str                 # sha256 over the version's files (empty for source-only versions)
    status: str                 # READY once every file is stored and verified
    created_at: datetime
    updated_at: datetime
    stage_changed_at: datetime
    files: list[FileRecord] = field(default_factory=list)
    signer: str | None = None       # who signed its files (domain.signers), if anyone
    signature: str | None = None    # sha256 of the signature bundle as stored
    model_id: str = ""              # MLflow 3's logged-model id it was registered from

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def file_at(self, path: str) -> FileRecord:
        """The stored file at ``path`` (confined by ``domain.paths``), or NotFound."""
        path = safe_relative_path(path)
        for file in self.files:
            if file.path == path:
                return file
        raise NotFound(codes.FILE_NOT_FOUND, f"{self.uri} has no file {path!r}",
                       f"list its files with GET …/versions/{self.version}/files",
                       {"path": path})

    def to_dict(self) -> dict[str, Any]:
        data = _fields(self)
        data["uri"] = self.uri
        return data


@dataclass(frozen=True)
class EventRecord:
    seq: int
    time: datetime
    actor: str
    action: str
    model: str
    version: int | None
    from_stage: str | None
    to_stage: str | None
    reason: str
    correlation_id: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return _fields(self)


@dataclass(frozen=True)
class AttestationRecord:
    """An in-toto statement attached to a version (docs/provenance.md)."""

    name: str
    version: int
    sha256: str                 # of the document as uploaded: its id and its blob
    predicate_type: str
    predicate: dict[str, Any]
    signer: str | None          # whose DSSE signature verified; None: unsigned
    size: int
    created_by: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return _fields(self)


@dataclass(frozen=True)
class SignerRecord:
    """One of a model's allowed signers."""

    signer: str
    public_key: str             # PEM, for a key; empty for a certificate subject
    added_by: str
    added_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return _fields(self)


@dataclass(frozen=True)
class Resolution:
    """What a ``models:/`` URI points at, at a given moment."""

    uri: str
    version: VersionRecord
    artifact_location: str
    digest: str
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "version": self.version.to_dict(),
            "artifact_location": self.artifact_location,
            "digest": self.digest,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class AuditReport:
    ok: bool
    events_checked: int
    first_bad_seq: int | None = None
    problem: str = ""
    # Each signed checkpoint judged (domain.checkpoints.CheckpointVerdict.to_dict), the
    # highest seq a good one vouches for, and what the verifier should know (trust).
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    proved_through: int = 0
    warnings: list[str] = field(default_factory=list)
    # An incremental verify walks on from the point an earlier one proved: its seq and
    # when (0 and "": the whole chain was walked). events_checked counts from the first
    # event either way: the length of the chain now proved.
    verified_from: int = 0
    verified_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def walked(self) -> int:
        """The events this verify itself recomputed."""
        return self.events_checked - self.verified_from


@dataclass(frozen=True)
class AuditPoint:
    """The last verified point of the audit chain: ``seq`` proved at ``time`` (0, "":
    never), and the last full walk's (docs/governance.md)."""

    seq: int
    time: str
    full_seq: int
    full_time: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class VersionBrief(NamedTuple):
    """A version as a listing shows it (MLflow's ``ModelVersion``): no files, digest,
    signature or stage time. A plain tuple: searches build hundreds per answer."""

    name: str
    version: int
    stage: str
    source: str
    run_id: str
    description: str
    status: str
    created_at: datetime
    updated_at: datetime
    tags: dict[str, str]
    aliases: list[str]        # sorted
    model_id: str             # MLflow 3's logged-model id, or ""


class VersionLocation(NamedTuple):
    """What a download URI of a version says (MLflow's get-download-uri): the model's
    current name, the version's number and source, and whether Charter stores its files
    (then they are the place to download from, else the source is)."""

    name: str
    version: int
    source: str
    has_files: bool

    @classmethod
    def of(cls, version: VersionRecord) -> VersionLocation:
        return cls(version.name, version.version, version.source, bool(version.files))


class ModelBrief(NamedTuple):
    """A model as a listing shows it (MLflow's ``RegisteredModel``): its tags, aliases and
    newest version per stage (``latest``, in stage order), without the stage map or the
    former names a ModelRecord carries."""

    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    tags: dict[str, str]
    aliases: dict[str, int]   # sorted by alias
    latest: list[VersionBrief]


T = TypeVar("T")


class Stored(NamedTuple, Generic[T]):
    """An item of a page as the store read it — its text — made into its record only
    when asked (``item``). The text holds everything the record holds (and may hold more,
    such as row ids), so equal texts make equal records: what is made from an item may be
    kept by its text and used for any later item with that same text."""

    raw: str
    make: Callable[[str], T]

    def item(self) -> T:
        return self.make(self.raw)


def made(items: Iterable[T | Stored[T]]) -> list[T]:
    """A page's items as records, each Stored one made."""
    return [item.item() if isinstance(item, Stored) else item for item in items]


@dataclass(frozen=True)
class Page:
    """One page of a listing; ``next_token`` is empty on the last page."""

    items: list[Any]
    next_token: str = ""


def _fields(record: Any) -> dict[str, Any]:
    """A dataclass record's fields as JSON-ready values."""
    return {key: _plain(value) for key, value in asdict(record).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
