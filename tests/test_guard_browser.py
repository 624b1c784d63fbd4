"""The guard against real pages in headless Chromium (Debian's, driven by Playwright for Python):
a page of another origin (served by a second local server: another port of 127.0.0.1, the same
site; and a name of another site that Chromium resolves to 127.0.0.1) cannot write to the control API with
a "simple" no-cors request, a name that resolves to the simulator but is not its own gets 421
(DNS rebinding), and the simulator's own page still writes."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from starlette.responses import Response

from gateway_sim.server.app import GatewayApp
from gateway_sim.server.guard import Guard
from gateway_sim.wire.asgi import Scope
from tests.conftest import LiveServer, build_app
from tests.helpers_browser import launch_chromium

Start = Callable[[GatewayApp], LiveServer]
REBOUND = "rebound.example"
"""A name Chromium is told resolves to 127.0.0.1, as a rebinding attacker's DNS would make it."""
ATTACKER = "attacker.test"
"""Another site's name (a reserved TLD), which Chromium is told resolves to 127.0.0.1: its page is
cross-site to the simulator, as a page on the web the user visits is."""
WAIT_MS = 10_000
ATTACK = """<!doctype html>
<title>another origin</title>
<script>
const SIM = %s;
window.attempt = fetch(SIM + "/_sim/rules", {method: "POST", mode: "no-cors",
    headers: {"Content-Type": "text/plain"},
    body: '{"name":"csrf","match":{},"action":{"fault":"reset"}}'})
  .then((response) => response.type, (error) => "error: " + error);
</script>
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    rules = f"MAP {REBOUND} 127.0.0.1, MAP {ATTACKER} 127.0.0.1"
    yield from launch_chromium(f"--host-resolver-rules={rules}")


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


class Recording(Guard):
    """The default guard, keeping the headers of every request it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, dict[bytes, bytes]]] = []

    def refusal(self, scope: Scope) -> Response | None:
        self.seen.append((scope["path"], dict(scope["headers"])))
        return super().refusal(scope)


@pytest.fixture
def guard() -> Recording:
    return Recording()


@pytest.fixture
def server(live_server: Start, guard: Recording) -> LiveServer:
    app = build_app()
    app.guard = guard
    return live_server(app)


@pytest.fixture
def other_origin(request: pytest.FixtureRequest, server: LiveServer) -> Iterator[str]:
    """A second server, on another port of 127.0.0.1 (so another origin), whose page runs the
    cross-origin write against the simulator; its URL names 127.0.0.1 or (a test's indirect
    parameter) another host that Chromium maps there."""
    host = getattr(request, "param", "127.0.0.1")
    page = (ATTACK % json.dumps(server.url)).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://{host}:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def rule_names(url: str) -> list[str]:
    return [rule["name"] for rule in httpx.get(url + "/_sim/rules").json()["rules"]]


@pytest.mark.parametrize(
    ("other_origin", "site"),
    [("127.0.0.1", b"same-site"), (ATTACKER, b"cross-site")],
    ids=["another-port", "another-site"],
    indirect=["other_origin"],
)
def test_a_page_of_another_origin_cannot_install_a_rule(
    page: Any, server: LiveServer, other_origin: str, guard: Recording, site: bytes
) -> None:
    with page.expect_response(lambda answer: "/_sim/rules" in answer.url) as refused:
        page.goto(other_origin + "/")
    assert refused.value.status == 403  # the browser sent it; the guard refused it
    assert page.evaluate("() => window.attempt") == "opaque"  # all the page itself learns
    sent = next(headers for path, headers in guard.seen if path == "/_sim/rules")
    assert sent[b"origin"] == other_origin.encode()  # what the network stack really sent
    assert sent[b"sec-fetch-site"] == site
    assert "csrf" not in rule_names(server.url)
    login = {"username": "demo", "password": "demo", "to": "07700900123", "text": "still sent"}
    assert httpx.get(server.url + "/smsgateway/sendmsg.aspx", params=login).text.startswith("ID:")


def test_the_simulators_own_page_still_writes(
    page: Any, server: LiveServer, other_origin: str
) -> None:
    page.goto(other_origin + "/")
    assert page.evaluate("() => window.attempt") == "opaque"
    assert "csrf" not in rule_names(server.url)
    page.goto(server.url + "/")
    page.wait_for_selector("#live[data-mode='on']", timeout=WAIT_MS)
    status = page.evaluate(
        """() => fetch("/_sim/rules", {method: "POST", headers: {"Content-Type": "text/plain"},
            body: '{"name":"mine","match":{},"action":{"fault":"reset"}}'})
            .then((response) => response.status)"""
    )
    assert status == 201
    assert "mine" in rule_names(server.url)


def test_a_rebound_name_reads_nothing(page: Any, server: LiveServer) -> None:
    """A page at a name that resolves to the simulator but is not its own (as after DNS
    rebinding) gets 421 for the inbox and the messages, and cannot write."""
    port = server.url.rsplit(":", 1)[1]
    rebound = f"http://{REBOUND}:{port}"
    answer = page.goto(rebound + "/_sim/messages")
    assert answer.status == 421
    assert json.loads(page.inner_text("body"))["error"] == "host_not_allowed"
    status = page.evaluate(
        """() => fetch("/_sim/rules", {method: "POST", headers: {"Content-Type": "text/plain"},
            body: '{"name":"rebound","match":{},"action":{"fault":"reset"}}'})
            .then((response) => response.status)"""
    )
    assert status == 421
    assert "rebound" not in rule_names(server.url)
    assert page.goto(rebound + "/").status == 421
    assert page.goto(server.url + "/").status == 200
