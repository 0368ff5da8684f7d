"""Moving file bytes onto a socket (``sendfile``), and taking exact counts off one."""

from __future__ import annotations

import socket
import ssl
from typing import BinaryIO

from charter.fileio import CHUNK, Progress

SEND_STEP = 16 * 1024 * 1024  # bytes per sendfile call, between progress reports


def send_file(sock: socket.socket, stream: BinaryIO, size: int,
              progress: Progress | None = None) -> None:
    """Send the first ``size`` bytes of ``stream``: by the kernel (``sendfile``) on a plain
    socket, in ``CHUNK`` pieces through Python under TLS (the kernel cannot encrypt).
    Raises EOFError if the file ends first (it shrank since ``size`` was read)."""
    plain = not isinstance(sock, ssl.SSLSocket)
    sent = 0
    while sent < size:
        step = min(SEND_STEP, size - sent)
        if plain:
            count = sock.sendfile(stream, sent, step)
        else:
            chunk = stream.read(min(CHUNK, step))
            sock.sendall(chunk)
            count = len(chunk)
        if not count:
            raise EOFError(f"{getattr(stream, 'name', 'the file')} ended after {sent} "
                           f"of {size} bytes")
        sent += count
        if progress:
            progress(count)


def receive_exactly(sock: socket.socket, count: int) -> memoryview:
    """The next ``count`` bytes on ``sock``, received into a buffer of their own;
    ConnectionResetError if the peer closes first."""
    view = memoryview(bytearray(count))
    filled = 0
    while filled < count:
        received = sock.recv_into(view[filled:])
        if not received:
            raise ConnectionResetError(f"the peer closed with {count - filled} bytes "
                                       "still to come")
        filled += received
    return view
