"""A response's head leaves with its body in one write (gateway_sim.joined_writes), over a real
socket to uvicorn running the protocol `gateway-sim serve` runs: the writes that reach the real
transport are recorded."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gateway_sim.app import create_app
from gateway_sim.joined_writes import JoinedWritesProtocol
from gateway_sim.scenario import DEFAULT_SCENARIO, load_scenario
from gateway_sim.types import Receive, Scope, Send

from .conftest import SEND, start_uvicorn

WRITES: list[bytes] = []


class _Recorder:
    """The real transport, its writes noted."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        WRITES.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class RecordingProtocol(JoinedWritesProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Recorder(transport))  # type: ignore[arg-type]


async def slow_stream(scope: Scope, receive: Receive, send: Send) -> None:
    """Head now, body 0.5 s later (an event stream's shape); HEAD: the head alone."""
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"text/plain")]
    if scope["method"] == "HEAD":
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await asyncio.sleep(0.5)
    await send({"type": "http.response.body", "body": b"late"})


def _serve(app: Any) -> Iterator[int]:
    server, thread, port = start_uvicorn(app, http=RecordingProtocol)
    WRITES.clear()
    yield port
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def gateway_port() -> Iterator[int]:
    app = create_app(load_scenario(DEFAULT_SCENARIO))
    yield from _serve(app)
    app.close()


@pytest.fixture
def stream_port() -> Iterator[int]:
    yield from _serve(slow_stream)


def _read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length body, read off a keep-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":", 1)[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _send_request(extra_headers: bytes = b"") -> bytes:
    body = b"username=demo&password=demo&to=07700900123&text=hi"
    return (
        b"POST "
        + SEND.encode()
        + b" HTTP/1.1\r\nHost: x\r\n"
        + extra_headers
        + b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


def test_each_answer_leaves_in_one_write_on_a_kept_alive_connection(gateway_port: int) -> None:
    request = _send_request()
    with socket.create_connection(("127.0.0.1", gateway_port), timeout=5) as sock:
        answers = []
        for _ in range(3):
            sock.sendall(request)
            answers.append(_read_response(sock))
    assert [a.split(b"\r\n\r\n")[1] for a in answers] == [
        b"ID:10011000000000000001",
        b"ID:10011000000000000002",
        b"ID:10011000000000000003",
    ]
    assert answers == WRITES  # one write each: the head and the body together


def test_a_head_is_not_held_while_the_app_waits_for_its_body(stream_port: int) -> None:
    with socket.create_connection(("127.0.0.1", stream_port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(65536)
        took = time.monotonic() - started
        assert first.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"late" not in first
        assert took < 0.4  # the head came before the app's 0.5 s wait was over
        rest = b""
        while not rest.endswith(b"0\r\n\r\n"):
            rest += sock.recv(65536)
        assert b"late" in rest
    assert WRITES[0] == first


def test_a_head_without_a_body_is_sent(stream_port: int) -> None:
    with socket.create_connection(("127.0.0.1", stream_port), timeout=5) as sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.endswith(b"\r\n\r\n")


def test_an_answer_buffered_when_the_client_half_closes_is_still_sent(gateway_port: int) -> None:
    request = _send_request(b"Connection: close\r\n")
    for _ in range(20):  # the EOF often arrives in the same read as the request
        with socket.create_connection(("127.0.0.1", gateway_port), timeout=5) as sock:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert answer.split(b"\r\n\r\n", 1)[1].startswith(b"ID:")
