"""Moving file bytes over HTTP: request bodies into the blob store, blobs out as responses.

Under uvicorn, bodies of 1 MiB or more skip ASGI: uploads are spliced from the
socket into the blob file, downloads of local blobs go out with sendfile
(``charter.api.sockets``). Otherwise both directions stream in chunks and overlap
the network with the disk: while the event loop receives (or sends) one chunk, a
worker thread hashes and writes (or reads) the previous one. Either way memory
stays flat: a few MiB per transfer at most, whatever the file's size.

``file_response`` serves one stored file: ``application/octet-stream``,
``X-Content-Type-Options: nosniff``, ``Content-Disposition: attachment``, the
sha256 as ETag and ``Repr-Digest``, and single byte ranges (206, or 416 when the
range starts past the end).
"""

from __future__ import annotations

import asyncio
import base64
import re
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from typing import BinaryIO
from urllib.parse import quote, unquote_to_bytes

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from charter.api.sockets import DIRECT_MIN, SendfileResponse, connection_of, receive_body
from charter.artifacts.common import blob_missing
from charter.domain.paths import path_from_url, refused
from charter.domain.records import FileRecord
from charter.metrics import transferred
from charter.registry import ServerRegistry
from charter.service.uploads import FileUpload

HANDOFF = 1024 * 1024
SHA256_HEADER = "x-charter-sha256"
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


# ---- paths and URLs ---------------------------------------------------------------------

def raw_tail(request: Request, decoded: str) -> str:
    """The file path as the client sent it, checked by the one path rule.

    ``decoded`` is the router's (already percent-decoded) path parameter; its
    segment count picks the same tail out of the raw path, which is then decoded
    once more, strictly, by ``path_from_url``. An encoded '/' gives the decoded
    parameter more segments than the raw tail has, so the two disagree: refused.
    """
    raw: bytes = request.scope.get("raw_path") or request.url.path.encode()
    segments = raw.split(b"?", 1)[0].split(b"/")
    tail = b"/".join(segments[-len(decoded.split("/")):])
    if unquote_to_bytes(tail) != decoded.encode():
        raise refused(decoded, "it holds a percent-encoded '/' or a bad escape",
                      "encoded_separator")
    return path_from_url(tail)


def public_base_url(request: Request) -> str:
    """``scheme://host[/root]`` as the client reached us, proxies' X-Forwarded-* included."""
    # The raw headers read in one pass (the first of each name, as Headers.get reads it):
    # every get-download-uri asks, and three lookups through Headers cost twice as much.
    found: dict[bytes, bytes] = {}
    for name, value in request.scope["headers"]:
        if name in _BASE_URL_HEADERS and name not in found:
            found[name] = value
    proto = found.get(b"x-forwarded-proto", b"").decode("latin-1").split(",")[0].strip().lower()
    host = found.get(b"x-forwarded-host", b"").decode("latin-1").split(",")[0].strip()
    # the scope's scheme is what request.url.scheme parses out of a URL built from it
    scheme = proto if proto in ("http", "https") else request.scope.get("scheme", "http")
    if not _HOST.fullmatch(host):
        direct = found.get(b"host", b"").decode("latin-1")
        host = direct if _HOST.fullmatch(direct) else request.url.netloc
    return f"{scheme}://{host}{request.scope.get('root_path', '').rstrip('/')}"


_BASE_URL_HEADERS = frozenset({b"x-forwarded-proto", b"x-forwarded-host", b"host"})


# ---- uploads ---------------------------------------------------------------------------

def expected_digest(request: Request) -> str | None:
    value = request.headers.get(SHA256_HEADER)
    return value.strip() if value else None


async def receive_into(request: Request, upload: FileUpload) -> FileRecord:
    """Stream the request body into the blob writer; record the file when it is complete."""
    record = await _receive(request, upload)
    transferred("upload", record.size)  # charter_transfer_bytes_total{direction="upload"}
    return record


async def _receive(request: Request, upload: FileUpload) -> FileRecord:
    connection = connection_of(request)
    if connection is None:
        return await _receive_through_asgi(request, upload)
    try:
        if not await receive_body(request, connection, upload):
            return await _receive_through_asgi(request, upload)
        return await run_in_threadpool(upload.finish)
    except BaseException:
        await asyncio.shield(run_in_threadpool(upload.abort))
        raise


async def _receive_through_asgi(request: Request, upload: FileUpload) -> FileRecord:
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[None] | None = None
    batch: list[bytes] = []
    batched = 0
    try:
        async for chunk in request.stream():
            batch.append(chunk)  # kept as received: joining them would copy every byte once more
            batched += len(chunk)
            if batched >= HANDOFF:
                if pending is not None:
                    await pending
                pending = loop.run_in_executor(None, _write_batch, upload, batch)
                batch, batched = [], 0
        if pending is not None:
            await pending
        if batch:
            await run_in_threadpool(_write_batch, upload, batch)
        return await run_in_threadpool(upload.finish)
    except BaseException:
        if pending is not None:
            with suppress(BaseException):
                await asyncio.shield(pending)
        await asyncio.shield(run_in_threadpool(upload.abort))
        raise


def _write_batch(upload: FileUpload, chunks: list[bytes]) -> None:
    for chunk in chunks:
        upload.write(chunk)


# ---- downloads -------------------------------------------------------------------------

def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One ``bytes=`` range as [start, stop); None: serve everything.

    Several ranges and malformed headers are ignored (RFC 9110 lets a server answer
    200 with the whole representation); a range starting past the end raises
    ValueError, answered 416.
    """
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    first, dash, last = spec.strip().partition("-")
    if (unit.strip().lower() != "bytes" or "," in spec or not dash
            or not (first.isdigit() or not first) or not (last.isdigit() or not last)):
        return None
    if not first:  # the last N bytes
        if not last or int(last) == 0 or size == 0:
            raise ValueError("unsatisfiable")
        return max(0, size - int(last)), size
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise ValueError("unsatisfiable")
    return start, size if not last else min(int(last) + 1, size)


def file_headers(file: FileRecord) -> dict[str, str]:
    name = file.path.rsplit("/", 1)[-1]
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return {
        "content-type": "application/octet-stream",
        "x-content-type-options": "nosniff",
        "content-disposition": f"attachment; filename=\"{ascii_name}\"; "
                               f"filename*=UTF-8''{quote(name, safe='')}",
        "accept-ranges": "bytes",
        "etag": f'"{file.sha256}"',
        "repr-digest": f"sha-256=:{base64.b64encode(bytes.fromhex(file.sha256)).decode()}:",
        SHA256_HEADER: file.sha256,
        "cache-control": "private, no-transform",
    }


async def file_response(service: ServerRegistry, file: FileRecord,
                        request: Request) -> Response:
    """The file's bytes (or the asked range) as a streamed attachment."""
    headers = file_headers(file)
    try:
        wanted = parse_range(request.headers.get("range"), file.size)
    except ValueError:
        headers["content-range"] = f"bytes */{file.size}"
        return Response(status_code=416, headers=headers)
    start, stop = wanted or (0, file.size)
    status = 206 if wanted else 200
    if wanted:
        headers["content-range"] = f"bytes {start}-{stop - 1}/{file.size}"
    headers["content-length"] = str(stop - start)
    if request.method == "HEAD":
        await run_in_threadpool(service.blobs.size_of, file.sha256)  # 404 if it was purged
        return Response(status_code=status, headers=headers)
    transferred("download", stop - start)  # the bytes this answer carries
    connection = connection_of(request) if stop - start >= DIRECT_MIN else None
    blob = await run_in_threadpool(_open_local, service, file.sha256) if connection else None
    if connection is not None and blob is not None:  # the kernel sends the bytes
        return SendfileResponse(connection, blob, start, stop, status, headers)
    reader = _Reader(service.read_file(file, start, stop))
    first = await run_in_threadpool(reader.next)  # opens the blob: errors still get a body
    return StreamingResponse(_prefetched(first, reader), status_code=status, headers=headers)


def _open_local(service: ServerRegistry, digest: str) -> BinaryIO | None:
    """The blob opened for sendfile when it is a local file (not in S3)."""
    path = service.blobs.local_path(digest)  # raises blob.not_found if it was purged
    if path is None:
        return None
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise blob_missing(digest) from None


class _Reader:
    """A blob's chunk iterator, safe to close while a worker thread reads from it."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks: Iterator[bytes] | None = chunks
        self._lock = threading.Lock()

    def next(self) -> bytes | None:
        with self._lock:
            return None if self._chunks is None else next(self._chunks, None)

    def close(self) -> None:
        with self._lock:  # waits for a read in flight, then closes the file or connection
            chunks, self._chunks = self._chunks, None
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


async def _prefetched(first: bytes | None, reader: _Reader) -> AsyncIterator[bytes]:
    """Send one chunk while the next is read in a worker thread."""
    loop = asyncio.get_running_loop()
    try:
        chunk = first
        while chunk is not None:
            upcoming = loop.run_in_executor(None, reader.next)
            yield chunk
            chunk = await upcoming
    finally:
        reader.close()
