"""Connections over real sockets: idle ones are closed by the server (--head-timeout), and at most
--max-connections are served at once; one past the cap waits unaccepted, is logged, and is
served as soon as a slot frees."""

from __future__ import annotations

import socket
import time

import httpx

from tests.serving import SEND, served


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, TimeoutError):
        return False


def test_three_hundred_idle_sockets_are_closed_within_twenty_seconds() -> None:
    with served() as server:  # the default --head-timeout, 10 s
        socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(300)]
        opened = time.monotonic()
        try:
            deadline = opened + 20
            for sock in socks:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
            closed = sum(_closed_by_server(sock) for sock in socks)
        finally:
            for sock in socks:
                sock.close()
        print(
            f"{closed} of 300 idle sockets closed by the server {time.monotonic() - opened:.1f} s in"
        )
        assert closed == 300
        assert server.send_seconds() < 0.3


def test_a_connection_past_the_cap_waits_is_logged_and_is_served_when_a_slot_frees() -> None:
    with served("--max-connections", "20", "--head-timeout", "3") as server:
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(20)]
        try:
            time.sleep(0.2)
            started = time.monotonic()
            answer = httpx.get(server.url + SEND, timeout=10)
            waited = time.monotonic() - started
        finally:
            for sock in idle:
                sock.close()
        assert answer.text.startswith("ID:")
        assert 1.5 < waited < 5, waited  # until the idle ones were closed, 3 s after they opened
        deadline = time.monotonic() + 5
        while "--max-connections" not in server.logged() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "connections wait" in server.logged()
        assert "--max-connections 20" in server.logged()


def test_a_cap_that_does_not_fit_the_file_limit_is_refused_at_start() -> None:
    import subprocess

    from tests.serving import SCRIPT

    finished = subprocess.run(
        [str(SCRIPT), "serve", "--port", "0", "--max-connections", "100000000"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert finished.returncode == 1
    assert "--max-connections 100000000 does not fit the open-file limit" in finished.stderr
