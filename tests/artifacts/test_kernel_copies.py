"""The pieces that move file bytes inside the kernel (charter.fileio), over a local
socket pair, and how the stores and the client use them.

``splice_from`` (socket -> file), ``HashBehind`` (hashes what landed, from the
file), ``send_file`` through the client's ``_send_body`` (sendfile on a plain
socket, chunks under TLS), ``FileHash`` and ``Writeback``: each must move exactly
the bytes asked, and say so when the other end stops short.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import socket
import threading
import time

import pytest
import xxhash

from charter.artifacts.cache import BlobCache
from charter.artifacts.common import Hasher
from charter.artifacts.local import LocalBlobStore
from charter.client import transfer
from charter.domain.errors import CharterError, StorageFull
from charter.fileio import disk, sockets
from charter.fileio.disk import Writeback
from charter.fileio.hashing import FileHash, HashBehind
from charter.fileio.splice import CAN_SPLICE, SocketSource, splice_from

DATA = os.urandom(3 * 1024 * 1024 + 17)


def send_in_thread(sock: socket.socket, data: bytes) -> threading.Thread:
    def run() -> None:
        sock.sendall(data)
        sock.close()
    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.skipif(not CAN_SPLICE, reason="splice is Linux only")
def test_spliced_bytes_land_at_the_offset_and_are_hashed_from_the_file(tmp_path):
    left, right = socket.socketpair()
    right.settimeout(10)
    sender = send_in_thread(left, DATA)
    target = tmp_path / "blob"
    target.write_bytes(b"head")
    fd = os.open(target, os.O_RDWR)
    hasher, landed = Hasher(), []
    behind = HashBehind(fd, 4, hasher)
    try:
        splice_from(right, fd, 4, len(DATA), lambda n: (landed.append(n), behind.landed(n)))
    finally:
        behind.finish()
        os.close(fd)
        right.close()
        sender.join()
    assert target.read_bytes() == b"head" + DATA and sum(landed) == len(DATA)
    assert hasher.hexdigest() == hashlib.sha256(DATA).hexdigest()


@pytest.mark.skipif(not CAN_SPLICE, reason="splice is Linux only")
def test_a_peer_that_closes_early_fails_the_splice(tmp_path):
    left, right = socket.socketpair()
    right.settimeout(10)
    sender = send_in_thread(left, DATA[:1000])
    fd = os.open(tmp_path / "blob", os.O_RDWR | os.O_CREAT)
    try:
        with pytest.raises(ConnectionResetError):
            splice_from(right, fd, 0, len(DATA), lambda n: None)
    finally:
        os.close(fd)
        right.close()
        sender.join()


class FakeConnection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock


@pytest.mark.parametrize("tls", [False, True])
def test_a_body_is_sent_whole_by_sendfile_or_in_chunks_under_tls(tmp_path, monkeypatch, tls):
    if tls:  # the socket passes for a TLS one: sendfile cannot encrypt
        monkeypatch.setattr(sockets.ssl, "SSLSocket", socket.socket)
    source = tmp_path / "weights.bin"
    source.write_bytes(DATA)
    left, right = socket.socketpair()
    received = bytearray()
    reader = threading.Thread(target=lambda: received.extend(_read_all(right)))
    reader.start()
    progress: list[int] = []
    with open(source, "rb") as stream:
        transfer._send_body(FakeConnection(left), stream, len(DATA), progress.append)
    left.close()
    reader.join()
    assert bytes(received) == DATA and sum(progress) == len(DATA)


def test_a_file_shorter_than_its_listed_size_is_refused(tmp_path):
    source = tmp_path / "weights.bin"
    source.write_bytes(DATA[:1000])
    left, right = socket.socketpair()
    reader = threading.Thread(target=lambda: _read_all(right))
    reader.start()
    with open(source, "rb") as stream, pytest.raises(CharterError) as refused:
        transfer._send_body(FakeConnection(left), stream, len(DATA), None)
    left.close()
    reader.join()
    assert refused.value.code == "upload.file_changed"


def test_the_upload_hash_thread_hashes_exactly_the_listed_size(tmp_path):
    source = tmp_path / "weights.bin"
    source.write_bytes(DATA + b"appended after it was listed")
    assert transfer.hash_file(source, len(DATA)) == hashlib.sha256(DATA).hexdigest()
    checksum = FileHash(source, len(DATA), xxhash.xxh3_128).result()
    assert checksum == xxhash.xxh3_128(DATA).hexdigest()
    with pytest.raises(CharterError):
        transfer.hash_file(source, len(DATA) + 1000)


def test_a_stopped_hash_thread_gives_no_digest_rather_than_a_partial_one(tmp_path):
    source = tmp_path / "weights.bin"
    source.write_bytes(DATA)
    started = threading.Event()

    class Slow:
        def __init__(self) -> None:
            self._inner = hashlib.sha256()

        def update(self, data) -> None:
            started.set()
            time.sleep(0.05)
            self._inner.update(data)

        def hexdigest(self) -> str:
            return self._inner.hexdigest()

    hashing = FileHash(source, len(DATA), Slow)
    started.wait(5)
    hashing.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        hashing.result()


def test_reserving_allocates_the_blocks_and_keeps_the_size(tmp_path):
    target = tmp_path / "blob"
    target.write_bytes(b"head")
    fd = os.open(target, os.O_RDWR)
    try:
        disk.reserve(fd, 4, 8 * 1024 * 1024)
        disk.reserve(fd, 4, 0)  # nothing to reserve: nothing happens
    finally:
        os.close(fd)
    assert target.read_bytes() == b"head"  # the size did not move
    if disk._FALLOCATE is not None:  # Linux: the blocks are there before any write
        assert target.stat().st_blocks * 512 >= 8 * 1024 * 1024


def no_room(fd, mode, offset, count):
    ctypes.set_errno(errno.ENOSPC)
    return -1


def test_a_blob_the_disk_cannot_hold_is_refused_before_a_byte_is_taken(tmp_path, monkeypatch):
    monkeypatch.setattr(disk, "_FALLOCATE", no_room)
    store = LocalBlobStore(tmp_path / "blobs")
    writer = store.writer()
    left, right = socket.socketpair()
    left.sendall(b"the first bytes of a large body")
    try:
        with pytest.raises(StorageFull) as refused:
            writer.receive(SocketBody(right), 10 * 1024 * 1024)
        assert right.recv(100) == b"the first bytes of a large body"  # nothing taken
    finally:
        writer.abort()
        left.close()
        right.close()
    assert refused.value.code == "storage.full" and refused.value.details["errno"] == "ENOSPC"
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []


def test_a_pull_the_cache_disk_cannot_hold_is_storage_full_and_publishes_nothing(
        tmp_path, monkeypatch):
    monkeypatch.setattr(disk, "_FALLOCATE", no_room)
    cache = BlobCache(tmp_path / "cache")
    left, right = socket.socketpair()
    left.sendall(DATA[:1000])  # the body has begun; the cache refuses before taking it
    right.settimeout(10)
    try:
        with pytest.raises(StorageFull):
            cache.fill(hashlib.sha256(DATA).hexdigest(), len(DATA),
                       lambda offset: (0, SocketBody(right)))
        assert right.recv(2000) == DATA[:1000]
    finally:
        left.close()
        right.close()
    assert not cache.has(hashlib.sha256(DATA).hexdigest(), len(DATA))


class SocketBody(SocketSource):
    """A body on a socket that splices, as the server's and the client's do; a pull
    may also iterate it (the client's can)."""

    def __iter__(self):
        return iter(())


def test_writeback_is_harmless_where_the_kernel_cannot_do_it(tmp_path, monkeypatch):
    monkeypatch.setattr(disk, "_SYNC_FILE_RANGE", None)
    fd = os.open(tmp_path / "blob", os.O_RDWR | os.O_CREAT)
    try:
        writeback = Writeback(fd, step=1024)
        os.write(fd, DATA[:4096])
        writeback.wrote(4096)  # nothing happens, nothing fails
    finally:
        os.close(fd)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(1 << 20):
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks)


def test_receiving_an_exact_count_takes_that_many_bytes_and_no_more():
    left, right = socket.socketpair()
    sender = send_in_thread(left, DATA)
    try:
        first = sockets.receive_exactly(right, 1_000_000)
        rest = sockets.receive_exactly(right, len(DATA) - 1_000_000)
        assert bytes(first) + bytes(rest) == DATA
        with pytest.raises(ConnectionResetError):  # the sender closed: no byte is left
            sockets.receive_exactly(right, 1)
    finally:
        right.close()
        sender.join()
