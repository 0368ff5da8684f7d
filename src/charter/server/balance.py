"""Connections spread evenly over ``charter serve --workers N``.

The workers share one listening socket, and a worker accepts a waiting connection only
while it holds no more connections than the fewest another worker holds. Each worker
publishes how many it holds, and when, in a small table of shared memory (``Holdings``)
that the supervisor makes before it forks them.

Why: a worker answers its connections' requests in turn, so a request waits for the
others queued on the same worker. Left to the kernel, the split is uneven: with a socket
per worker (SO_REUSEPORT) it hashed 16 keep-alive connections 7/9 or 6/10 in most trials,
and the worker holding 10 answered each request after ~10 others while its sibling
answered after 6 — the slowest answers (p99) followed the longer queue. With one shared
socket and no rule, the worker that woke first took every connection waiting.

What a new connection may wait for: a worker over its share stops watching the socket
and looks again after ``RETRY_S``, or at once when one of its own connections ends. If a
worker that should take the connections does not for ``PATIENCE_S`` while they keep
waiting, any worker takes them; a worker that has not published for ``STALE_S`` (its
loop stuck) is nobody's fewest, nor is a dead worker's slot, which the supervisor marks
``ABSENT``.
"""

from __future__ import annotations

import asyncio
import errno
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
PATIENCE_S = 0.05  # connections waiting this long, untaken by the others: anyone takes them
PUBLISH_S = 0.1   # a worker publishes its count at least this often (its loop turns)
STALE_S = 0.5     # a count not published for this long is a stuck worker's: skipped
ACCEPTS_PER_TURN = 64  # connections one wake-up may accept, so requests are not starved
# accept(2)'s errors that belong to the one connection (its client gone, the network's
# trouble): Linux's manual says to retry as after EAGAIN.
_ONE_CONNECTIONS = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.ENOPROTOOPT,
                              errno.EHOSTDOWN, errno.ENONET, errno.EHOSTUNREACH,
                              errno.EOPNOTSUPP, errno.ENETUNREACH, errno.ENETDOWN})
WARN_EVERY_S = 10.0  # at most one warning this often for a failing accept

log = logging.getLogger("charter.server")


class Holdings:
    """How many connections each worker holds, when it last said so, and how many it has
    accepted in all: a 64-bit count, a ``time.monotonic()`` stamp and a 64-bit total per
    slot, in anonymous shared memory that forked workers inherit (the monotonic clock is
    the machine's, the same in every process). A worker writes only its own slot; reads of
    the others may be a moment stale, which costs at most a connection of skew."""

    def __init__(self, workers: int) -> None:
        self._memory = mmap.mmap(-1, 24 * workers)  # MAP_SHARED: the children see writes
        whole = memoryview(self._memory)
        self._counts = whole[:8 * workers].cast("q")
        self._stamps = whole[8 * workers:16 * workers].cast("d")
        self._accepted = whole[16 * workers:].cast("q")
        for slot in range(workers):
            self._counts[slot] = ABSENT

    def publish(self, slot: int, held: int) -> None:
        self._counts[slot] = held
        self._stamps[slot] = time.monotonic()

    def leave(self, slot: int) -> None:
        self._counts[slot] = ABSENT

    def held(self, slot: int) -> int:
        return int(self._counts[slot])

    def fewest_elsewhere(self, slot: int, *, fresh_since: float | None = None) -> int:
        """The fewest connections another worker holds (``ABSENT``: none there); with
        ``fresh_since``, only of the workers that published since then."""
        fewest = ABSENT
        for other, held in enumerate(self._counts):
            if other != slot and held < fewest and (
                    fresh_since is None or self._stamps[other] >= fresh_since):
                fewest = held
        return fewest

    def took(self, slot: int) -> None:
        """One more connection accepted by this slot's worker."""
        self._accepted[slot] += 1

    def taken_elsewhere(self, slot: int) -> int:
        """How many connections the other workers have accepted in all: it moves only when
        they take one."""
        return sum(taken for other, taken in enumerate(self._accepted) if other != slot)


def may_accept(held: int, fewest_elsewhere: int, waited_s: float) -> bool:
    """Whether a worker holding ``held`` connections takes the next one: when no other
    worker holds fewer, or when connections have waited ``PATIENCE_S`` untaken."""
    return held <= fewest_elsewhere or waited_s >= PATIENCE_S


class Acceptor:
    """One worker's side: accepts from the shared socket while it holds its share, and
    hands each connection to the event loop with the server's protocol. ``connections``
    is the server's set of open connections (uvicorn's ``server_state.connections``).
    ``close()`` and ``wait_closed()`` let uvicorn stop it as it stops its own servers."""

    def __init__(self, sock: socket.socket, holdings: Holdings, slot: int,
                 connections: Sized, protocol: Callable[[], asyncio.Protocol]) -> None:
        self._sock = sock
        self._family = int(sock.family)
        self._holdings = holdings
        self._slot = slot
        self._connections = connections
        self._protocol = protocol
        self._opening: set[asyncio.Task[None]] = set()
        self._pending = 0  # accepted, not yet among ``connections``
        # Since when connections have waited that this worker left to the others, and
        # what the others held then: if that moves, they are taking them.
        self._waiting_since: float | None = None
        self._taken_then = 0
        self._watching = False
        self._closed = False
        self._later: asyncio.TimerHandle | None = None  # the next look, while unwatched
        self._tick: asyncio.TimerHandle | None = None   # the next publish
        self._loop: asyncio.AbstractEventLoop | None = None
        self._warned_at = -WARN_EVERY_S

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._sock.setblocking(False)
        self._publish()
        self._watch()
        self._tick = loop.call_later(PUBLISH_S, self._republish)

    def held(self) -> int:
        return len(self._connections) + self._pending

    def close(self) -> None:
        self._closed = True
        self._unwatch()
        for timer in (self._later, self._tick):
            if timer is not None:
                timer.cancel()
        self._holdings.leave(self._slot)

    async def wait_closed(self) -> None:
        if self._opening:
            await asyncio.gather(*self._opening, return_exceptions=True)

    def _publish(self) -> None:
        self._holdings.publish(self._slot, self.held())

    def _republish(self) -> None:
        assert self._loop is not None
        if not self._closed:
            self._publish()
            self._tick = self._loop.call_later(PUBLISH_S, self._republish)

    def _watch(self) -> None:
        if self._later is not None:
            self._later.cancel()
            self._later = None
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
        """After leaving connections to the others: if none waits now, or the others are
        taking them, whatever waits next has not waited on them yet."""
        if self._later is not None:  # called early: one of this worker's connections ended
            self._later.cancel()
            self._later = None
        if (not _waiting(self._sock)
                or self._holdings.taken_elsewhere(self._slot) != self._taken_then):
            self._waiting_since = None
        self._watch()

    def _ready(self) -> None:
        """A connection waits on the shared socket (every watching worker is woken)."""
        assert self._loop is not None
        for _ in range(ACCEPTS_PER_TURN):
            held = self.held()
            if held > self._holdings.fewest_elsewhere(self._slot) and not self._my_turn(held):
                self._unwatch()  # the socket stays readable: look again in a moment
                self._later = self._loop.call_later(RETRY_S, self._retry)
                return
            try:
                fd, _ = self._sock._accept()  # type: ignore[attr-defined]
            except (BlockingIOError, InterruptedError):  # another worker took it
                self._waiting_since = None
                return
            except OSError as error:
                if error.errno in _ONE_CONNECTIONS:  # that connection's own trouble
                    continue
                self._warn(error)  # out of descriptors, say: wait, do not spin
                self._unwatch()
                self._later = self._loop.call_later(PUBLISH_S, self._watch)
                return
            self._waiting_since = None
            # The listening socket's own family and type, not read back from the new one
            # as socket.accept() does (enum conversions: a tenth of this path). uvloop's
            # transport sets TCP_NODELAY.
            conn = socket.socket(self._family, socket.SOCK_STREAM, 0, fd)
            self._pending += 1
            self._holdings.took(self._slot)
            self._holdings.publish(self._slot, held + 1)
            opening = self._loop.create_task(self._open(conn))
            self._opening.add(opening)

    def _warn(self, error: OSError) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning("accepting a connection failed: %s", error)

    def _my_turn(self, held: int) -> bool:
        """Over its share by the published counts: still this worker's turn if the
        worker holding fewer is stuck, or has left connections waiting too long."""
        now = time.monotonic()
        fewest = self._holdings.fewest_elsewhere(self._slot, fresh_since=now - STALE_S)
        if self._waiting_since is None:
            self._waiting_since = now
            self._taken_then = self._holdings.taken_elsewhere(self._slot)
        return may_accept(held, fewest, now - self._waiting_since)

    def _made(self, opened: list[bool]) -> asyncio.Protocol:
        """The server's protocol for a connection, counted as it opens and published
        again as it ends: a count left high would have the others take more than their
        share, and this worker, now under its share, watches again at once."""
        protocol = self._protocol()
        made, lost = protocol.connection_made, protocol.connection_lost

        def connection_made(transport: asyncio.BaseTransport) -> None:
            made(transport)
            opened[0] = True
            self._pending -= 1

        def connection_lost(error: Exception | None) -> None:
            lost(error)
            if not self._closed:
                self._publish()
                if not self._watching:
                    self._retry()

        protocol.connection_made = connection_made  # type: ignore[method-assign]
        protocol.connection_lost = connection_lost  # type: ignore[method-assign, assignment]
        return protocol

    async def _open(self, conn: socket.socket) -> None:
        assert self._loop is not None
        opened = [False]
        try:
            _, protocol = await self._loop.connect_accepted_socket(
                lambda: self._made(opened), conn)
            if self._closed and opened[0]:  # uvicorn asked its connections to shut down
                shutdown = getattr(protocol, "shutdown", None)
                if shutdown is not None:
                    shutdown()
        except OSError:  # the client went away before the connection was set up
            conn.close()
        except Exception:  # noqa: BLE001 - a task's error would otherwise go unread
            log.exception("setting up an accepted connection failed")
            conn.close()
        finally:
            if not opened[0]:
                self._pending -= 1
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
