"""Moving bytes from a socket into a file inside the kernel (Linux ``splice``).

socket -> pipe -> file: the bytes are copied once, into the page cache, and never
through Python. A file writer that can take them this way asks its source for
``splice_into`` (``Spliceable``); a source that cannot says False and is read in
chunks instead.
"""

from __future__ import annotations

import os
import select
import socket
from collections.abc import Callable
from contextlib import suppress
from typing import Protocol

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no splice either
    fcntl = None  # type: ignore[assignment]

CAN_SPLICE = hasattr(os, "splice") and fcntl is not None and hasattr(select, "poll")
PIPE_SIZE = 1024 * 1024  # bytes per splice; the kernel may keep the pipe smaller


class Spliceable(Protocol):
    """A source that can write its bytes into a file descriptor itself."""

    def splice_into(self, fd: int, offset: int, count: int,
                    written: Callable[[int], None]) -> bool:
        """Write exactly ``count`` bytes at ``offset``, calling ``written(n)`` as they
        land; False (nothing taken) when it cannot."""
        ...


def splice_from(sock: socket.socket, fd: int, offset: int, count: int,
                written: Callable[[int], None]) -> None:
    """Move ``count`` bytes from a socket into a file at ``offset``. ``written(n)``
    follows every piece that landed. Waits for the socket as long as its timeout says
    (then TimeoutError); raises ConnectionResetError if the peer closes first.
    Linux (``CAN_SPLICE``) only.
    """
    read_end, write_end = os.pipe()
    try:
        with suppress(OSError):
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        timeout = sock.gettimeout()
        wait_ms = -1 if timeout is None else int(timeout * 1000)
        while count:
            try:
                moved = os.splice(sock.fileno(), write_end, min(count, PIPE_SIZE),
                                  flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK)
            except BlockingIOError:
                if not poller.poll(wait_ms):
                    raise TimeoutError("no byte arrived for too long") from None
                continue
            if not moved:
                raise ConnectionResetError(f"the peer closed with {count} bytes still to come")
            left = moved
            while left:
                landed = os.splice(read_end, fd, left, offset_dst=offset)
                offset, left = offset + landed, left - landed
            count -= moved
            written(moved)
    finally:
        os.close(read_end)
        os.close(write_end)


class SocketSource:
    """The next bytes on a socket, as a source a file writer can splice (``Spliceable``)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def splice_into(self, fd: int, offset: int, count: int,
                    written: Callable[[int], None]) -> bool:
        if not CAN_SPLICE:
            return False
        splice_from(self._sock, fd, offset, count, written)
        return True
