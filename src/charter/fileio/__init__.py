"""Fast file I/O: bytes between files and sockets, copied as few times as the kernel allows.

Standard library only, and nothing else of Charter (README.md): the blob stores, the
server's socket path and the client build on it. ``disk`` asks the kernel about a file's
blocks, ``writer`` writes beside the caller, ``hashing`` hashes beside it, ``splice``
moves socket bytes into a file, ``sockets`` moves file bytes onto a socket.
"""

from __future__ import annotations

from collections.abc import Callable

# The unit of every streamed read and write. Measured end to end (upload and pull of
# 512 MiB, client and server on one machine), 256 KiB used the least CPU per byte: a
# chunk stays in the CPU cache between the copy that brings it and the hash that reads
# it; 1 MiB and 4 MiB chunks spilled and cost 10-40% more, 128 KiB paid in overhead.
CHUNK = 256 * 1024

#: Told how many more bytes moved, as they move.
Progress = Callable[[int], None]

#: One chunk, or a list of chunks written together (one writev).
Chunks = bytes | bytearray | memoryview | list[bytes]
