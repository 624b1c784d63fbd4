"""Connections over real sockets: idle ones are closed by the server (--keep-alive-timeout), and at
most --max-connections are served at once on each port; one past the cap waits unaccepted, is
logged, and is served as soon as a slot frees; the open-file limit is raised to fit them."""

from __future__ import annotations

import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import start_serve
from tests.serving import BALANCE, SCRIPT, SEND, served


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, TimeoutError):
        return False


def test_three_hundred_idle_sockets_are_closed_within_twenty_seconds() -> None:
    with served() as server:  # the default --keep-alive-timeout, 5 s
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


def _idle_after_an_answer(port: int) -> float:
    """Seconds a keep-alive connection left idle after an answer stays open."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(f"GET {BALANCE} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        answered = time.monotonic()
        assert _closed_by_server(sock)
        return time.monotonic() - answered


def test_a_keep_alive_connection_idle_after_an_answer_is_closed_at_the_keep_alive_timeout() -> None:
    with served() as server:  # --keep-alive-timeout 5 s, --head-timeout 10 s
        idle = _idle_after_an_answer(server.port)
    print(f"a keep-alive connection idle after its answer closed {idle:.2f} s later")
    assert 4.5 < idle < 6


def test_the_limits_are_taken_from_their_environment_twins(monkeypatch: pytest.MonkeyPatch) -> None:
    """GATEWAY_SIM_KEEP_ALIVE_TIMEOUT and GATEWAY_SIM_MAX_OTHER_BODY_BYTES hold like their flags."""
    monkeypatch.setenv("GATEWAY_SIM_KEEP_ALIVE_TIMEOUT", "1")
    monkeypatch.setenv("GATEWAY_SIM_MAX_OTHER_BODY_BYTES", "10")
    with served() as server:
        idle = _idle_after_an_answer(server.port)
        refused = httpx.post(server.url + "/metrics", content=b"x" * 11)
    assert 0.8 < idle < 2
    assert refused.status_code == 413
    assert "over the limit of 10 (--max-other-body-bytes)" in refused.text


def _open_files(pid: int) -> tuple[int, int]:
    """A process's soft and hard open-file limits, as /proc shows them."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open-file limit")


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs util-linux's prlimit")
def test_the_soft_file_limit_is_raised_to_the_hard_one_at_start() -> None:
    hard = min(4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    argv = ["prlimit", f"--nofile=1100:{hard}", str(SCRIPT), "serve", "--port", "0"]
    process, _ = start_serve(argv)  # prlimit runs serve in its own process (exec)
    try:
        assert _open_files(process.pid) == (hard, hard)
    finally:
        process.terminate()
        process.communicate(timeout=10)
    # granian's extension raises it too as it is imported (undocumented): serve's own raise,
    # with the soft limit lowered again after that import, in a process of its own
    script = (
        "import resource\n"
        "from gateway_sim.domain.limits import DEFAULT_LIMITS\n"
        "from gateway_sim.server.httpserver import raise_file_limit\n"
        f"resource.setrlimit(resource.RLIMIT_NOFILE, (1100, {hard}))\n"
        "assert raise_file_limit(DEFAULT_LIMITS) is None\n"
        "print(*resource.getrlimit(resource.RLIMIT_NOFILE))\n"
    )
    raised = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    )
    assert raised.stdout.split() == [str(hard), str(hard)]


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs util-linux's prlimit")
def test_the_file_limit_must_fit_the_cap_on_every_port() -> None:
    """The cap counts on each port: 1,000 on one port fits 1,500 open files, on two it does not."""
    serve = ["prlimit", "--nofile=1500:1500", str(SCRIPT), "serve", "--max-connections", "1000"]
    process, _ = start_serve([*serve, "--port", "0"])
    process.terminate()
    process.communicate(timeout=10)
    ports = f"{_free_port()},{_free_port()}"
    both = subprocess.run(
        [*serve, "--port", ports], capture_output=True, text=True, timeout=30, check=False
    )
    assert both.returncode == 1
    assert "--max-connections 1000 on each of 2 ports does not fit" in both.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_cap_that_does_not_fit_the_file_limit_is_refused_at_start() -> None:
    finished = subprocess.run(
        [str(SCRIPT), "serve", "--port", "0", "--max-connections", "100000000"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert finished.returncode == 1
    assert "--max-connections 100000000 does not fit the open-file limit" in finished.stderr
