"""Connections spread evenly over ``charter serve --workers N``.

The workers share one listening socket, and a worker accepts a waiting connection only
while it holds no more connections than the fewest another worker holds. Each worker
publishes how many it holds in a small table of shared memory (``Holdings``) that the
supervisor makes before it forks them.

Why: a worker answers its connections' requests in turn, so a request waits for the
others queued on the same worker. Left to the kernel, the split is uneven: with a socket
per worker (SO_REUSEPORT) it hashed 16 keep-alive connections 7/9 or 6/10 in most trials,
and the worker holding 10 answered each request after ~10 others while its sibling
answered after 6 — the slowest answers (p99) followed the longer queue. With one shared
socket and no rule, the worker that woke first took every connection waiting.

What a new connection may wait for: a worker over its share does not accept, and looks
again after ``RETRY_S``; once a connection has waited ``PATIENCE_S`` for a worker that
should take it (one stuck, or killed and not yet replaced), any worker takes it. A dead
worker's slot is marked ``ABSENT`` by the supervisor, so it is nobody's fewest.
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import select
import socket
import time
from collections.abc import Callable, Sized
from typing import Any

import uvicorn

ABSENT = 1 << 62  # a slot with no worker: more connections than any worker holds
RETRY_S = 0.002   # a worker over its share looks again this soon
PATIENCE_S = 0.05  # a connection waiting this long is taken by any worker
PUBLISH_S = 0.1   # how often a worker publishes its count besides (a backstop)
ACCEPTS_PER_TURN = 64  # connections one wake-up may accept, so requests are not starved

log = logging.getLogger("charter.server")


class Holdings:
    """How many connections each worker holds: a 64-bit count per slot, in anonymous
    shared memory that forked workers inherit. A worker writes only its own slot; reads
    of the others may be a moment stale, which costs at most one connection of skew."""

    def __init__(self, workers: int) -> None:
        self._memory = mmap.mmap(-1, 8 * workers)  # MAP_SHARED: the children see writes
        self._counts = memoryview(self._memory).cast("q")
        for slot in range(workers):
            self._counts[slot] = ABSENT

    def publish(self, slot: int, held: int) -> None:
        self._counts[slot] = held

    def leave(self, slot: int) -> None:
        self._counts[slot] = ABSENT

    def held(self, slot: int) -> int:
        return int(self._counts[slot])

    def fewest_elsewhere(self, slot: int) -> int:
        fewest = ABSENT
        for other, held in enumerate(self._counts):
            if other != slot and held < fewest:
                fewest = held
        return fewest


def may_accept(held: int, fewest_elsewhere: int, waited_s: float) -> bool:
    """Whether a worker holding ``held`` connections takes the next one: when no other
    worker holds fewer, or when the connection has waited ``PATIENCE_S`` already."""
    return held <= fewest_elsewhere or waited_s >= PATIENCE_S


class Acceptor:
    """One worker's side: accepts from the shared socket while it holds its share, and
    hands each connection to the event loop with the server's protocol. ``connections``
    is the server's set of open connections (uvicorn's ``server_state.connections``).
    ``close()`` and ``wait_closed()`` let uvicorn stop it as it stops its own servers."""

    def __init__(self, sock: socket.socket, holdings: Holdings, slot: int,
                 connections: Sized, protocol: Callable[[], asyncio.Protocol]) -> None:
        self._sock = sock
        self._holdings = holdings
        self._slot = slot
        self._connections = connections
        self._protocol = protocol
        self._opening: set[asyncio.Task[None]] = set()
        self._waiting_since: float | None = None
        self._watching = False
        self._closed = False
        self._timers: list[asyncio.TimerHandle] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._sock.setblocking(False)
        self._publish()
        self._watch()
        self._timers.append(loop.call_later(PUBLISH_S, self._republish))

    def held(self) -> int:
        return len(self._connections) + len(self._opening)

    def close(self) -> None:
        self._closed = True
        self._unwatch()
        for timer in self._timers:
            timer.cancel()
        self._holdings.leave(self._slot)

    async def wait_closed(self) -> None:
        if self._opening:
            await asyncio.gather(*self._opening, return_exceptions=True)

    def _publish(self) -> None:
        self._holdings.publish(self._slot, self.held())

    def _republish(self) -> None:
        assert self._loop is not None
        self._timers = [t for t in self._timers if not t.cancelled()]
        if not self._closed:
            self._publish()
            self._timers.append(self._loop.call_later(PUBLISH_S, self._republish))

    def _watch(self) -> None:
        if not self._watching and not self._closed:
            assert self._loop is not None
            self._loop.add_reader(self._sock.fileno(), self._ready)
            self._watching = True

    def _unwatch(self) -> None:
        if self._watching:
            assert self._loop is not None
            self._loop.remove_reader(self._sock.fileno())
            self._watching = False

    def _retry(self) -> None:
        """After leaving a connection to the others: if they took it, the next one to come
        has not waited yet."""
        if not _waiting(self._sock):
            self._waiting_since = None
        self._watch()

    def _ready(self) -> None:
        """A connection waits on the shared socket (every worker is woken for it)."""
        assert self._loop is not None
        for _ in range(ACCEPTS_PER_TURN):
            now = time.monotonic()
            if self._waiting_since is None:
                self._waiting_since = now
            held = self.held()
            if not may_accept(held, self._holdings.fewest_elsewhere(self._slot),
                              now - self._waiting_since):
                self._unwatch()  # the socket stays readable: look again in a moment
                self._timers.append(self._loop.call_later(RETRY_S, self._retry))
                return
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):  # another worker took it
                self._waiting_since = None
                return
            except OSError as error:  # out of descriptors, say: wait, do not spin
                log.warning("accepting a connection failed: %s", error)
                self._unwatch()
                self._timers.append(self._loop.call_later(PUBLISH_S, self._watch))
                return
            self._waiting_since = None
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            opening = self._loop.create_task(self._open(conn))
            self._opening.add(opening)
            self._holdings.publish(self._slot, held + 1)

    def _made(self) -> asyncio.Protocol:
        """The server's protocol for a connection, publishing the count again when the
        connection ends: a count left high for a moment would have the others take more
        than their share (a client closing its connections and opening new ones)."""
        protocol = self._protocol()
        lost = protocol.connection_lost

        def connection_lost(error: Exception | None) -> None:
            lost(error)
            if not self._closed:
                self._publish()

        protocol.connection_lost = connection_lost  # type: ignore[method-assign, assignment]
        return protocol

    async def _open(self, conn: socket.socket) -> None:
        assert self._loop is not None
        try:
            await self._loop.connect_accepted_socket(self._made, conn)
        except OSError:  # the client went away before the connection was set up
            conn.close()
        finally:
            current = asyncio.current_task()
            if current is not None:
                self._opening.discard(current)
            if not self._closed:
                self._publish()


def _waiting(sock: socket.socket) -> bool:
    """Whether a connection waits on the listening socket (it polls readable)."""
    poll = select.poll()
    poll.register(sock.fileno(), select.POLLIN)
    return bool(poll.poll(0))


class BalancedServer(uvicorn.Server):
    """uvicorn's server, taking its connections from an ``Acceptor`` on the shared socket
    instead of listening itself; uvicorn stops the acceptor as it would its own server."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket, holdings: Holdings,
                 slot: int) -> None:
        super().__init__(config)
        self._shared = sock
        self._holdings = holdings
        self._slot = slot

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the app started; no socket of uvicorn's own
        loop = asyncio.get_running_loop()
        config = self.config

        def protocol() -> asyncio.Protocol:  # as uvicorn makes one for each connection
            made: Any = config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state,
                app_state=self.lifespan.state, _loop=loop)
            return made

        acceptor = Acceptor(self._shared, self._holdings, self._slot,
                            self.server_state.connections, protocol)
        acceptor.start(loop)
        self.servers.append(acceptor)  # type: ignore[arg-type]
