"""The request head over real sockets: bytes past --max-head-bytes are refused as they arrive, and
a head not complete within --head-timeout closes its connection (a trickle holds nothing up)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import httpx

from tests.serving import served

START = b"GET /smsgateway/sendmsg.aspx HTTP/1.1\r\nHost: x\r\n"


def test_header_bytes_past_the_limit_are_refused_as_they_arrive() -> None:
    """A head that never ends is refused once it passes the limit: the connection is closed
    long before the client has sent 50 MB, and the server's memory stays flat."""
    with served() as server:
        before = server.rss_mb()
        sent = 0
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(START)
            line = b"X-A: b\r\n" * 8192  # 64 KiB a write
            try:
                while sent < 50_000_000:
                    sock.sendall(line)
                    sent += len(line)
            except (BrokenPipeError, ConnectionResetError):
                pass
        assert sent < 10_000_000, f"the server read {sent} bytes of one head"
        assert server.rss_mb() - before < 30
        assert server.send_seconds() < 0.3


def test_a_head_not_complete_within_the_timeout_closes_the_connection() -> None:
    with served("--head-timeout", "1.5") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            started = time.monotonic()
            sock.sendall(START)
            closed = None
            try:
                for _ in range(40):  # a header line every 0.25 s, for up to 10 s
                    sock.sendall(b"X-Slow: y\r\n")
                    time.sleep(0.25)
            except (BrokenPipeError, ConnectionResetError):
                closed = time.monotonic() - started
        assert closed is not None, "a trickled head kept its connection for 10 s"
        assert 1.3 < closed < 4


def test_twenty_trickling_heads_hold_up_nobody() -> None:
    """20 connections trickle header lines for 8 s (the default timeout of 10 s does not end
    them): the memory grows by at most 60 MB and a normal send is answered within 0.3 s."""
    with served() as server:
        before = server.rss_mb()
        stop = threading.Event()
        socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(20)]

        def trickle() -> None:
            for sock in socks:
                sock.sendall(START)
            while not stop.is_set():
                for sock in socks:
                    with contextlib.suppress(OSError):
                        sock.sendall(b"X-Trickle: " + b"t" * 200 + b"\r\n")
                time.sleep(0.01)

        thread = threading.Thread(target=trickle)
        thread.start()
        try:
            worst = 0.0
            deadline = time.monotonic() + 8
            with httpx.Client(timeout=10) as client:
                while time.monotonic() < deadline:
                    worst = max(worst, server.send_seconds(client))
                    time.sleep(0.2)
            grown = server.rss_mb() - before
        finally:
            stop.set()
            thread.join()
            for sock in socks:
                sock.close()
        print(f"20 trickling heads for 8 s: RSS +{grown:.0f} MB, slowest send {worst:.3f} s")
        assert worst < 0.3
        assert grown < 60
