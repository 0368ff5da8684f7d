"""server/balance.py: how a worker decides to take a connection from the shared socket —
the rule, the table the workers share across a fork, and one Acceptor on a real socket."""

from __future__ import annotations

import asyncio
import os
import socket
import time

from charter.server import balance
from charter.server.balance import ABSENT, PATIENCE_S, Acceptor, Holdings, may_accept


def test_a_worker_takes_a_connection_only_while_no_other_holds_fewer():
    assert may_accept(3, 3, 0.0)
    assert may_accept(2, 3, 0.0)
    assert not may_accept(4, 3, 0.0)
    assert not may_accept(4, 3, PATIENCE_S / 2)
    assert may_accept(4, 3, PATIENCE_S)  # a connection waited long enough: anyone takes it
    assert may_accept(9, ABSENT, 0.0)  # no other worker there


def test_the_counts_are_shared_with_forked_workers_and_an_absent_slot_is_nobodys_fewest():
    holdings = Holdings(3)
    assert holdings.fewest_elsewhere(0) == ABSENT
    holdings.publish(0, 5)
    pid = os.fork()
    if pid == 0:  # the child writes its slot; the parent reads it
        holdings.publish(1, 2)
        holdings.took(1)
        holdings.took(1)
        os._exit(0)
    os.waitpid(pid, 0)
    assert holdings.held(1) == 2
    assert holdings.taken_elsewhere(0) == 2 and holdings.taken_elsewhere(1) == 0
    assert holdings.fewest_elsewhere(0) == 2
    assert holdings.fewest_elsewhere(1) == 5
    holdings.leave(1)  # the worker died
    assert holdings.fewest_elsewhere(0) == ABSENT


class Answering(asyncio.Protocol):
    """Counts itself among the open connections, and answers one byte to each."""

    def __init__(self, connections: set[asyncio.Protocol]) -> None:
        self.connections = connections

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.connections.add(self)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(b"!")  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)


def answered_after(port: int) -> float:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(b"?")
        assert client.recv(1) == b"!"
    return time.monotonic() - started


def test_an_acceptor_over_its_share_leaves_a_connection_to_the_others_then_takes_it(
        monkeypatch):
    patience = 1.0  # long, so that a loaded machine's own delays cannot pass for it
    monkeypatch.setattr(balance, "PATIENCE_S", patience)
    listening = socket.create_server(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    holdings = Holdings(2)
    connections: set[asyncio.Protocol] = set()

    async def other_worker(alive: asyncio.Event) -> None:
        while alive.is_set():  # a live worker holding none, publishing as workers do
            holdings.publish(1, 0)
            await asyncio.sleep(0.05)

    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        acceptor = Acceptor(listening, holdings, 0, connections,
                            lambda: Answering(connections))
        acceptor.start(loop)
        waits = []
        alive = asyncio.Event()
        try:
            kept = await asyncio.to_thread(socket.create_connection, ("127.0.0.1", port))
            await asyncio.sleep(0.05)
            assert holdings.held(0) == 1
            # the other worker holds none: this one, holding one, leaves it a new
            # connection (here the test takes it, as that worker would) ...
            alive.set()
            publishing = loop.create_task(other_worker(alive))
            left = await asyncio.to_thread(socket.create_connection, ("127.0.0.1", port))
            await asyncio.sleep(0.05)
            taken, _ = listening.accept()
            taken.close()
            left.close()
            # ... and, long after, the next: a connection that waited earlier lends no
            # patience to one that comes later, which waits for the other worker until
            # its own patience is spent
            await asyncio.sleep(patience + 0.2)
            waits.append(await asyncio.to_thread(answered_after, port))
            # the other worker stops publishing (its loop stuck): once its count is
            # STALE_S old, it is nobody's fewest and this one takes connections at once
            alive.clear()
            await publishing
            await asyncio.sleep(balance.STALE_S + 0.1)
            waits.append(await asyncio.to_thread(answered_after, port))
            # the other worker is gone: nothing to leave it to
            holdings.publish(1, 0)
            holdings.leave(1)
            waits.append(await asyncio.to_thread(answered_after, port))
            kept.close()
        finally:
            alive.clear()
            acceptor.close()
            await acceptor.wait_closed()
        assert holdings.held(0) == ABSENT  # a closed acceptor is nobody's fewest
        return waits

    try:
        left_waiting, past_a_stuck_one, past_a_gone_one = asyncio.run(scenario())
    finally:
        listening.close()
    assert patience <= left_waiting < patience + 0.9
    assert past_a_stuck_one < patience
    assert past_a_gone_one < patience
