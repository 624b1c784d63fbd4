"""The request head over real sockets: bytes past --max-head-bytes are refused as they arrive, and
a head not complete within --head-timeout closes its connection (a trickle holds nothing up)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time

import httpx
import pytest

from tests.serving import SCRIPT, served

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
    """20 connections trickle short header lines for 8 s, well under --max-head-bytes (the head
    timer at 10 s does not end them): all are still open at 8 s, the memory grows by at most
    60 MB and a normal send is answered within 0.3 s throughout; the timer then closes them."""
    with served("--keep-alive-timeout", "10") as server:  # the head timer: 10 s
        before = server.rss_mb()
        stop = threading.Event()
        socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(20)]
        failed: list[OSError] = []
        sent = 0

        def trickle() -> None:
            nonlocal sent
            for sock in socks:
                sock.sendall(START)
            while not stop.is_set():
                for sock in socks:
                    try:
                        sock.sendall(b"X-T: tt\r\n")  # 10 bytes a line, every 60 ms
                    except OSError as error:
                        failed.append(error)
                sent += 10
                time.sleep(0.06)

        opened = time.monotonic()
        thread = threading.Thread(target=trickle)
        thread.start()
        try:
            worst = 0.0
            with httpx.Client(timeout=10) as client:
                while time.monotonic() < opened + 8:
                    worst = max(worst, server.send_seconds(client))
                    time.sleep(0.2)
            grown = server.rss_mb() - before
            stop.set()
            thread.join()
            trickled = time.monotonic() - opened
            for sock in socks:  # none closed yet: nothing waits to be read
                sock.setblocking(False)
                with pytest.raises(BlockingIOError):
                    sock.recv(1)
            for sock in socks:
                sock.settimeout(max(0.01, opened + 13 - time.monotonic()))
                with contextlib.suppress(ConnectionResetError):
                    while sock.recv(65536):
                        pass
            closed = time.monotonic() - opened
        finally:
            stop.set()
            for sock in socks:
                sock.close()
        print(
            f"20 heads trickled for {trickled:.1f} s ({sent} bytes each): RSS +{grown:.0f} MB, "
            f"slowest send {worst:.3f} s, all closed {closed:.1f} s in"
        )
        assert not failed, failed[:3]
        assert trickled >= 8
        assert sent < 64 * 1024 / 4
        assert worst < 0.3
        assert grown < 60
        assert 9.5 < closed < 13


def test_a_head_timeout_over_granians_most_is_refused_in_one_line() -> None:
    for flag in ("--head-timeout", "--keep-alive-timeout"):
        finished = subprocess.run(
            [str(SCRIPT), "serve", "--port", "0", flag, "61"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert finished.returncode == 2
        (line,) = [line for line in finished.stderr.splitlines() if ": error: " in line]
        assert f"{flag}: must be at most 60 (the most granian takes for {flag}), not '61'" in line
