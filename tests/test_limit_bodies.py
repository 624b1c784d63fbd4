"""Request bodies over real sockets: a cap on every path refused before the body is read, a total
cap on the bytes received of bodies still arriving, and timeouts for a body that stalls or
trickles."""

from __future__ import annotations

import contextlib
import json
import socket
import time

import httpx
import pytest

from tests.serving import served

MIB = 1024 * 1024
SEND_FORM = {"username": "demo", "password": "demo", "to": "447700900123", "text": "hi"}


def _head(path: str, length: int, method: str = "POST") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def _answer(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                break
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


@pytest.mark.parametrize(
    ("path", "method", "cap", "flag"),
    [
        ("/_sim/rules", "POST", 16 * MIB, "--max-control-body-bytes"),
        ("/_sim/scenario", "PUT", 8 * MIB, "--max-scenario-bytes"),
    ],
)
def test_a_body_over_its_path_cap_is_refused_before_it_is_read(
    path: str, method: str, cap: int, flag: str
) -> None:
    with served() as server:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(_head(path, cap + 1, method))  # the body is never sent
            answer = _answer(sock)
        assert time.monotonic() - started < 2
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413"), answer[:200]
        problem = json.loads(body)
        assert problem["error"] == "body_too_large"
        assert flag in problem["detail"]
        assert str(cap) in problem["detail"]


def test_a_chunked_body_past_the_cap_is_refused_as_it_grows() -> None:
    with served("--max-control-body-bytes", str(MIB)) as server:
        sent = 0

        def chunks() -> object:
            nonlocal sent
            for _ in range(256):  # 64 MiB offered
                sent += 1
                yield b"[" * 262_144

        with httpx.Client(timeout=10) as client:
            answer = client.post(server.url + "/_sim/rules", content=chunks())  # type: ignore[arg-type]
        assert answer.status_code == 413
        assert answer.json()["error"] == "body_too_large"
        assert sent < 256
        assert server.send_seconds() < 0.3


def test_bodies_under_way_are_capped_in_total_and_freed_when_their_clients_go() -> None:
    """60 connections each announce a body of 10 MiB - 1, send most of it and hold: once the
    bytes received of unfinished bodies would pass --max-pending-body-bytes (64 MiB), a body
    whose bytes come gets 503 and is closed; the memory stays within the cap, and once they go,
    bodies are taken again."""
    body = 10 * MIB - 1
    with served() as server:
        before = server.rss_mb()
        holding: list[socket.socket] = []
        refused = 0
        try:
            for _ in range(60):
                sock = socket.create_connection(("127.0.0.1", server.port))
                sock.sendall(_head("/_sim/rules", body))
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    sock.sendall(b" " * (body - 10))
                sock.settimeout(0.3)
                try:
                    answer = sock.recv(200)
                except TimeoutError:
                    answer = b""
                except ConnectionResetError:
                    answer = b"reset"
                if answer:
                    assert answer.startswith((b"HTTP/1.1 503", b"reset")), answer
                    refused += 1
                    sock.close()
                    continue
                holding.append(sock)
            grown = server.rss_mb() - before
        finally:
            for sock in holding:
                sock.close()
        print(
            f"60 unfinished 10 MiB bodies: {len(holding)} held, {refused} refused, RSS +{grown:.0f} MB"
        )
        assert len(holding) == 6  # 6 x 10 MiB fit in 64 MiB; the 7th would not
        assert refused == 54
        assert grown < 64 + 60
        time.sleep(0.5)
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(_head("/_sim/rules", 2) + b"{}")
            assert _answer(sock).startswith(b"HTTP/1.1 422")  # taken (and found wanting)


def test_bodies_announced_and_trickled_lock_no_send_out() -> None:
    """Four clients announce 16 MiB bodies (64 MiB together, all of --max-pending-body-bytes)
    and send a byte now and then: what is announced is not held, so a POSTed send is answered
    at once throughout; and each trickling body is cut (408) at --whole-body-timeout."""
    with served("--whole-body-timeout", "3") as server:
        socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(4)]
        started = time.monotonic()
        try:
            for sock in socks:
                sock.sendall(_head("/_sim/rules", 16 * MIB) + b"[")
            slowest = 0.0
            answers = []
            with httpx.Client(timeout=10) as client:
                while time.monotonic() - started < 2.5:
                    for sock in socks:
                        sock.sendall(b" ")
                    sent = time.perf_counter()
                    answer = client.post(server.url + "/smsgateway/sendmsg.aspx", data=SEND_FORM)
                    slowest = max(slowest, time.perf_counter() - sent)
                    answers.append(answer.text)
                    time.sleep(0.2)
            cut = [_answer(sock) for sock in socks]
            took = time.monotonic() - started
        finally:
            for sock in socks:
                sock.close()
        print(f"4 trickling 16 MiB bodies: {len(answers)} POSTed sends, slowest {slowest:.3f} s")
        assert all(text.startswith("ID:") for text in answers), answers
        assert slowest < 0.3
        for refused in cut:
            assert refused.startswith(b"HTTP/1.1 408"), refused[:200]
            assert b"--whole-body-timeout" in refused
        assert 2.8 < took < 5


@pytest.mark.parametrize("path", ["/", "/metrics", "/nowhere", "/_sim/nowhere"])
def test_every_path_has_a_body_cap(path: str) -> None:
    """Paths that take no body (the inbox page, /metrics, unknown ones) refuse one over
    --max-other-body-bytes before reading it: 413, JSON under /_sim."""
    with served("--max-control-body-bytes", str(MIB)) as server:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(_head(path, 100 * MIB))  # the body is never sent
            answer = _answer(sock)
        assert time.monotonic() - started < 2
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413"), answer[:200]
        if path.startswith("/_sim"):
            assert json.loads(body)["error"] == "body_too_large"
            assert b"--max-control-body-bytes" in body
        else:
            assert b"--max-other-body-bytes" in body
            assert b"65536" in body


def test_a_gateway_send_over_its_cap_is_413_not_busy() -> None:
    """A send announcing 100 MiB is over the gateway's own cap (settings.max_body_bytes): 413 as
    IIS answers it, before it is read, not 503 busy."""
    with served() as server:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(_head("/smsgateway/sendmsg.aspx", 100 * MIB))
            answer = _answer(sock)
        assert time.monotonic() - started < 2
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert server.send_seconds() < 0.3


def test_a_body_that_stalls_is_refused_after_the_body_timeout() -> None:
    with served("--body-timeout", "1") as server:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(_head("/_sim/rules", 100) + b'{"name":')
            answer = _answer(sock)
        took = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"--body-timeout" in answer
        assert 0.9 < took < 3
        # a gateway send that stalls is refused the same way
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            head = (
                b"POST /smsgateway/sendmsg.aspx HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
            )
            sock.sendall(head + b"username=demo")
            assert _answer(sock).startswith(b"HTTP/1.1 408")
            client = f"127.0.0.1:{sock.getsockname()[1]}"
        assert server.send_seconds() < 0.3
        # the gateway's refusal is journaled (the control API's is not: /_sim is not the gateway)
        url = f"http://127.0.0.1:{server.port}/_sim/requests"
        entries = httpx.get(url, params={"outcome": "http_error"}).json()["requests"]
        refused = [e for e in entries if e["status"] == 408]
        assert len(refused) == 1, entries
        (entry,) = refused
        assert (entry["method"], entry["path"], entry["client"]) == (
            "POST",
            "/smsgateway/sendmsg.aspx",
            client,
        )
        assert entry["body_size"] == len(b"username=demo")
        assert "--body-timeout" in entry["reason"]
        assert entry["answer"] == entry["reason"]


GONE_PATHS = ("/_sim/rules", "/_sim/inbound", "/smsgateway/sendmsg.aspx", "/api/json/sendmsg.aspx")
"""Control paths (the edge logs the client gone) and gateway paths (the gateway's reader does)."""


def test_a_client_gone_mid_body_is_one_info_line_and_no_traceback() -> None:
    with served("--log-level", "info", "--log-format", "json") as server:
        for path in GONE_PATHS:
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                sock.sendall(_head(path, 1000) + b'{"name": "half')  # and hangs up
            deadline = time.monotonic() + 10
            while f"POST {path}" not in server.logged() and time.monotonic() < deadline:
                time.sleep(0.05)
        assert server.send_seconds() < 5  # still serving
        logged = server.logged()
    assert "Traceback" not in logged, logged
    lines = [json.loads(line) for line in logged.splitlines()]
    gone = [line for line in lines if "went away" in line["message"]]
    assert [line["message"].rsplit(" ", 1)[1] for line in gone] == list(GONE_PATHS), logged
    for line in gone:
        assert line["level"] == "info", line
        assert line["message"].startswith("the client went away mid-request: POST /"), line
        assert "exception" not in line, line


def test_a_gateway_send_refused_busy_is_journaled_with_the_bytes_that_came() -> None:
    """A send whose body bytes pass --max-pending-body-bytes is refused 503 as they come; the
    journal shows it (status, method, path, bytes received, why), as the gateway's own refusals."""
    with served("--max-pending-body-bytes", "1000") as server:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(_head("/smsgateway/sendmsg.aspx", 5000) + b"username=demo")
            time.sleep(0.3)  # these 13 bytes are within the cap: read and held
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(b"&text=" + b"x" * 4000)
            assert _answer(sock).startswith(b"HTTP/1.1 503")
        url = f"http://127.0.0.1:{server.port}/_sim/requests"
        (entry,) = httpx.get(url, params={"outcome": "http_error"}).json()["requests"]
        assert (entry["status"], entry["method"], entry["path"]) == (
            503,
            "POST",
            "/smsgateway/sendmsg.aspx",
        )
        assert 1000 < entry["body_size"] <= 4019  # what had come when the cap was passed
        assert "--max-pending-body-bytes" in entry["reason"]
