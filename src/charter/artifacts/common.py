"""What every blob store shares: records, key rules, the hasher, the integrity errors.

A blob store keeps two kinds of things:

* **blobs**, named by their sha256 and immutable once published;
* a **staging area** of small JSON records under keys the server makes up
  (upload sessions), shared by every replica exactly when the blobs are.

Keys never come from a client: blob keys are digests, staging keys are built from
server-generated ids. ``check_digest`` and ``check_staged_key`` enforce that at
the door of each store, so a store cannot be talked into a path outside its root.

How the bytes move (splice, fallocate, the writer and hashing threads) is
``charter.fileio``'s; what its OSErrors mean to a user is said here (``room_for``).
"""

from __future__ import annotations

import errno
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import xxhash

from charter.domain import error_codes as codes
from charter.domain.errors import IntegrityFailure, NotFound, StorageFull

# service/uploads.py names the source an upload's writer may splice from by this
# import; the type is charter.fileio's, and that import moves with service/'s rework.
from charter.fileio.splice import Spliceable as Spliceable

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
        raise NotFound(codes.BLOB_NOT_FOUND, f"{digest!r:.80} is not a sha256 digest",
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
        codes.ARTIFACT_DIGEST_MISMATCH,
        f"sha256 of {what} is {actual}, not the expected {expected}",
        "the bytes were altered or truncated on the way; send them again",
        {"expected": expected, "actual": actual})


@contextmanager
def room_for(what: str) -> Iterator[None]:
    """Turn a disk without room (ENOSPC, a quota: EDQUOT) into ``storage.full``."""
    try:
        yield
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull(codes.STORAGE_FULL, f"There is no room left for {what}: "
                              f"{error.strerror}", "free space on that disk (charter gc "
                              "removes blobs no version uses), then send it again",
                              {"errno": errno.errorcode[error.errno]}) from error
        raise


def blob_missing(digest: str) -> NotFound:
    return NotFound(codes.BLOB_NOT_FOUND, f"blob {digest} is not in the store",
                    "the version's files may have been purged; restore the blob store")


class Hasher:
    """sha256 and byte count of a stream, fed chunk by chunk.

    With ``transit``, also the XXH3-128 of the same bytes: the check an uploading
    client compares with its own (``transit_hexdigest``). sha256 names the blob and
    is what a pull verifies; the client need not compute it a second time to know
    the bytes arrived intact, and XXH3 costs it 1/30 of sha256's CPU.
    """

    def __init__(self, *, transit: bool = False) -> None:
        self._sha = hashlib.sha256()
        self._transit = xxhash.xxh3_128() if transit else None
        self.size = 0

    def update(self, chunk: bytes | memoryview) -> None:
        self._sha.update(chunk)
        if self._transit is not None:
            self._transit.update(chunk)
        self.size += len(chunk)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()

    def transit_hexdigest(self) -> str:
        if self._transit is None:
            raise RuntimeError("this Hasher was made without transit=True")
        return self._transit.hexdigest()


def transit_mismatch(mine: str, theirs: str, what: str) -> IntegrityFailure:
    return IntegrityFailure(
        codes.ARTIFACT_TRANSIT_MISMATCH,
        f"{what}: the server received bytes whose XXH3-128 is {theirs}, not this file's {mine}",
        "the file changed while it was sent, or the bytes were altered on the way; "
        "send it again", {"expected": mine, "actual": theirs})
