"""A closed-loop HTTP/1.1 load generator over keep-alive connections.

``run(Load(...))`` starts ``processes`` worker processes; each opens its share of
``concurrency`` keep-alive connections to one server and runs a uvloop event loop in
which every connection sends its next request the moment the previous answer is
complete (a closed loop: at most one request in flight per connection). Requests
are pre-built bytes, answers are parsed just enough to find their end
(Content-Length or chunked), so the client spends tens of microseconds of CPU per
request rather than the ~0.5 ms an httpx client would: on a 2-core machine that
also runs the server, a heavy client would otherwise be what is being measured.

Two kinds of work:

* ``requests``: a list of requests; each connection picks one at random, forever,
  until ``seconds`` or ``max_requests`` is reached (reads).
* ``chains``: a list of request sequences; each connection takes the next unclaimed
  chain and sends its requests in order, one chain after another, until every chain
  is done or the time is up (population and writes on fresh versions: a version
  must exist before it can be transitioned, and each one is transitioned once).

Every phase is bounded by ``seconds`` (no new request afterwards), by
``max_requests`` and by ``request_timeout`` for the requests still in flight.
The result holds per-request latencies, the number of non-2xx answers and
transport failures, a few error samples, the client's own CPU time, and
optionally the bodies of the 2xx answers (to learn the version numbers a create
returned).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import resource
import socket
import time
from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

JSON_HEADERS = "Content-Type: application/json\r\n"


def get(host: str, path: str, params: dict[str, Any] | None = None) -> bytes:
    """A GET request with its parameters in the query string (how MLflow's client sends them)."""
    target = path + ("?" + urlencode(params, doseq=True) if params else "")
    return (f"GET {target} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n"
            "\r\n").encode()


def post(host: str, path: str, body: dict[str, Any]) -> bytes:
    """A POST request with a JSON body, header and body in one buffer (one write)."""
    data = json.dumps(body, separators=(",", ":")).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n"
            f"{JSON_HEADERS}Content-Length: {len(data)}\r\n\r\n").encode() + data


@dataclass
class Load:
    host: str
    port: int
    concurrency: int
    seconds: float
    requests: list[bytes] | None = None        # pick at random, forever
    chains: list[list[bytes]] | None = None    # each taken once, sent in order
    processes: int = 1
    max_requests: int = 1_000_000
    keep_bodies: bool = False
    request_timeout: float = 30.0
    seed: int = 1


@dataclass
class Result:
    count: int = 0                 # completed requests (any status)
    errors: int = 0                # non-2xx answers + transport failures
    elapsed: float = 0.0           # from the start signal to the last completion
    latencies: array = field(default_factory=lambda: array("d"))
    client_cpu: float = 0.0        # user+sys seconds of the load generator's processes
    samples: list[str] = field(default_factory=list)
    bodies: list[tuple[int, int, bytes]] = field(default_factory=list)  # (chain, index, body)
    chains_ok: list[int] = field(default_factory=list)  # chains whose every answer was 2xx
    chains_taken: list[int] = field(default_factory=list)  # chains begun (ok or not)
    _sorted: list[float] = field(default_factory=list, repr=False)

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, q: float) -> float:
        """The q-th percentile latency in milliseconds (nearest rank)."""
        if not self.latencies:
            return float("nan")
        if len(self._sorted) != len(self.latencies):
            self._sorted = sorted(self.latencies)
        ordered = self._sorted
        rank = min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))
        return ordered[rank] * 1000

    def merge(self, other: Result) -> None:
        self.count += other.count
        self.errors += other.errors
        self.elapsed = max(self.elapsed, other.elapsed)
        self.latencies.extend(other.latencies)
        self.client_cpu += other.client_cpu
        self.samples.extend(other.samples[: max(0, 5 - len(self.samples))])
        self.bodies.extend(other.bodies)
        self.chains_ok.extend(other.chains_ok)
        self.chains_taken.extend(other.chains_taken)


def run(load: Load) -> Result:
    """Run one phase: spawn the workers, start them together, merge what they report."""
    processes = max(1, min(load.processes, load.concurrency))
    context = multiprocessing.get_context("fork")
    pipes, workers = [], []
    for index in range(processes):
        share = _share(load, index, processes)
        parent_end, child_end = context.Pipe()
        worker = context.Process(target=_worker_main, args=(share, child_end), daemon=True)
        worker.start()
        child_end.close()
        pipes.append(parent_end)
        workers.append(worker)
    total = Result()
    try:
        for pipe in pipes:  # every worker has connected
            if not pipe.poll(30):
                raise RuntimeError("a load generator process did not connect within 30 s")
            status = pipe.recv()
            if status != "ready":
                raise RuntimeError(f"load generator could not connect: {status}")
        for pipe in pipes:
            pipe.send("go")
        limit = load.seconds + load.request_timeout + 30
        for pipe in pipes:
            if not pipe.poll(limit):
                raise RuntimeError("a load generator process did not report in time")
            total.merge(pipe.recv())
    finally:
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.kill()
                worker.join(timeout=5)
    return total


def _share(load: Load, index: int, processes: int) -> Load:
    """This process's part: its connections, its chains, its request budget."""
    connections = load.concurrency // processes + (1 if index < load.concurrency % processes
                                                   else 0)
    chains = None
    if load.chains is not None:
        chains = [(i, c) for i, c in enumerate(load.chains) if i % processes == index]
    return Load(load.host, load.port, connections, load.seconds, requests=load.requests,
                chains=chains, processes=1,  # type: ignore[arg-type]
                max_requests=max(1, load.max_requests // processes),
                keep_bodies=load.keep_bodies, request_timeout=load.request_timeout,
                seed=load.seed * 1000 + index)


def _worker_main(load: Load, pipe: Any) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # plain asyncio works, only slower
        pass
    try:
        result = asyncio.run(_drive(load, pipe))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises
        try:
            pipe.send(f"{type(exc).__name__}: {exc}")
        except Exception:  # noqa: BLE001
            pass
        return
    pipe.send(result)


class _Conn(asyncio.Protocol):
    """One keep-alive connection that parses just enough of each answer to find its end."""

    def __init__(self, driver: _Driver) -> None:
        self.driver = driver
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.started = 0.0
        self.busy = False
        self.closed = False
        self.chain: tuple[int, list[bytes]] | None = None
        self.step = 0
        self.chain_ok = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.busy:
            self.busy = False
            self.driver.failed(self, f"connection lost: {exc}")

    def send(self, request: bytes) -> None:
        self.buffer.clear()
        self.busy = True
        self.started = time.perf_counter()
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        body_start = end + 4
        length_at = head.find(b"\r\ncontent-length:")
        if length_at >= 0:
            line_end = head.find(b"\r\n", length_at + 2)
            length = int(head[length_at + 17: line_end if line_end > 0 else None])
            if len(self.buffer) < body_start + length:
                return
            body = bytes(self.buffer[body_start: body_start + length])
        elif b"\r\ntransfer-encoding: chunked" in head:
            parsed = _dechunk(self.buffer, body_start)
            if parsed is None:
                return
            body = parsed
        else:  # no body (e.g. 204)
            body = b""
        status = int(head[9:12])
        self.busy = False
        self.driver.completed(self, status, body, time.perf_counter() - self.started)


def _dechunk(buffer: bytearray, at: int) -> bytes | None:
    """The body of a complete chunked answer, or None while it is still arriving."""
    out = bytearray()
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        size = int(bytes(buffer[at:line_end]).split(b";")[0], 16)
        at = line_end + 2
        if size == 0:
            return bytes(out) if buffer.find(b"\r\n", at) >= 0 else None
        if len(buffer) < at + size + 2:
            return None
        out += buffer[at: at + size]
        at += size + 2


class _Driver:
    def __init__(self, load: Load) -> None:
        self.load = load
        self.random = random.Random(load.seed)
        self.requests = load.requests
        self.chains: deque[tuple[int, list[bytes]]] = deque(load.chains or [])  # type: ignore[arg-type]
        self.result = Result()
        self.deadline = 0.0
        self.sent = 0
        self.active = 0
        self.finished: asyncio.Future[None] | None = None
        self.last_done = 0.0
        self.started = 0.0

    # --- what to send next --------------------------------------------------------------

    def next_request(self, conn: _Conn) -> bytes | None:
        if self.sent >= self.load.max_requests or time.perf_counter() >= self.deadline:
            return None
        if self.requests is not None:
            return self.requests[self.random.randrange(len(self.requests))]
        if conn.chain is not None and conn.step < len(conn.chain[1]):
            request = conn.chain[1][conn.step]
            conn.step += 1
            return request
        if conn.chain is not None and conn.chain_ok:
            self.result.chains_ok.append(conn.chain[0])
        conn.chain = None
        if not self.chains:
            return None
        conn.chain, conn.step, conn.chain_ok = self.chains.popleft(), 1, True
        self.result.chains_taken.append(conn.chain[0])
        return conn.chain[1][0]

    def pump(self, conn: _Conn) -> None:
        request = None if conn.closed else self.next_request(conn)
        if request is None:
            self.active -= 1
            if self.active == 0 and self.finished is not None and not self.finished.done():
                self.finished.set_result(None)
            return
        self.sent += 1
        conn.send(request)

    # --- what came back -------------------------------------------------------------------

    def completed(self, conn: _Conn, status: int, body: bytes, latency: float) -> None:
        result = self.result
        result.count += 1
        result.latencies.append(latency)
        self.last_done = time.perf_counter()
        if not 200 <= status < 300:
            result.errors += 1
            conn.chain_ok = False
            if len(result.samples) < 5:
                result.samples.append(f"HTTP {status}: {body[:300].decode(errors='replace')}")
        elif self.load.keep_bodies and conn.chain is not None:
            result.bodies.append((conn.chain[0], conn.step - 1, body))
        self.pump(conn)

    def failed(self, conn: _Conn, why: str) -> None:
        self.result.count += 1
        self.result.errors += 1
        conn.chain_ok = False
        if len(self.result.samples) < 5:
            self.result.samples.append(why)
        self.active -= 1
        if self.active == 0 and self.finished is not None and not self.finished.done():
            self.finished.set_result(None)


async def _drive(load: Load, pipe: Any) -> Result:
    loop = asyncio.get_running_loop()
    driver = _Driver(load)
    conns: list[_Conn] = []
    for _ in range(load.concurrency):
        _, conn = await loop.create_connection(lambda: _Conn(driver), load.host, load.port)
        conns.append(conn)  # type: ignore[arg-type]
    pipe.send("ready")
    if pipe.recv() != "go":
        raise RuntimeError("no start signal")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    driver.started = driver.last_done = time.perf_counter()
    driver.deadline = driver.started + load.seconds
    driver.finished = loop.create_future()
    driver.active = len(conns)
    for conn in conns:
        driver.pump(conn)
    if driver.active > 0:
        try:
            await asyncio.wait_for(asyncio.shield(driver.finished),
                                   load.seconds + load.request_timeout)
        except TimeoutError:
            stuck = sum(1 for c in conns if c.busy)
            driver.result.errors += stuck
            driver.result.samples.append(f"{stuck} requests timed out")
    for conn in conns:
        if conn.chain is not None and conn.chain_ok and conn.step >= len(conn.chain[1]) \
                and not conn.busy:
            driver.result.chains_ok.append(conn.chain[0])
            conn.chain = None
        if conn.transport is not None:
            conn.transport.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    driver.result.client_cpu = usage.ru_utime + usage.ru_stime - cpu_before
    driver.result.elapsed = driver.last_done - driver.started
    return driver.result
