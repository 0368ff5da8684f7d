"""Content-addressed blobs in S3-compatible object storage (AWS S3, MinIO, …).

Every key lives under one configured bucket and prefix:

* ``<prefix>/sha256/ab/cdef…``  published blobs, named by digest;
* ``<prefix>/staging/<key>``    upload-session records (small JSON);
* ``<prefix>/tmp/<uuid>``       blobs written before their digest was known.

Keys are built only from digests and server-made ids (``artifacts.common``), never
from a client's path, so nothing can address an object outside the prefix.

A blob is written as a multipart upload of fixed-size parts, hashed on the way.
When the caller names the expected digest up front (the Charter client does, for
this store) the upload targets the final key and is completed only after the
digest matched; a mismatch aborts it and nothing becomes visible. Otherwise the
parts go to a ``tmp/`` key that is copied into place once the digest is known.
Memory stays flat: at most ``MAX_PARTS_IN_FLIGHT`` parts are buffered at once.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from charter.artifacts.base import BlobStoreBase
from charter.artifacts.common import (
    BlobInfo,
    Hasher,
    StagedInfo,
    blob_missing,
    blob_name,
    check_digest,
    check_staged_key,
    digest_mismatch,
)
from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput
from charter.domain.paths import safe_relative_path
from charter.extras import require
from charter.fileio import CHUNK

PART_SIZE = 8 * 1024 * 1024       # S3's minimum is 5 MiB (except the last part)
MAX_PARTS_IN_FLIGHT = 4
PARTS_PER_STEP = 1000             # the part size grows every 1000 parts: 10,000 parts max
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def part_size(number: int, base: int = PART_SIZE) -> int:
    """Size of part ``number`` (1-based): 8 MiB, then 16 MiB after 1000 parts, … (≈440 GB)."""
    return base * (1 + (number - 1) // PARTS_PER_STEP)


def _missing(error: Exception) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
    return code in ("404", "NoSuchKey", "NotFound", "NoSuchUpload")


def _precondition_failed(error: Exception) -> bool:
    response = getattr(error, "response", {})
    return (response.get("Error", {}).get("Code") in ("PreconditionFailed", "412")
            or response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 412)


class S3BlobWriter:
    """One blob being written as a multipart upload; ``commit`` or ``abort`` it."""

    def __init__(self, store: S3BlobStore, expected: str | None) -> None:
        self._store = store
        self._expected = check_digest(expected) if expected else None
        self._key = store.key(blob_name(expected)) if expected else store.tmp_key()
        self._hasher = Hasher(transit=True)
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[Future[dict[str, Any]]] = []
        self._in_flight: deque[Future[dict[str, Any]]] = deque()

    @property
    def size(self) -> int:
        return self._hasher.size

    def transit_checksum(self) -> str:
        return self._hasher.transit_hexdigest()

    def write(self, chunk: bytes | memoryview) -> None:
        self._hasher.update(chunk)
        self._buffer += chunk
        while len(self._buffer) >= part_size(len(self._parts) + 1, self._store.part_size):
            self._send_part(part_size(len(self._parts) + 1, self._store.part_size))

    def _send_part(self, size: int) -> None:
        s3, bucket = self._store.client, self._store.bucket
        if self._upload_id is None:
            self._upload_id = s3.create_multipart_upload(Bucket=bucket, Key=self._key)["UploadId"]
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        number = len(self._parts) + 1
        while len(self._in_flight) >= MAX_PARTS_IN_FLIGHT:
            self._in_flight.popleft().result()
        future = self._store.pool.submit(self._upload_part, number, data)
        self._parts.append(future)
        self._in_flight.append(future)

    def _upload_part(self, number: int, data: bytes) -> dict[str, Any]:
        answer = self._store.client.upload_part(
            Bucket=self._store.bucket, Key=self._key, UploadId=self._upload_id,
            PartNumber=number, Body=data)
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def commit(self) -> tuple[str, int]:
        digest = self._hasher.hexdigest()
        try:
            if self._expected and digest != self._expected:
                raise digest_mismatch(self._expected, digest)
            final = self._store.key(blob_name(digest))
            if self._upload_id is None:  # small: one request, straight to the final key
                self._store.client.put_object(Bucket=self._store.bucket, Key=final,
                                              Body=bytes(self._buffer))
                return digest, self._hasher.size
            if self._buffer:
                self._send_part(len(self._buffer))
            parts = [future.result() for future in self._parts]
            self._store.client.complete_multipart_upload(
                Bucket=self._store.bucket, Key=self._key, UploadId=self._upload_id,
                MultipartUpload={"Parts": parts})
            self._upload_id = None
            if self._key != final:
                self._store.move(self._key, final)
            return digest, self._hasher.size
        finally:
            self.abort()

    def abort(self) -> None:
        for future in self._parts:
            future.cancel()
        self._buffer = bytearray()
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            for future in self._parts:
                if not future.cancelled():
                    future.exception()  # wait: a part still uploading would outlive the abort
            try:
                self._store.client.abort_multipart_upload(
                    Bucket=self._store.bucket, Key=self._key, UploadId=upload_id)
            except Exception:  # noqa: BLE001 - gc aborts what is left (collect_partials)
                pass


class S3BlobStore(BlobStoreBase):
    wants_digest_first = True

    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None,
                 endpoint_url: str | None = None, region: str | None = None,
                 addressing_style: str | None = None, part_size: int = PART_SIZE) -> None:
        if not _BUCKET.fullmatch(bucket or ""):
            raise InvalidInput(codes.CONFIG_INVALID, f"{bucket!r} is not an S3 bucket name",
                               "set [artifacts] bucket (or CHARTER_S3_BUCKET)")
        prefix = (prefix or "").strip("/")
        if prefix:
            safe_relative_path(prefix)
        self.bucket = bucket
        self.prefix = prefix + "/" if prefix else ""
        self.part_size = part_size
        self.client = client or _make_client(endpoint_url, region, addressing_style)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3BlobStore(s3://{self.bucket}/{self.prefix})"

    def check_ready(self) -> None:
        """Raise unless the bucket answers (the server's readiness check; HEAD, no change)."""
        self.client.head_bucket(Bucket=self.bucket)

    @property
    def pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="s3-part")
            return self._pool

    def key(self, name: str) -> str:
        return self.prefix + name

    def tmp_key(self) -> str:
        return self.key(f"tmp/{uuid.uuid4().hex}")

    def move(self, source: str, target: str) -> None:
        """Server-side copy (multipart for large objects), then drop the source."""
        self.client.copy({"Bucket": self.bucket, "Key": source}, self.bucket, target)
        self.client.delete_object(Bucket=self.bucket, Key=source)

    # ---- blobs ---------------------------------------------------------------------

    def writer(self, expected: str | None = None) -> S3BlobWriter:
        return S3BlobWriter(self, expected)

    def _head(self, digest: str) -> dict[str, Any] | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.key(blob_name(digest)))
        except Exception as error:
            if _missing(error):
                return None
            raise

    def exists(self, digest: str) -> bool:
        return self._head(digest) is not None

    def size_of(self, digest: str) -> int:
        head = self._head(digest)
        if head is None:
            raise blob_missing(digest)
        return int(head["ContentLength"])

    def blob_info(self, digest: str) -> BlobInfo | None:
        head = self._head(digest)
        return None if head is None else BlobInfo(digest, int(head["ContentLength"]),
                                                  head["LastModified"])

    def local_path(self, digest: str) -> None:
        return None  # bytes are served by streaming; there is no file to hand over

    def iter_chunks(self, digest: str, start: int = 0, stop: int | None = None,
                    chunk_size: int = CHUNK) -> Iterator[bytes]:
        options: dict[str, Any] = {}
        if start or stop is not None:
            options["Range"] = f"bytes={start}-{'' if stop is None else stop - 1}"
        if stop is not None and stop <= start:
            return
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key(blob_name(digest)),
                                            **options)
        except Exception as error:
            if _missing(error):
                raise blob_missing(digest) from None
            raise
        body = answer["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def delete(self, digest: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(blob_name(digest)))

    def _objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.key(prefix))
        for page in pages:
            yield from page.get("Contents", [])

    def blobs(self) -> Iterator[BlobInfo]:
        start = len(self.key("sha256/"))
        for item in self._objects("sha256/"):
            name = item["Key"][start:]
            digest = name.replace("/", "")
            if len(name) == 65 and name[2] == "/" and len(digest) == 64:
                yield BlobInfo(digest, int(item["Size"]), item["LastModified"])

    def collect_partials(self, before: datetime | None = None) -> int:
        """Abort multipart uploads and drop tmp/ objects older than ``before``; how many."""
        removed = 0
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            for upload in page.get("Uploads", []):
                if before is None or upload["Initiated"] < before:
                    try:
                        self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                        removed += 1
                    except Exception as error:
                        if not _missing(error):
                            raise
        for item in list(self._objects("tmp/")):
            if before is None or item["LastModified"] < before:
                self.client.delete_object(Bucket=self.bucket, Key=item["Key"])
                removed += 1
        return removed

    # ---- staging area ------------------------------------------------------------------

    def _staged_key(self, key: str) -> str:
        return self.key("staging/" + check_staged_key(key))

    def put_staged(self, key: str, data: bytes, *, exclusive: bool = False) -> bool:
        target = self._staged_key(key)
        if not exclusive:
            self.client.put_object(Bucket=self.bucket, Key=target, Body=data)
            return True
        if self.get_staged(key) is not None:  # stores that ignore If-None-Match still refuse
            return False
        try:
            self.client.put_object(Bucket=self.bucket, Key=target, Body=data, IfNoneMatch="*")
        except Exception as error:
            if _precondition_failed(error):
                return False
            raise
        return True

    def get_staged(self, key: str) -> bytes | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._staged_key(key))
        except Exception as error:
            if _missing(error):
                return None
            raise
        data: bytes = answer["Body"].read()
        return data

    def list_staged(self, prefix: str) -> list[StagedInfo]:
        start = len(self.key("staging/"))
        return [StagedInfo(item["Key"][start:], item["LastModified"])
                for item in self._objects("staging/" + check_staged_key(prefix) + "/")]

    def delete_staged(self, key: str) -> None:
        keys = [self._staged_key(key)] + [
            item["Key"] for item in self._objects("staging/" + check_staged_key(key) + "/")]
        for start in range(0, len(keys), 1000):
            self.client.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": k} for k in keys[start:start + 1000]], "Quiet": True})


def _make_client(endpoint_url: str | None, region: str | None,
                 addressing_style: str | None) -> Any:
    # Imported here: only servers configured for S3 need boto3 (the extra charter-registry[s3]).
    boto3 = require("boto3", "The S3 artifact store ([artifacts] backend = \"s3\")")
    Config = require("botocore.config", "The S3 artifact store").Config

    style = addressing_style or ("path" if endpoint_url else "auto")
    config = Config(retries={"max_attempts": 5, "mode": "standard"},
                    s3={"addressing_style": style}, max_pool_connections=32)
    return boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None,
                        config=config)
