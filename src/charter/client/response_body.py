"""A downloaded file's body as the client reads it: chunks prefetched in a helper
thread, or spliced from the socket into a file inside the kernel (Linux, plain HTTP).
``Transfers.get_file`` answers one (client/transfer.py).
"""

from __future__ import annotations

import http.client
import os
import queue
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from charter.fileio import CHUNK
from charter.fileio.splice import CAN_SPLICE, splice_from

PREFETCH_DEPTH = 4

T = TypeVar("T")


class ResponseBody:
    """A file's bytes as they arrive: iterate the chunks, or ``splice_into`` a file.

    Iterating reads the response in a helper thread, a chunk ahead. ``splice_into``
    moves the bytes from the socket to the file inside the kernel (Linux, plain
    HTTP), so they are copied once, into the page cache, instead of into Python
    and out again; the caller hashes them from the file.
    """

    def __init__(self, response: http.client.HTTPResponse,
                 connection: http.client.HTTPConnection, sock: socket.socket | None) -> None:
        self._response, self._connection, self._sock = response, connection, sock
        self._chunks: Iterator[memoryview] | None = None

    def __iter__(self) -> Iterator[memoryview]:
        if self._chunks is None:
            self._chunks = prefetched(_read_response(self._response, self._connection))
        return self._chunks

    def close(self) -> None:
        if self._chunks is not None:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
        self._connection.close()

    def splice_into(self, fd: int, offset: int, count: int,
                    written: Callable[[int], None]) -> bool:
        """Write the whole body, exactly ``count`` bytes, into ``fd`` at ``offset``.

        False (and nothing read) when the body cannot be spliced: TLS, no
        ``os.splice``, or a length other than ``count``; iterate it then.
        """
        sock = self._sock  # open while the response reads from it
        if (self._chunks is not None or not CAN_SPLICE or sock is None
                or isinstance(sock, ssl.SSLSocket) or self._response.length != count):
            return False
        try:
            buffered = self._response.fp.peek(1)[:count]  # read past the headers already
            data = memoryview(self._response.fp.read(len(buffered)) if buffered else b"")
            at = offset
            while data:
                count_written = os.pwrite(fd, data, at)
                data, at = data[count_written:], at + count_written
            if at > offset:
                written(at - offset)
            splice_from(sock, fd, at, count - (at - offset), written)
        finally:
            self._response.close()
            self._connection.close()
        return True


def _read_response(response: http.client.HTTPResponse,
                   connection: http.client.HTTPConnection) -> Iterator[memoryview]:
    # readinto a fresh buffer per chunk: read(n) would copy every byte once more.
    try:
        while True:
            buffer = bytearray(CHUNK)
            count = response.readinto(buffer)
            if not count:
                return
            yield memoryview(buffer)[:count]
    finally:
        connection.close()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def prefetched(chunks: Iterable[T], depth: int = PREFETCH_DEPTH) -> Iterator[T]:
    """Iterate ``chunks`` in a helper thread, up to ``depth`` chunks ahead of the consumer."""
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not offer(chunk):
                    return
            offer(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer
            offer(_Failure(error))
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    threading.Thread(target=produce, name="charter-prefetch", daemon=True).start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
