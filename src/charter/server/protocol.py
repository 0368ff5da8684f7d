"""uvicorn's httptools protocol, writing each answer to its socket once.

uvicorn writes an answer's status line and headers when the app sends
``http.response.start`` and its body when the app sends the body: two ``write`` system
calls, and the client woken twice (on loopback each write runs the receiver's TCP
path and wakes it; seen with ``strace`` under wrk: two writes per answer of 236 bytes).
Here the connection's transport holds what is written until the event loop's current
turn ends, then writes it at once: an answer whose start and body are sent in one
turn — every JSON answer — leaves in one write. Large bodies are not held back: once
``FLUSH_BYTES`` are held they are written at once, so a streamed file still moves
chunk by chunk under the transport's own flow control.

``charter serve`` names this class as uvicorn's ``http`` protocol (server/run.py). A bulk
body sent or received on the socket itself (api/sockets.py) sees through it: ``wrapped``
is the socket's transport, ``flush()`` writes what is held before the socket is taken.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

FLUSH_BYTES = 64 * 1024  # held bytes written at once, without waiting for the turn's end


class OneWriteTransport:
    """A transport that gathers the writes of one turn of the loop into one write; every
    other call goes to the transport it wraps (the held bytes first, where order
    matters: closing, aborting, half-closing)."""

    __slots__ = ("_transport", "_loop", "_held", "_size", "_scheduled")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._size = 0
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._held.append(bytes(data))
        self._size += len(data)
        if self._size >= FLUSH_BYTES:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._end_of_turn)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    @property
    def wrapped(self) -> asyncio.Transport:
        """The transport written to (api/sockets.py takes its socket for bulk bodies)."""
        return self._transport

    def flush(self) -> None:
        """Write what is held, in one write (api/sockets.py, before the socket is taken)."""
        if not self._held:
            return
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held.clear()
        self._size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def _end_of_turn(self) -> None:
        self._scheduled = False
        self.flush()

    def get_write_buffer_size(self) -> int:
        return self._size + self._transport.get_write_buffer_size()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held.clear()
        self._size = 0
        self._transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteHttpTools(HttpToolsProtocol):
    """``HttpToolsProtocol`` over a ``OneWriteTransport``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        held: Any = OneWriteTransport(transport, self.loop)
        super().connection_made(held)


HTTP_PROTOCOL = f"{__name__}:{OneWriteHttpTools.__qualname__}"  # uvicorn's ``http`` option
