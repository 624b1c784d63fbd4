"""The inbox's HTTP side without a browser: the page and its headers, the event stream (over a
real socket: it never ends, so Starlette's test client cannot read it), the token for it,
parts' headers, switching rules, and the feed costing nothing while no page listens."""

from __future__ import annotations

import re
import signal
import socket
import time
from collections.abc import Callable
from html.parser import HTMLParser

import httpx
import pytest
from starlette.testclient import TestClient

from gateway_sim.control.views_records import live_event
from gateway_sim.domain.clock import ManualClock
from gateway_sim.domain.scenario import DEFAULT_SCENARIO, load_scenario
from gateway_sim.inbox.feed import QUEUE_SIZE, Feed
from gateway_sim.server.app import create_app
from tests.conftest import SEND, START, LiveServer, app_of, build_app
from tests.helpers import next_event, post_mms, read_events
from tests.helpers_processes import start

LOGIN = {"username": "demo", "password": "demo"}
Start = Callable[..., LiveServer]


class _Markup(HTMLParser):
    """Collects what a CSP without 'unsafe-inline' would block: inline script, handlers, style."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self.assets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script":
            self.scripts.append(named)
        self.inline += [f"{tag} {name}" for name in named if name.startswith("on")]
        self.inline += [f"{tag} style" for name in named if name == "style"]
        for key in ("src", "href"):
            value = named.get(key)
            if value and value.startswith("/_sim/ui/assets/"):
                self.assets.append(value)

    def handle_data(self, data: str) -> None:
        if self.lasttag == "script" and data.strip():
            self.inline.append("script body")


@pytest.mark.parametrize("path", ["/", "/_sim/ui"])
def test_the_page_is_served_with_a_strict_policy(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["x-content-type-options"] == "nosniff"
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in page.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"  # no 'unsafe-inline', no data:, no eval
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    assert policy["object-src" if "object-src" in policy else "default-src"] == "'none'"
    markup = _Markup()
    markup.feed(page.text)
    assert markup.scripts == [{"src": "/_sim/ui/assets/app.js", "defer": None}]
    assert markup.inline == []
    assert "//" not in re.sub(r"https?://www\.w3\.org", "", page.text.split("<body>")[0])
    for asset in markup.assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
        assert served.headers["x-content-type-options"] == "nosniff"


def test_a_send_posted_to_the_page_is_refused_and_not_kept(client: TestClient) -> None:
    answer = client.post("/", data={**LOGIN, "to": "07700900123", "text": "hi"})
    assert answer.status_code == 405
    assert client.get("/_sim/messages").json()["messages"] == []


def test_assets_have_their_types_and_nothing_else_is_served(client: TestClient) -> None:
    assert (
        client.get("/_sim/ui/assets/app.js").headers["content-type"].startswith("text/javascript")
    )
    assert client.get("/_sim/ui/assets/inbox.css").headers["content-type"].startswith("text/css")
    assert client.get("/_sim/ui/assets/index.html").status_code == 404
    assert client.get("/_sim/ui/assets/..%2Ffeed.py").status_code == 404
    script = client.get("/_sim/ui/assets/app.js").text
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", script)


def test_parts_a_browser_shows_inertly_are_inline_others_downloads(client: TestClient) -> None:
    parts = [
        ("a.png", "image/png", b"\x89PNG\r\n\x1a\n"),
        ("b.txt", "text/plain; charset=utf-8", b"hello"),
        ("c.mp3", "audio/mpeg", b"ID3"),
        ("x.svg", "image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
        ("y.html", "text/html", b"<script>alert(1)</script>"),
        ("z.bin", "application/octet-stream", b"\x00"),
    ]
    message_id = post_mms(client, parts).removeprefix("ID:")
    for n, (filename, _, _) in enumerate(parts):
        served = client.get(f"/_sim/messages/{message_id}/parts/{n}")
        disposition = "inline" if n < 3 else "attachment"
        assert served.headers["content-disposition"] == f'{disposition}; filename="{filename}"'
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.headers["content-security-policy"] == "default-src 'none'; sandbox"


def test_the_event_stream_tells_messages_statuses_refusals_and_resets(
    live_server: Start,
) -> None:
    server = live_server(build_app())
    assert not server.app.feed.listening  # nobody listens: the request path builds nothing
    with (
        httpx.Client(base_url=server.url, timeout=10) as http,
        http.stream("GET", "/_sim/events") as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = read_events(stream)
        assert next(events) == ("hello", {})
        assert server.app.feed.listening
        answer = http.post(SEND, data={**LOGIN, "to": "07700900123", "text": "hi", "delrpt": "1"})
        message = next_event(events, "message")
        assert f"ID:{message['id']}" == answer.text
        assert (message["text"], message["to"], message["statuses"]) == ("hi", ["447700900123"], [])
        accepted = next_event(events, "request")
        assert (accepted["outcome"], accepted["message_id"]) == ("accepted", message["id"])
        http.post(SEND, data={"username": "demo", "password": "wrong", "text": "x"})
        refused = next_event(events, "request")
        assert refused["outcome"] == "refused"
        assert refused["fields"]["password"] == "***"
        assert refused["reason"]
        http.post("/_sim/clock/advance", json={"seconds": 5})
        status = next_event(events, "status")
        assert status == {
            "id": message["id"],
            "to": "447700900123",
            "status": 2,
            "at": status["at"],
        }
        http.post("/_sim/reset")
        assert next_event(events, "reset") == {}
    deadline = time.monotonic() + 5
    while server.app.feed.listening and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not server.app.feed.listening  # the stream closed: the feed stopped listening


def test_head_of_the_event_stream_answers_at_once(client: TestClient) -> None:
    answer = client.head("/_sim/events")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert not app_of(client).feed.listening


def test_a_reader_that_falls_behind_is_told_to_read_again() -> None:
    feed = Feed(build_app().store, live_event)
    stream = feed.open()
    for n in range(QUEUE_SIZE + 50):
        feed.publish("request", {"n": n})
    assert stream.queue.qsize() == QUEUE_SIZE
    names = [stream.queue.get_nowait() for _ in range(QUEUE_SIZE)]
    assert names[-1] == ("lagged", "{}")
    feed.close()
    assert stream.queue.get_nowait() is None


def test_with_a_token_the_page_opens_and_the_stream_takes_it_as_a_query(
    live_server: Start,
) -> None:
    app = create_app(
        load_scenario(DEFAULT_SCENARIO), clock=ManualClock(START), control_token="s3cret"
    )
    server = live_server(app)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.get("/").status_code == 200  # the page holds no data
        assert http.get("/_sim/ui/assets/app.js").status_code == 200
        assert http.get("/_sim/events").status_code == 401
        assert http.get("/_sim/events", params={"token": "wrong"}).status_code == 401
        assert http.get("/_sim/messages", params={"token": "s3cret"}).status_code == 401
        with http.stream("GET", "/_sim/events", params={"token": "s3cret"}) as stream:
            assert stream.status_code == 200
            assert next(read_events(stream)) == ("hello", {})
        bearer = {"Authorization": "Bearer s3cret"}
        with http.stream("GET", "/_sim/events", headers=bearer) as stream:
            assert stream.status_code == 200


def test_rules_switch_off_and_on(client: TestClient) -> None:
    def send() -> str:
        return client.post(SEND, data={**LOGIN, "to": "07700900801", "text": "x"}).text

    assert send() == "ERR:GATEWAY_ERROR"
    off = client.patch("/_sim/rules/magic-gateway-error", json={"enabled": False})
    assert off.status_code == 200
    assert (off.json()["enabled"], off.json()["fired"]) == (False, 1)
    assert send().startswith("ID:")
    assert (
        client.patch("/_sim/rules/magic-gateway-error", json={"enabled": True}).status_code == 200
    )
    assert send() == "ERR:GATEWAY_ERROR"
    rules = client.get("/_sim/rules").json()["rules"]
    assert all(rule["enabled"] for rule in rules)
    missing = client.patch("/_sim/rules/nope", json={"enabled": False})
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    bad = client.patch("/_sim/rules/magic-gateway-error", json={"enabled": "no"})
    assert (bad.status_code, bad.json()["error"]) == (422, "bad_enabled")
    not_json = client.patch("/_sim/rules/magic-gateway-error", content=b"[")
    assert (not_json.status_code, not_json.json()["error"]) == (400, "bad_json")


def test_serve_stops_promptly_with_a_page_listening() -> None:
    """The server waits for every request under way before it stops; the CLI ends the event
    streams first, so an open inbox page does not keep `docker stop` waiting."""
    process, url = start(["--port", "0"])
    host, port = url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            connection.sendall(b"GET /_sim/events HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            while b"event: hello" not in received:
                received += connection.recv(4096)
            began = time.monotonic()
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=10)
            assert time.monotonic() - began < 5
            assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
