"""Garbage collection of the blob store: ``charter gc`` (a dry run unless applied).

Collected, when older than the grace period (default 24 hours):

* blobs no version references and no live upload session holds;
* upload sessions idle for that long (uncommitted: abandoned) or already committed;
* partial writes of interrupted uploads (temp files, unfinished S3 multipart uploads).

The grace period is what makes collection safe next to running uploads: a blob
is only deleted when it has not been written for that long, and storing the same
bytes again refreshes its time. Just before deleting, each blob is checked once
more, against its time and against the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from charter.artifacts.common import BlobInfo
from charter.service.base import ServiceBase
from charter.store import uploads, versions

DEFAULT_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class GarbageReport:
    applied: bool
    cutoff: datetime                       # things last written before this are old enough
    blobs: list[BlobInfo] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)   # upload sessions collected
    partials: int = 0                      # interrupted writes (counted only when applied)
    kept: int = 0                          # blobs still referenced or too recent

    @property
    def size(self) -> int:
        return sum(blob.size for blob in self.blobs)

    def to_dict(self) -> dict[str, Any]:
        return {"applied": self.applied, "cutoff": self.cutoff.isoformat(),
                "blobs": [{"digest": b.digest, "size": b.size,
                           "modified": b.modified.isoformat()} for b in self.blobs],
                "bytes": self.size, "uploads": list(self.uploads), "partials": self.partials,
                "kept": self.kept}


class GarbageMixin(ServiceBase):
    def collect_garbage(self, *, apply: bool = False, grace: timedelta = DEFAULT_GRACE,
                        now: datetime | None = None) -> GarbageReport:
        """What gc would remove (``apply=False``), or remove it; admins only, even for a
        dry run: it lists every blob in the store, whichever models they belong to."""
        self._require_admin("collect garbage in the blob store")
        cutoff = (now or datetime.now(UTC)) - grace
        staged = uploads.staged_uploads(self.blobs)
        old = sorted(i for i, s in staged.items() if s.last_write < cutoff)
        held: set[str] = set().union(*(s.digests for i, s in staged.items() if i not in old))
        with self._read() as reader:
            referenced = versions.referenced_digests(reader)
        garbage, kept = [], 0
        for blob in self.blobs.blobs():
            if blob.digest in referenced or blob.digest in held or blob.modified >= cutoff:
                kept += 1
            else:
                garbage.append(blob)
        if not apply:
            return GarbageReport(False, cutoff, garbage, old, 0, kept)
        for upload_id in old:
            uploads.forget(self.blobs, upload_id)
        deleted = [blob for blob in garbage if self._delete_if_still_garbage(blob, cutoff)]
        partials = self.blobs.collect_partials(cutoff)
        return GarbageReport(True, cutoff, deleted, old, partials,
                             kept + len(garbage) - len(deleted))

    def _delete_if_still_garbage(self, blob: BlobInfo, cutoff: datetime) -> bool:
        fresh = self.blobs.blob_info(blob.digest)
        if fresh is None or fresh.modified >= cutoff:
            return False
        with self._read() as reader:
            if versions.digest_in_use(reader, blob.digest):
                return False
        self.blobs.delete(blob.digest)
        return True
