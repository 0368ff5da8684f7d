"""Bulk bodies straight between the socket and the disk, when the server is uvicorn.

Through ASGI, every byte of a body crosses uvicorn's parser, a bytearray, a bytes
copy and one event-loop wake-up per 64 KiB: measured here, about 1.3 CPU seconds per
GiB uploaded on top of hashing and writing it, and a read plus a copy per byte sent.
For file bodies Charter instead takes the connection's socket for the rest of the
request, in a thread of its own:

* **upload**: after the first body message (which also sends ``100 Continue``),
  reading is paused and the blob writer takes the remaining ``Content-Length`` bytes
  itself: spliced into the blob file by the kernel (a local store on Linux), else
  received with ``recv_into`` into the chunks it hashes and writes;
* **download**: the headers go out through uvicorn, then the blob goes out with
  ``sendfile`` (no copy through Python), and the connection is closed.

Either way the HTTP parser no longer knows where the connection stands, so the
connection is closed after the response (``Connection: close``); clients open a new
one (Charter's client does so for every file anyway). Everything else is unchanged:
the same checks, the same writer verifying the sha256, the same headers.

``connection_of`` finds the socket only for uvicorn's httptools protocol over plain
TCP or a Unix socket; anything else (TLS, the h11 protocol, another server, the
test client) gets None and the ordinary ASGI path.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput
from charter.fileio.sockets import receive_exactly
from charter.fileio.splice import SocketSource, Spliceable

DIRECT_MIN = 1024 * 1024      # smaller bodies take the ASGI path and keep the connection
RECEIVE_CHUNK = 1024 * 1024   # recv_into fills chunks this big before they are hashed
IDLE_TIMEOUT = 300.0          # seconds without a byte moving before a transfer fails
DISCONNECT_WAIT = 10.0        # for uvicorn to notice a connection we closed
_PROTOCOL_MODULE = "uvicorn.protocols.http.httptools_impl"
_PLAIN_TRANSPORTS = {"TCPTransport", "UnixTransport", "_SelectorSocketTransport"}

T = TypeVar("T")


@dataclass(frozen=True)
class Connection:
    cycle: Any          # uvicorn's RequestResponseCycle of this request
    transport: Any      # its asyncio transport (uvloop's or asyncio's)
    fd: int             # the socket's descriptor (the transport owns it)

    def close_after_response(self) -> None:
        """The parser is out of step with the stream: no further request on it."""
        self.cycle.keep_alive = False

    def dup_socket(self) -> socket.socket:
        """A socket object of our own on the same connection (closing it leaves uvicorn's)."""
        sock = socket.socket(fileno=os.dup(self.fd))
        sock.settimeout(IDLE_TIMEOUT)  # non-blocking underneath, as uvicorn needs it
        return sock


def connection_of(request: Request) -> Connection | None:
    """The plain socket under ``request`` when uvicorn's httptools protocol serves it."""
    cycle = getattr(request.receive, "__self__", None)
    if cycle is None or type(cycle).__module__ != _PROTOCOL_MODULE:
        return None
    transport = getattr(cycle, "transport", None)
    # charter serve's protocol writes through a transport that holds a turn's writes
    # (server/protocol.py): the socket's own transport is the one it wraps.
    plain = getattr(transport, "wrapped", transport)
    if (plain is None or type(plain).__name__ not in _PLAIN_TRANSPORTS
            or plain.get_extra_info("sslcontext") is not None
            or plain.get_extra_info("ssl_object") is not None
            or not hasattr(cycle, "keep_alive")):
        return None
    sock = plain.get_extra_info("socket")
    try:
        fd = sock.fileno() if sock is not None else -1
    except (OSError, ValueError):
        return None
    return Connection(cycle, transport, fd) if fd >= 0 else None


async def in_thread(work: Callable[[], T], sock: socket.socket) -> T:
    """Run a transfer in a thread of its own (never the shared pools: a long upload
    would hold one of their few threads); cancelling shuts the socket to end it."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if done.cancelled():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)

    def run() -> None:
        try:
            result = work()
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting task
            loop.call_soon_threadsafe(settle, None, error)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    thread = threading.Thread(target=run, name="charter-transfer", daemon=True)
    thread.start()
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # the thread's recv or sendfile fails at once
        await asyncio.get_running_loop().run_in_executor(None, thread.join, 10.0)
        raise


# ---- uploads ---------------------------------------------------------------------------

class Sink(Protocol):
    """Where a body goes: chunks to ``write``, or a source ``receive`` lets write itself."""

    def write(self, chunk: bytes | memoryview) -> None: ...
    def receive(self, source: Spliceable, count: int) -> bool: ...


async def receive_body(request: Request, connection: Connection, sink: Sink) -> bool:
    """Receive the whole body into ``sink``, the rest of it off the socket directly.

    False when the request does not qualify (no Content-Length, or a small body that
    had better keep its connection alive): nothing was read, use the ASGI path. The
    sink is fed from a worker thread.
    """
    length = _content_length(request)
    if length is None or length < DIRECT_MIN:
        return False
    message = await request.receive()  # also answers "Expect: 100-continue"
    connection.transport.pause_reading()  # same tick: no byte left in uvicorn's buffers
    connection.close_after_response()
    if message["type"] != "http.request":
        raise ClientDisconnect()
    first: bytes = message.get("body", b"")
    remaining = length - len(first)
    if remaining < 0 or (remaining and not message.get("more_body", False)):
        raise _wrong_length(length)
    sock = connection.dup_socket()
    try:
        await in_thread(lambda: _receive(sock, first, remaining, sink), sock)
    except ConnectionError as error:  # as request.stream() reports a client gone mid-body
        raise ClientDisconnect() from error
    finally:
        sock.close()
    return True


def _receive(sock: socket.socket, first: bytes, remaining: int, sink: Sink) -> None:
    if first:
        sink.write(first)
    if remaining and sink.receive(SocketSource(sock), remaining):
        return  # spliced from the socket into the blob file (a local store, Linux)
    while remaining:
        # A fresh chunk each time: the writer hands it to its own thread, so a
        # reused buffer could be overwritten before it reached the disk.
        chunk = receive_exactly(sock, min(RECEIVE_CHUNK, remaining))
        sink.write(chunk)
        remaining -= len(chunk)


def _content_length(request: Request) -> int | None:
    if "chunked" in request.headers.get("transfer-encoding", "").lower():
        return None
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


def _wrong_length(length: int) -> InvalidInput:
    return InvalidInput(codes.UPLOAD_BAD_LENGTH, f"The body does not have the {length} bytes its "
                        "Content-Length announced", "send the file again")


# ---- downloads -------------------------------------------------------------------------

class SendfileResponse(Response):
    """A file's bytes [start, stop) sent by the kernel; the connection closes after it."""

    def __init__(self, connection: Connection, blob: BinaryIO, start: int, stop: int,
                 status_code: int, headers: dict[str, str]) -> None:
        super().__init__(status_code=status_code, headers=headers)
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self.raw_headers.append((b"content-length", str(stop - start).encode()))
        self._connection, self._blob, self._start, self._stop = connection, blob, start, stop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = self._connection
        connection.close_after_response()  # uvicorn adds "Connection: close"
        with self._blob as blob:
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
            flush = getattr(connection.transport, "flush", None)
            if flush is not None:  # the headers, held for the end of the loop's turn
                flush()
            if connection.transport.get_write_buffer_size():  # headers still queued:
                await self._send_through_asgi(blob, send)  # keep the order, the slow way
                return
            sock = connection.dup_socket()
            try:
                await in_thread(lambda: sock.sendfile(blob, self._start,
                                                      self._stop - self._start), sock)
            except OSError:
                pass  # the client went away (or stalled past IDLE_TIMEOUT): nothing to tell
            finally:
                sock.close()
        # The body went around uvicorn: end the connection and let uvicorn see it end,
        # so it neither waits for more body nor reports an unfinished response.
        connection.transport.close()
        await asyncio.wait_for(_disconnected(receive), DISCONNECT_WAIT)

    async def _send_through_asgi(self, blob: Any, send: Send) -> None:
        blob.seek(self._start)
        left = self._stop - self._start
        while left:
            chunk = await run_in_threadpool(blob.read, min(RECEIVE_CHUNK, left))
            if not chunk:
                raise EOFError(f"{blob.name} is shorter than its record")
            left -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": bool(left)})
        if not self._stop - self._start:
            await send({"type": "http.response.body", "body": b""})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
