"""Callbacks shared by test modules: a real HTTP receiver that records what the simulator posts
to it, the scenarios that point reports at it, and moving the manual clock on. The `receiver`
fixture (in tests/conftest.py) starts one a test."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
from starlette.testclient import TestClient

from tests.conftest import SEND
from tests.helpers import LOGIN


class Receiver:
    """A real HTTP server that records POSTs and answers the statuses it is given, in turn."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[tuple[str, dict[str, str]]] = []
        self.bodies: list[bytes] = []
        self.statuses: list[int] = []
        self.answered: list[int] = []
        """The status each POST was answered, in the order they came."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                receiver.bodies.append(raw)
                receiver.received.append((self.path, dict(parse_qsl(raw.decode()))))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.answered.append(status)
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def scenario(url: str, extra: str = "", account: str = "") -> str:
    """The demo account with its reports posted to `url`/status, retried after 60 s; `account`
    adds keys to the account, `extra` adds top-level YAML."""
    return (
        "version: 1\n"
        f"accounts: [{{username: demo, password: demo, credit: 100, status_url: '{url}/status', "
        f"retry_seconds: 60{account}}}]\n" + extra
    )


def one_report_scenario(folder: Path, port: int) -> Path:
    """A scenario whose sends get one delivery report, posted at once to `port`, retried
    every half second."""
    path = folder / "s.yaml"
    path.write_text(
        "version: 1\nsettings: {report_step_seconds: 0}\n"
        f"accounts: [{{username: demo, password: demo, credit: 5, status_url: 'http://127.0.0.1:{port}/s', retry_seconds: 0.5}}]\n"
        "rules: [{name: one, action: {delivery: {final: 4, steps: []}}}]\n"
    )
    return path


def send_with_report(url: str) -> httpx.Response:
    """Send "x" to 07700900123 with a delivery report asked for, over real HTTP to `url`."""
    return httpx.post(url + SEND, data={**LOGIN, "to": "07700900123", "text": "x", "delrpt": "1"})


def advance(client: TestClient, seconds: float) -> dict[str, object]:
    """Move the manual clock on by `seconds`; what the control API answers."""
    answer = client.post("/_sim/clock/advance", json={"seconds": seconds})
    assert answer.status_code == 200, answer.text
    result: dict[str, object] = answer.json()
    return result
