"""What every blob store shares: chunk sizes, records, key rules, the hashing writer.

A blob store keeps two kinds of things:

* **blobs**, named by their sha256 and immutable once published;
* a **staging area** of small JSON records under keys the server makes up
  (upload sessions), shared by every replica exactly when the blobs are.

Keys never come from a client: blob keys are digests, staging keys are built from
server-generated ids. ``check_digest`` and ``check_staged_key`` enforce that at
the door of each store, so a store cannot be talked into a path outside its root.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from charter.domain.errors import IntegrityFailure, NotFound

CHUNK = 1024 * 1024          # the unit of every streamed read and write
Progress = Callable[[int], None]

_DIGEST = re.compile(r"[0-9a-f]{64}")
_STAGED_KEY = re.compile(r"[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_.-]*)*")


@dataclass(frozen=True)
class BlobInfo:
    digest: str
    size: int
    modified: datetime        # UTC; publishing an existing blob again refreshes it


@dataclass(frozen=True)
class StagedInfo:
    key: str
    modified: datetime        # UTC


def check_digest(digest: str) -> str:
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise NotFound("blob.not_found", f"{digest!r:.80} is not a sha256 digest",
                       "blob names are 64 lowercase hex characters")
    return digest


def check_staged_key(key: str) -> str:
    if not _STAGED_KEY.fullmatch(key) or ".." in key or len(key) > 512:
        raise ValueError(f"not a staging key: {key!r:.80}")  # a bug in Charter, not input
    return key


def blob_name(digest: str) -> str:
    """``sha256/ab/cdef…``: the relative name of a blob in every store."""
    check_digest(digest)
    return f"sha256/{digest[:2]}/{digest[2:]}"


def digest_mismatch(expected: str, actual: str, what: str = "the uploaded bytes"
                    ) -> IntegrityFailure:
    return IntegrityFailure(
        "artifact.digest_mismatch",
        f"sha256 of {what} is {actual}, not the expected {expected}",
        "the bytes were altered or truncated on the way; send them again",
        {"expected": expected, "actual": actual})


def blob_missing(digest: str) -> NotFound:
    return NotFound("blob.not_found", f"blob {digest} is not in the store",
                    "the version's files may have been purged; restore the blob store")


class Hasher:
    """sha256 and byte count of a stream, fed chunk by chunk."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes | memoryview) -> None:
        self._sha.update(chunk)
        self.size += len(chunk)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()
