"""Each answer leaves the server in one write (server/protocol.py).

``OneWriteTransport`` over a transport that records what it is asked to write, on a real
event loop; uvicorn with the protocol on a real loopback socket, counting the writes that
reach the socket's transport (uvicorn's own protocol makes two per answer); and a real
``charter serve`` whose answers, kept-alive and pipelined, arrive whole and in order."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from charter.server.protocol import FLUSH_BYTES, OneWriteHttpTools, OneWriteTransport
from charter.server.run import free_port
from tests.e2e.server import running_server

pytestmark = pytest.mark.e2e


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.calls.append(("write", bytes(data)))

    def close(self) -> None:
        self.calls.append(("close", b""))
        self.closing = True

    def abort(self) -> None:
        self.calls.append(("abort", b""))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default


def run(body: Any) -> Any:
    async def main() -> Any:
        recorder = RecordingTransport()
        held = OneWriteTransport(recorder, asyncio.get_running_loop())
        return await body(held, recorder)

    return asyncio.run(main())


def test_the_writes_of_one_turn_leave_in_one_write_when_the_turn_ends() -> None:
    async def body(held: OneWriteTransport, recorder: RecordingTransport) -> None:
        held.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        held.write(b"{}")
        assert recorder.calls == []  # nothing before the turn ends
        assert held.get_write_buffer_size() == 40 + 7
        await asyncio.sleep(0)
        assert recorder.calls == [("write", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")]
        held.write(b"next")  # a later turn: its own write, in order
        await asyncio.sleep(0)
        assert recorder.calls[1:] == [("write", b"next")]

    run(body)


def test_large_writes_are_not_held() -> None:
    async def body(held: OneWriteTransport, recorder: RecordingTransport) -> None:
        held.write(b"head")
        held.write(b"x" * FLUSH_BYTES)
        assert recorder.calls == [("write", b"head" + b"x" * FLUSH_BYTES)]
        await asyncio.sleep(0)
        assert len(recorder.calls) == 1  # the turn's end finds nothing left

    run(body)


def test_closing_writes_what_is_held_first_and_aborting_drops_it() -> None:
    async def body(held: OneWriteTransport, recorder: RecordingTransport) -> None:
        held.write(b"last answer")
        held.close()
        assert recorder.calls == [("write", b"last answer"), ("close", b"")]
        await asyncio.sleep(0)
        assert len(recorder.calls) == 2

    run(body)

    async def aborted(held: OneWriteTransport, recorder: RecordingTransport) -> None:
        held.write(b"never sent")
        held.abort()
        await asyncio.sleep(0)
        assert recorder.calls == [("abort", b"")]

    run(aborted)


def test_other_calls_reach_the_transport() -> None:
    async def body(held: OneWriteTransport, recorder: RecordingTransport) -> None:
        assert held.get_extra_info("peername") == ("127.0.0.1", 1)
        assert held.is_closing() is False

    run(body)


class CountingTransport:
    """The socket's transport, counting the writes it is asked to make."""

    writes: list[int] = []  # the size of each write, across connections

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        CountingTransport.writes.append(len(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CountedOneWrite(OneWriteHttpTools):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CountingTransport(transport))  # type: ignore[arg-type]


class CountedUvicorn(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CountingTransport(transport))  # type: ignore[arg-type]


async def json_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})


def writes_per_answer(protocol: type, answers: int = 20) -> float:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(json_app, host="127.0.0.1", port=port, http=protocol,
                                           loop="asyncio", log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        CountingTransport.writes = []
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            for _ in range(answers):
                sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
                (answer,) = _answers(sock, 1)
                assert answer.endswith(b"\r\n\r\n{}")
        return len(CountingTransport.writes) / answers
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def test_uvicorn_with_the_protocol_writes_each_answer_once() -> None:
    assert writes_per_answer(CountedUvicorn) == 2  # uvicorn's own: the head, then the body
    assert writes_per_answer(CountedOneWrite) == 1


def _answers(sock: socket.socket, count: int) -> list[bytes]:
    """``count`` HTTP answers (each with a content-length) read off ``sock``."""
    data = b""
    answers: list[bytes] = []
    while len(answers) < count:
        head, found, rest = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), None)
        if found and length is not None and len(rest) >= length:
            answers.append(head + b"\r\n\r\n" + rest[:length])
            data = rest[length:]
            continue
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    return answers


def test_a_real_server_answers_whole_and_in_order(tmp_path: Path) -> None:
    with running_server(tmp_path) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            for path in ["/healthz", "/api/2.0/mlflow/registered-models/search",
                         "/api/2.0/mlflow/registered-models/get?name=missing"] * 10:
                sock.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
                (answer,) = _answers(sock, 1)
                assert answer.startswith(b"HTTP/1.1 ")
            # Two requests in one packet: both answers, whole and in order.
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n"
                         b"GET /api/2.0/mlflow/registered-models/get?name=nope HTTP/1.1\r\n"
                         b"host: x\r\n\r\n")
            (first, second) = _answers(sock, 2)
            assert first.startswith(b"HTTP/1.1 200") and b'"status":"ok"' in first
            assert second.startswith(b"HTTP/1.1 404") and b"RESOURCE_DOES_NOT_EXIST" in second
