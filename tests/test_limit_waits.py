"""Long-polls cannot pile up: a wait whose client has gone is dropped at once (its slot frees, and
sends stop paying for it), at most `--max-waits` wait at once (past it, 503), and the waiters'
bookkeeping does not grow with waits that have ended. Over real sockets, against a
`gateway-sim serve` process.
"""

from __future__ import annotations

import asyncio
import json
import random
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from gateway_sim.domain.records import Message
from gateway_sim.observe.events import MessageEvents
from tests.conftest import start_serve

SCRIPT = Path(sys.executable).parent / "gateway-sim"
SEND = "/smsgateway/sendmsg.aspx?username=demo&password=demo&to=447700900123&text=hi"
NEVER = "text=never-sent&timeout=60"
"""Waits no send answers, for the whole test; nothing pins them to a number or an account, so
every send would test each one that stayed registered."""
Serve = Callable[..., str]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start `gateway-sim serve` on the default scenario with extra flags; its URL."""
    processes: list[subprocess.Popen[str]] = []

    def start(*flags: str) -> str:
        argv = [str(SCRIPT), "serve", "--port", "0", "--log-level", "warning", *flags]
        process, url = start_serve(argv)
        processes.append(process)
        return url

    yield start
    for process in processes:
        process.terminate()
        process.communicate(timeout=10)


def open_waits(url: str, count: int, query: str = NEVER) -> list[socket.socket]:
    """`count` waits, each on a raw socket of its own (closed by the caller)."""
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    request = f"GET /_sim/messages/wait?{query} HTTP/1.1\r\nHost: sim\r\n\r\n".encode()
    opened = []
    for _ in range(count):
        sock = socket.create_connection(address, timeout=10)
        sock.sendall(request)
        opened.append(sock)
    return opened


def fill(url: str, most: int, query: str = NEVER) -> tuple[list[socket.socket], bytes]:
    """`most` waits, all registered, and the answer to one more: `most + 1` waits are opened and
    one is refused; when it is, the other `most` hold every slot (nothing else waits)."""
    opened = open_waits(url, most + 1, query)
    with selectors.DefaultSelector() as selector:
        for sock in opened:
            selector.register(sock, selectors.EVENT_READ)
        answered = selector.select(timeout=30)
    assert len(answered) == 1, f"{len(answered)} of {most + 1} waits were answered"
    refused = answered[0][0].fileobj
    assert isinstance(refused, socket.socket)
    answer = refused.recv(65536)
    refused.close()
    opened.remove(refused)
    return opened, answer


def close_all(opened: list[socket.socket]) -> None:
    for sock in opened:
        sock.close()


def probe(http: httpx.Client) -> httpx.Response:
    """One more short wait: 408 once it was let in and timed out, 503 while the waits are full."""
    return http.get("/_sim/messages/wait", params={"text": "never-sent", "timeout": "0.05"})


def timed_sends(http: httpx.Client, count: int = 500, rounds: int = 3) -> float:
    """Seconds `count` sends in a row take: the fastest of `rounds`, so that a moment of load
    elsewhere on the machine does not decide the comparison."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(count):
            answer = http.get(SEND)
            assert answer.text.startswith("ID:"), answer.text
        best = min(best, time.perf_counter() - started)
    return best


def test_abandoned_waits_cost_sends_nothing(serve: Serve) -> None:
    url = serve("--max-waits", "2000", "--max-connections", "3000")
    with httpx.Client(base_url=url, timeout=10) as http:
        http.post("/_sim/accounts/demo/topup", json={"credit": 1_000_000}).raise_for_status()
        before = timed_sends(http)
        waits, refused = fill(url, 2000)
        close_all(waits)  # abandoned, all at once
        assert refused.startswith(b"HTTP/1.1 503"), refused[:200]
        deadline = time.monotonic() + 10
        while probe(http).status_code == 503:
            assert time.monotonic() < deadline, "the abandoned waits kept their slots"
        time.sleep(0.5)  # the last disconnects are taken in
        after = timed_sends(http)
    print(f"500 sends: {before:.3f} s before 2,000 abandoned waits, {after:.3f} s after")
    assert after / before <= 1.5, f"500 sends took {before:.3f} s before, {after:.3f} s after"


def test_a_wait_whose_client_left_frees_its_slot_at_once(serve: Serve) -> None:
    url = serve("--max-waits", "5")
    with httpx.Client(base_url=url, timeout=10) as http:
        waits, refused = fill(url, 5)
        close_all(waits)
        closed = time.monotonic()
        assert refused.startswith(b"HTTP/1.1 503"), refused[:200]
        head, _, body = refused.partition(b"\r\n\r\n")
        assert b"application/json" in head
        detail = json.loads(body)["detail"]
        assert json.loads(body)["error"] == "too_many_waits"
        assert "limit of 5 (--max-waits)" in detail
        while probe(http).status_code == 503:
            assert time.monotonic() - closed < 1.0, "a wait whose client left kept its slot"
        # every slot is free again: five new waits fit, and a sixth is refused
        more, refused = fill(url, 5)
        close_all(more)
        assert refused.startswith(b"HTTP/1.1 503")


def test_waits_still_answer_when_their_message_comes(serve: Serve) -> None:
    url = serve("--max-waits", "3")
    with httpx.Client(base_url=url, timeout=10) as http:
        waits, _ = fill(url, 3, "to=447700900777&timeout=30")
        sent = http.get(SEND.replace("447700900123", "447700900777"))
        for sock in waits:
            with sock:
                answer = sock.recv(65536)
                assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
                assert sent.text.removeprefix("ID:").encode() in answer


def message(to: str, account: str = "demo") -> Message:
    return Message(
        id="1",
        account=account,
        endpoint="/smsgateway/sendmsg.aspx",
        type=1,
        kind="text",
        sender="447700900000",
        recipients=(to,),
        rejected=(),
        text="hi",
        encoding=None,
        parts=1,
        cost=Decimal(1),
        truncated=False,
        created_at=datetime(2026, 1, 2, tzinfo=UTC),
    )


def shelf_seconds(count: int) -> float:
    """Seconds per waiter to add `count` waiters to one shelf (one recipient) and remove them in
    a shuffled order: the best of five rounds."""

    async def rounds() -> float:
        events = MessageEvents()
        order = random.Random(7)
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            waiters = [events.subscribe(lambda m: True, to="447700900001") for _ in range(count)]
            order.shuffle(waiters)
            for waiter in waiters:
                events.unsubscribe(waiter)
            best = min(best, time.perf_counter() - started)
            assert len(events) == 0
        return best / count

    return asyncio.run(rounds())


def test_waiters_on_one_shelf_are_added_and_removed_in_constant_time() -> None:
    """20,000 waiters for one number cost each about what 2,000 do: a list per shelf (a linear
    search per removal) would make each ten times dearer."""
    small, large = shelf_seconds(2_000), shelf_seconds(20_000)
    print(f"per waiter: {small * 1e6:.2f} us of 2,000, {large * 1e6:.2f} us of 20,000")
    assert large / small < 4


def test_waiters_are_added_and_removed_in_constant_time_and_woken_by_their_index() -> None:
    async def scenario() -> None:
        events = MessageEvents()
        for_number = events.subscribe(lambda m: True, to="447700900001")
        for_account = events.subscribe(lambda m: True, account="DEMO")
        for_anything = events.subscribe(lambda m: m.text == "hi")
        others = [events.subscribe(lambda m: True, to=f"4477009{n:05d}") for n in range(2, 10_002)]
        assert len(events) == 10_003
        started = time.perf_counter()
        for waiter in others:
            events.unsubscribe(waiter)
            events.unsubscribe(waiter)  # twice: nothing more happens
        assert time.perf_counter() - started < 1.0
        assert len(events) == 3
        events.publish(message("447700900001", account="someone"))
        assert for_number.future.done()
        assert for_anything.future.done()
        assert not for_account.future.done()
        events.publish(message("447700900002"))
        assert for_account.future.result().recipients == ("447700900002",)
        assert len(events) == 0

    asyncio.run(scenario())
