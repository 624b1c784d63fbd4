"""Pipelining over real sockets: a client that sends requests and never reads the answers holds
at most one answer and one head's buffer of its connection (the server reads the next request
only once the last answer is written), and the server is itself again once it leaves."""

from __future__ import annotations

import contextlib
import socket
import time

import httpx

from tests.serving import BALANCE, served

REQUESTS = f"GET {BALANCE} HTTP/1.1\r\nHost: x\r\n\r\n".encode() * 1000


def test_four_clients_that_pipeline_and_never_read_are_held_to_little() -> None:
    with served() as server:
        before = server.rss_mb()
        socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(4)]
        for sock in socks:
            sock.setblocking(False)
        pushed = 0
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            for sock in socks:
                with contextlib.suppress(BlockingIOError):
                    pushed += sock.send(REQUESTS)
            time.sleep(0.002)
        grown = server.rss_mb() - before
        for sock in socks:
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            sock.close()  # reset, as a client that gives up does
        print(f"4 pipelining clients for 8 s: RSS +{grown:.0f} MB, {pushed:,} bytes pushed")
        assert grown < 150, f"RSS grew {grown:.0f} MB ({pushed} bytes pushed)"
        time.sleep(0.3)
        # after they leave: answered within 0.3 s, with no pause over 100 ms
        with httpx.Client(timeout=10) as client:
            first = server.send_seconds(client, BALANCE)
            pauses = [server.send_seconds(client, BALANCE) for _ in range(200)]
        print(f"after they left: first answer {first:.3f} s, longest pause {max(pauses):.3f} s")
        assert first < 0.3
        assert max(pauses) < 0.1
