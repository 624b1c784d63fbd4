"""The server's fast lane (gateway_sim.fast_lane), over real sockets: a request the app can answer
at once is answered from the parser's callback, with the bytes the ASGI path sends; every other
request goes the ASGI way, decided once. A reference server runs the same app on the ASGI path
alone (`JoinedWritesProtocol`); the lane's server counts the ASGI tasks it starts."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from gateway_sim.app import GatewayApp, create_app
from gateway_sim.clock import ManualClock
from gateway_sim.fast_lane import LANE_BODY_BYTES, FastLaneProtocol
from gateway_sim.joined_writes import JoinedWritesProtocol
from gateway_sim.queries import ExchangeQuery
from gateway_sim.scenario import parse_scenario
from gateway_sim.store import Store

from .conftest import BALANCE, SEND, START, build_app, free_port, start_uvicorn

TASKS: list[str] = []
"""The paths of the requests the lane's server sent the ASGI way."""
LOOPS: list[asyncio.AbstractEventLoop] = []
"""The event loop of each connection the lane's server made."""


class CountingLane(FastLaneProtocol):
    def connection_made(self, transport: Any) -> None:
        LOOPS.append(self.loop)
        super().connection_made(transport)

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        TASKS.append(cycle.scope["path"])
        super()._start_asgi_task(cycle, app)


Serve = Callable[..., int]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Serve an app on a free port with a protocol; all stopped after the test."""
    started: list[tuple[uvicorn.Server, threading.Thread, GatewayApp]] = []

    def start(app: GatewayApp, http: type[Any] = CountingLane) -> int:
        server, thread, port = start_uvicorn(app, http=http)
        started.append((server, thread, app))
        return port

    TASKS.clear()
    LOOPS.clear()
    yield start
    for server, thread, app in started:
        server.should_exit = True
        thread.join(timeout=5)
        app.close()


def request(
    method: str,
    target: str,
    body: bytes = b"",
    *,
    content_type: str = "application/x-www-form-urlencoded",
    version: str = "1.1",
    extra: str = "",
) -> bytes:
    head = f"{method} {target} HTTP/{version}\r\nHost: x\r\n{extra}"
    if body or method == "POST":
        head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def read_answer(sock: socket.socket, buffer: bytearray) -> bytes:
    """One answer with a Content-Length body off `sock` (what follows it stays in `buffer`),
    its Date header left out (the two servers' clocks tick apart); a `100 Continue` before it
    is kept in front of it."""
    continued = b""
    if buffer.startswith(b"HTTP/1.1 100 ") or not buffer:
        _fill_head(sock, buffer)
        if buffer.startswith(b"HTTP/1.1 100 "):
            end = buffer.index(b"\r\n\r\n") + 4
            continued = bytes(buffer[:end])
            del buffer[:end]
    return continued + _final_answer(sock, buffer)


def _fill_head(sock: socket.socket, buffer: bytearray) -> None:
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a whole head: {bytes(buffer)!r}"
        buffer += chunk


def _final_answer(sock: socket.socket, buffer: bytearray) -> bytes:
    _fill_head(sock, buffer)
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line[15:]) for line in lines if line.lower().startswith(b"content-length:"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed before the whole body"
        rest += chunk
    del buffer[: len(head) + 4 + length]
    shown = [line for line in lines if not line.lower().startswith(b"date:")]
    return b"\r\n".join(shown) + b"\r\n\r\n" + rest[:length]


def exchange(port: int, requests: list[bytes]) -> list[bytes]:
    """Each request in turn on one connection, and its answer."""
    answers = []
    buffer = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for raw in requests:
            sock.sendall(raw)
            answers.append(read_answer(sock, buffer))
    return answers


FIRST_ID = 10011000000000000001
FORM = b"username=demo&password=demo&to=07700900123&text=hi"
GATEWAY_REQUESTS = [
    request("POST", SEND, FORM),
    request("GET", SEND + "?" + FORM.decode()),
    request("POST", SEND, b"username=demo&password=wrong&to=07700900123&text=hi"),
    request("POST", SEND, b"username=demo&password=demo&to=12&text=hi"),
    request("POST", SEND, b"username=demo&password=demo&text=no+to"),
    request("GET", BALANCE + "?username=demo&password=demo"),
    request("POST", "/SMSGateway/SendMsg.ASPX", FORM),
    request("POST", "/smsgateway/sendmsg%2Easpx", FORM),
    request("POST", SEND + "?to=07700900124", b"username=demo&password=demo&text=q%C3%A9"),
    request("POST", SEND, FORM, version="1.0"),
    request("POST", "/api/https/sendmsg.aspx", b"accesskey=demo-access&secretkey=demo-secret"),
    request(
        "POST",
        "/api/json/sendmsg.aspx",
        b'{"accesskey": "demo-access", "secretkey": "demo-secret", "to": ["07700900123"], '
        b'"text": "hi"}',
        content_type="application/json",
        extra="X-Forwarded-Proto: https\r\n",
    ),
    request("POST", "/api/json/sendmsg.aspx", b"{not json", content_type="application/json"),
]


def test_the_lane_answers_gateway_requests_as_the_asgi_path_does(serve: Serve) -> None:
    lane = serve(build_app(trust_proxy=True))
    reference = serve(build_app(trust_proxy=True), JoinedWritesProtocol)
    TASKS.clear()
    for raw in GATEWAY_REQUESTS:  # one connection each: HTTP/1.0 closes its own
        lane_answer, reference_answer = exchange(lane, [raw]), exchange(reference, [raw])
        assert lane_answer == reference_answer, raw
    assert TASKS == []  # all on the lane
    sent = exchange(lane, [GATEWAY_REQUESTS[0]])[0]
    assert sent.startswith(b"HTTP/1.1 200 OK\r\n")
    assert sent.endswith(b"\r\n\r\nID:10011000000000000007")  # the seventh accepted send


def test_other_requests_go_the_asgi_way(serve: Serve) -> None:
    lane = serve(build_app())
    reference = serve(build_app(), JoinedWritesProtocol)
    others = [
        request("PUT", SEND, FORM),
        request("GET", "/no/such/page"),
        request("POST", SEND, FORM, extra="Expect: 100-continue\r\n"),
        request("POST", SEND, FORM, extra=f"X-Big: {'a' * 17_000}\r\n"),
    ]
    for raw in others:
        assert exchange(lane, [raw]) == exchange(reference, [raw]), raw
    assert TASKS == [SEND, "/no/such/page", SEND, SEND]


def test_a_body_arriving_in_pieces_is_gathered_on_the_lane(serve: Serve) -> None:
    port = serve(build_app())
    raw = request("POST", SEND, FORM)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for piece in (raw[:-30], raw[-30:-10], raw[-10:]):
            sock.sendall(piece)
            time.sleep(0.05)
        answer = read_answer(sock, bytearray())
    assert answer.endswith(b"ID:10011000000000000001")
    assert TASKS == []


def test_a_body_over_the_lane_size_is_handed_over_whole(serve: Serve) -> None:
    lane = serve(build_app())
    reference = serve(build_app(), JoinedWritesProtocol)
    text = b"x" * (LANE_BODY_BYTES + 100)
    raw = request("POST", SEND, b"username=demo&password=demo&to=07700900123&text=" + text)
    chunked = (
        f"POST {SEND} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    for piece in (FORM + b"&text2=", text):
        chunked += b"%x\r\n" % len(piece) + piece + b"\r\n"
    chunked += b"0\r\n\r\n"
    for big in (raw, chunked):
        lane_answer = exchange(lane, [big])
        assert lane_answer == exchange(reference, [big])
        assert b"ERR:" not in lane_answer[0]
    assert TASKS == [SEND, SEND]


def test_pipelined_requests_are_answered_in_order(serve: Serve) -> None:
    port = serve(build_app())
    slow = (
        "version: 1\naccounts: [{username: demo, password: demo, credit: 100}]\n"
        "rules: [{name: slow, match: {to: '447700900999'}, action: {latency_ms: 150}}]\n"
    )
    slow_port = serve(build_app(slow))
    burst = b"".join(request("POST", SEND, FORM) for _ in range(3))
    slow_first = request("POST", SEND, FORM.replace(b"07700900123", b"07700900999")) + burst
    for target, raw in ((port, burst), (slow_port, slow_first)):
        with socket.create_connection(("127.0.0.1", target), timeout=5) as sock:
            sock.sendall(raw)
            buffer = bytearray()
            answers = [read_answer(sock, buffer) for _ in range(raw.count(b"POST"))]
        ids = [int(answer.rsplit(b"ID:", 1)[1]) - FIRST_ID + 1 for answer in answers]
        assert ids == list(range(1, len(answers) + 1))
    assert TASKS == [SEND] * 3  # queued behind the slow one, which waited on the lane


def test_a_rule_that_waits_is_decided_once_and_answered_the_asgi_way(serve: Serve) -> None:
    scenario = (
        "version: 1\naccounts: [{username: demo, password: demo, credit: 100}]\n"
        "rules:\n"
        "  - {name: late-503, match: {to: '447700900123'},"
        " action: {latency_ms: 150, http_status: 503}}\n"
        "  - {name: broken, match: {to: '447700900124'}, action: {error: GATEWAY_ERROR}}\n"
    )
    app = build_app(scenario)
    port = serve(app)
    started = time.monotonic()
    late = exchange(port, [request("POST", SEND, FORM)])[0]
    waited = time.monotonic() - started
    broken = exchange(port, [request("POST", SEND, FORM.replace(b"123", b"124"))])[0]
    assert late.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert waited >= 0.15
    assert broken.endswith(b"ERR:GATEWAY_ERROR")
    assert TASKS == [SEND]  # the instant rule's answer was made on the lane
    counts = {
        rule["name"]: (rule["matched"], rule["fired"]) for rule in app.gateway.rules.describe()
    }
    assert counts == {"late-503": (1, 1), "broken": (1, 1)}
    journal = app.store.exchanges(ExchangeQuery())
    assert [entry.rule for _, entry in journal] == ["broken", "late-503"]


def test_a_latency_alone_is_waited_on_the_lane_with_the_request_processed_at_once(
    serve: Serve,
) -> None:
    scenario = (
        "version: 1\naccounts: [{username: demo, password: demo, credit: 100}]\n"
        "rules: [{name: slow, match: {to: '447700900123'}, action: {latency_ms: 300}}]\n"
    )
    app = build_app(scenario)
    port = serve(app)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as slow,
        httpx.Client(base_url=f"http://127.0.0.1:{port}") as control,
    ):
        started = time.monotonic()
        slow.sendall(request("POST", SEND, FORM) + request("GET", BALANCE + "?" + FORM.decode()))
        time.sleep(0.1)
        listed = control.get("/_sim/messages").json()["messages"]
        journaled_early = app.store.exchanges(ExchangeQuery(path=SEND))
        buffer = bytearray()
        answer = read_answer(slow, buffer)
        waited = time.monotonic() - started
        behind = read_answer(slow, buffer)  # queued behind it on the same connection
    assert [message["id"] for message in listed] == ["10011000000000000001"]  # processed
    assert journaled_early == []  # journaled once answered
    assert answer.endswith(b"ID:10011000000000000001")
    assert waited >= 0.3
    assert behind.endswith(b"BALANCE:99")
    assert TASKS == ["/_sim/messages", BALANCE]  # the slow send waited on the lane
    ((_, entry),) = app.store.exchanges(ExchangeQuery(path=SEND))
    assert entry.rule == "slow"
    assert entry.reason.startswith("rule 'slow' fired; waited 300 ms")
    assert entry.seconds >= 0.3


SLOW_TO_A = (
    "version: 1\naccounts: [{username: demo, password: demo, credit: 100}]\n"
    "rules: [{name: slow, match: {to: '447700900123'}, action: {latency_ms: %d}}]\n"
)


EVENTS: list[str] = []
"""What a `Recorded` lane did, in order: `wrote <answer's last line>`, `parsed <request>`."""


class _WriteRecorder:
    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        EVENTS.append("wrote " + data.rsplit(b"\n", 1)[-1].decode())
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class Recorded(CountingLane):
    def connection_made(self, transport: Any) -> None:
        super().connection_made(_WriteRecorder(transport))

    def on_message_complete(self) -> None:
        EVENTS.append("parsed " + self.url.decode())
        super().on_message_complete()


@pytest.mark.parametrize("arriving", ["before the deadline", "after the deadline"])
def test_an_answer_whose_time_has_come_leaves_before_the_next_read_is_parsed(
    serve: Serve, arriving: str
) -> None:
    """The server's loop is held (as by a long step) past a delayed answer's deadline while a
    request arrives on another connection. Before the deadline, epoll lists that socket before
    the timer (it became ready first) and the loop reads it first; after, the timer comes
    first. Either way the delayed answer is written to its socket, and journaled, before the
    new request is parsed (not after the step's reads)."""
    app = build_app(SLOW_TO_A % 100)
    port = serve(app, Recorded)
    EVENTS.clear()
    blocked, release = threading.Event(), threading.Event()

    def hold() -> None:
        blocked.set()
        release.wait(5)

    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as slow,
        socket.create_connection(("127.0.0.1", port), timeout=5) as fast,
        httpx.Client(base_url=f"http://127.0.0.1:{port}") as control,
    ):
        started = time.monotonic()
        slow.sendall(request("POST", SEND, FORM))
        assert len(control.get("/_sim/messages").json()["messages"]) == 1  # processed, waiting
        LOOPS[0].call_soon_threadsafe(hold)
        assert blocked.wait(5)
        fast_request = request(
            "POST", SEND + "?to=07700900124", FORM.replace(b"&to=07700900123", b"")
        )
        if arriving == "before the deadline":
            fast.sendall(fast_request)
        time.sleep(max(0.0, started + 0.2 - time.monotonic()))  # past the slow one's deadline
        if arriving == "after the deadline":
            fast.sendall(fast_request)
            time.sleep(0.05)
        release.set()
        slow_answer, fast_answer = read_answer(slow, bytearray()), read_answer(fast, bytearray())
    assert slow_answer.endswith(b"ID:10011000000000000001")
    assert fast_answer.endswith(b"ID:10011000000000000002")
    newest_first = app.store.exchanges(ExchangeQuery(path=SEND))
    assert [entry.answer for _, entry in newest_first] == [  # the slow one journaled first
        "ID:10011000000000000002",
        "ID:10011000000000000001",
    ]
    sends = [event for event in EVENTS if event.startswith(("parsed " + SEND, "wrote ID:"))]
    assert sends == [
        "parsed " + SEND,  # the slow one
        "wrote ID:10011000000000000001",  # its answer, at once: not after the step's reads
        "parsed " + SEND + "?to=07700900124",
        "wrote ID:10011000000000000002",
    ]


class SlowToLook(CountingLane):
    """A lane whose look at due answers takes 300 ms (as many due answers could)."""

    def before_parsing(self) -> None:
        time.sleep(0.3)
        super().before_parsing()


def test_a_latency_counts_from_the_reads_arrival_not_from_after_the_due_answers(
    serve: Serve,
) -> None:
    app = build_app(SLOW_TO_A % 400)
    port = serve(app, SlowToLook)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as slow:
        started = time.monotonic()
        slow.sendall(request("POST", SEND, FORM))
        answer = read_answer(slow, bytearray())
        waited = time.monotonic() - started
    assert answer.endswith(b"ID:10011000000000000001")
    assert 0.4 <= waited < 0.65  # 0.7 s if it counted from after the look


def test_a_database_file_or_held_answers_keep_sends_off_the_lane(
    serve: Serve, tmp_path: Path
) -> None:
    durable = create_app(
        parse_scenario("version: 1\naccounts: [{username: demo, password: demo, credit: 9}]\n"),
        clock=ManualClock(START),
        store=Store(str(tmp_path / "sim.db")),
    )
    held = build_app(
        "version: 1\naccounts: [{username: demo, password: demo, credit: 9}]\n"
        "rules: [{name: early, action: {delivery: {before_answer: true}}}]\n"
    )
    for app in (durable, held):
        port = serve(app)
        answer = exchange(port, [request("POST", SEND, FORM)])[0]
        assert answer.endswith(b"ID:10011000000000000001")
    assert TASKS == [SEND, SEND]


def test_a_connection_is_closed_once_idle_for_the_keep_alive_timeout() -> None:
    """Idle after a lane answer or an ASGI one: closed after the timeout; busy all the while
    (a request every 0.1 s for 1 s): kept open."""
    TASKS.clear()
    app = build_app()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=free_port(),
        log_level="warning",
        lifespan="off",
        proxy_headers=False,
        http=CountingLane,
        timeout_keep_alive=0.3,  # type: ignore[arg-type]
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        for last in (request("POST", SEND, FORM), request("GET", "/no/such/page")):
            with socket.create_connection(("127.0.0.1", config.port), timeout=5) as sock:
                buffer = bytearray()
                for _ in range(10):
                    sock.sendall(request("GET", BALANCE + "?username=demo&password=demo"))
                    assert b"\r\n\r\nBALANCE:" in read_answer(sock, buffer)
                    time.sleep(0.1)
                sock.sendall(last)
                read_answer(sock, buffer)
                started = time.monotonic()
                assert sock.recv(100) == b""  # closed by the server
                assert 0.2 < time.monotonic() - started < 3
        assert TASKS == ["/no/such/page"]
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        app.close()


def test_an_exception_on_the_lane_is_a_500_and_the_server_goes_on(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = build_app()
    port = serve(app)
    real = app.answer_at_once
    calls: list[bytes] = []

    def failing_once(scope: Any, body: bytes, ticket: str) -> Any:
        calls.append(body)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return real(scope, body, ticket)

    monkeypatch.setattr(app, "answer_at_once", failing_once)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request("POST", SEND, FORM))
        failed = read_answer(sock, bytearray())
        assert sock.recv(100) == b""  # closed after it, as uvicorn closes after its own 500
    assert failed.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"connection: close\r\n" in failed
    assert failed.endswith(b"\r\n\r\nInternal Server Error")
    assert exchange(port, [request("POST", SEND, FORM)])[0].endswith(b"ID:10011000000000000001")


def test_a_request_on_the_lane_when_the_server_stops_is_answered_then_closed() -> None:
    app = build_app()
    server, thread, port = start_uvicorn(app, http=CountingLane)
    try:
        raw = request("POST", SEND, FORM)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(raw[:-10])  # headers and most of the body: on the lane
            time.sleep(0.2)
            server.should_exit = True  # uvicorn asks each connection to shut down
            time.sleep(0.3)
            sock.sendall(raw[-10:])
            answer = read_answer(sock, bytearray())
            assert sock.recv(100) == b""
        assert answer.endswith(b"ID:10011000000000000001")
        assert b"connection: close\r\n" in answer
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        app.close()
