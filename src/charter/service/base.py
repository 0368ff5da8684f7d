"""What every use case shares: its dependencies, the acting identity, the clock."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol, Self

from sqlalchemy.orm import Session

from charter.artifacts.common import BlobInfo, StagedInfo
from charter.domain.access import AccessPolicy, Principal, hidden_model
from charter.domain.errors import NotFound
from charter.domain.gates import GatePolicy
from charter.domain.lifecycle import DEFAULT_TABLE, TransitionTable
from charter.domain.naming import NamingPolicy
from charter.domain.retention import RetentionPolicy
from charter.domain.sources import SourcePolicy
from charter.domain.webhooks import WebhookSettings
from charter.store.database import Database, WriteTx
from charter.store.driver import Reader

Progress = Callable[[int], None]


def utc_now() -> datetime:
    return datetime.now(UTC)


class BlobWriter(Protocol):
    """One blob being written: chunks in, then ``commit`` -> (sha256, size) or ``abort``."""

    @property
    def size(self) -> int: ...
    def write(self, chunk: bytes | memoryview) -> None: ...
    def commit(self) -> tuple[str, int]: ...
    def abort(self) -> None: ...
    def transit_checksum(self) -> str: ...  # XXH3-128 of the bytes written (hex)


class BlobStore(Protocol):
    """The port the service needs from an artifact store (local folder or S3).

    Blobs are named by sha256 and immutable; the staging area holds small records
    under server-made keys (upload sessions). See ``charter.artifacts``.
    """

    wants_digest_first: bool  # True: writers do better when told the digest up front

    def writer(self, expected: str | None = None) -> BlobWriter: ...
    def put_file(self, path: Path, progress: Progress | None = None) -> tuple[str, int]: ...
    def put_stream(self, stream: BinaryIO, progress: Progress | None = None,
                   expected: str | None = None) -> tuple[str, int]: ...
    def copy_to(self, digest: str, dest: Path, progress: Progress | None = None) -> None: ...
    def exists(self, digest: str) -> bool: ...
    def size_of(self, digest: str) -> int: ...
    def blob_info(self, digest: str) -> BlobInfo | None: ...
    def local_path(self, digest: str) -> Path | None: ...
    def iter_chunks(self, digest: str, start: int = 0, stop: int | None = None,
                    chunk_size: int = ...) -> Iterator[bytes]: ...
    def delete(self, digest: str) -> None: ...
    def blobs(self) -> Iterator[BlobInfo]: ...
    def collect_partials(self, before: datetime | None = None) -> int: ...
    def put_staged(self, key: str, data: bytes, *, exclusive: bool = False) -> bool: ...
    def get_staged(self, key: str) -> bytes | None: ...
    def list_staged(self, prefix: str) -> list[StagedInfo]: ...
    def delete_staged(self, key: str) -> None: ...


@dataclass(frozen=True)
class Policies:
    naming: NamingPolicy = field(default_factory=NamingPolicy)
    transitions: TransitionTable = DEFAULT_TABLE
    sources: SourcePolicy = field(default_factory=SourcePolicy)
    access: AccessPolicy = field(default_factory=AccessPolicy)
    gates: GatePolicy = field(default_factory=GatePolicy)
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)


class DenialLog(Protocol):
    """Where refused attempts are written (bounded: see charter.store.denials)."""

    def record(self, entry: dict[str, object]) -> None: ...


class _NoDenialLog:
    def record(self, entry: dict[str, object]) -> None:
        return None


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
        self.denials: DenialLog = denials or _NoDenialLog()

    def as_actor(self, actor: str) -> Self:
        """The same registry acting for a local admin named ``actor`` (auth off)."""
        return self.as_principal(Principal.local(actor))

    def as_principal(self, principal: Principal) -> Self:
        """The same registry acting for a signed-in principal (one per request)."""
        other = copy.copy(self)
        other.principal, other.actor = principal, principal.name
        return other

    @contextmanager
    def _write(self) -> Iterator[WriteTx]:
        with self._hiding(), self.db.write(self.actor, self.clock) as tx:
            yield tx

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._hiding(), self.db.read() as session:
            yield session

    @contextmanager
    def _snapshot(self) -> Iterator[Reader]:
        """A read on the driver's connection, for the store modules written in plain SQL."""
        with self._hiding(), self.db.snapshot() as reader:
            yield reader

    @contextmanager
    def _hiding(self) -> Iterator[None]:
        """A caller who cannot see every model gets no "did you mean" hints: they could
        name models it may not read."""
        try:
            yield
        except NotFound as error:
            if error.code != "model.not_found" or self.principal.sees_all:
                raise
            raise hidden_model(str(error.details.get("name", "")), denied=False) from None


def tag_not_found(owner: str, key: str) -> NotFound:
    return NotFound("tag.not_found", f"{owner} has no tag '{key}'",
                    "list the tags with `charter show`", {"key": key})
