"""Delivery reports and callback retries, against a real HTTP receiver, on the manual clock."""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler

import pytest
from starlette.testclient import TestClient

from gateway_sim.domain.clock import SystemClock
from gateway_sim.domain.scenario import parse_scenario
from gateway_sim.server.app import create_app
from tests.conftest import SEND, build_app
from tests.helpers import LOGIN
from tests.helpers_callbacks import Receiver, advance, scenario


def test_reports_follow_the_default_timeline_with_exact_fields(receiver: Receiver) -> None:
    with TestClient(build_app(scenario(receiver.url))) as client:
        sent = client.post(
            SEND, data={**LOGIN, "to": "07700900123,07700900124", "text": "x", "delrpt": "1"}
        )
        assert "ID:10011000000000000001" in sent.text
        assert receiver.received == []
        assert advance(client, 3)["fired"] == 6 + 6  # three steps per recipient, each posts once
        fields = [form for path, form in receiver.received]
        assert {path for path, _ in receiver.received} == {"/status"}
        assert fields == [
            {"msgid": "10011000000000000001", "status": "2", "toaddr": "447700900123"},
            {"msgid": "10011000000000000001", "status": "2", "toaddr": "447700900124"},
            {"msgid": "10011000000000000001", "status": "3", "toaddr": "447700900123"},
            {"msgid": "10011000000000000001", "status": "3", "toaddr": "447700900124"},
            {"msgid": "10011000000000000001", "status": "4", "toaddr": "447700900123"},
            {"msgid": "10011000000000000001", "status": "4", "toaddr": "447700900124"},
        ]
        history = client.get("/_sim/messages/10011000000000000001").json()["statuses"]
        assert [(h["to"], h["status"]) for h in history][:3] == [
            ("447700900123", 2),
            ("447700900124", 2),
            ("447700900123", 3),
        ]
        assert history[0]["at"] == "2026-01-02T03:04:06+00:00"


def test_no_report_without_delrpt_unless_the_account_wants_all(receiver: Receiver) -> None:
    with TestClient(build_app(scenario(receiver.url))) as client:
        client.post(SEND, data={**LOGIN, "to": "07700900123", "text": "x"})
        advance(client, 10)
        assert receiver.received == []
    with TestClient(build_app(scenario(receiver.url, account=", report_all: true"))) as client:
        client.post(SEND, data={**LOGIN, "to": "07700900123", "text": "x"})
        advance(client, 10)
        assert [form["status"] for _, form in receiver.received] == ["2", "3", "4"]


def test_a_failing_receiver_is_retried_on_the_account_schedule(receiver: Receiver) -> None:
    receiver.statuses = [500, 500]
    rule = "rules: [{name: one-step, action: {delivery: {final: 4, steps: []}}}]\n"
    with TestClient(build_app(scenario(receiver.url, rule))) as client:
        client.post(SEND, data={**LOGIN, "to": "07700900123", "text": "x", "delrpt": "1"})
        advance(client, 1)
        assert len(receiver.received) == 1
        advance(client, 59)
        assert len(receiver.received) == 1
        advance(client, 1)
        assert len(receiver.received) == 2
        advance(client, 60)
        assert len(receiver.received) == 3
        advance(client, 600)
        assert len(receiver.received) == 3
        attempts = client.get("/_sim/callbacks?message_id=10011000000000000001").json()["callbacks"]
        assert [(a["attempt"], a["status"], a["outcome"]) for a in reversed(attempts)] == [
            (1, 500, "retrying"),
            (2, 500, "retrying"),
            (3, 200, "delivered"),
        ]
        first = attempts[-1]
        assert first["url"] == receiver.url + "/status"
        assert first["fields"] == {
            "msgid": "10011000000000000001",
            "status": "4",
            "toaddr": "447700900123",
        }
        assert first["latency_ms"] >= 0
        assert [a["at"] for a in reversed(attempts)] == [
            "2026-01-02T03:04:06+00:00",
            "2026-01-02T03:05:06+00:00",
            "2026-01-02T03:06:06+00:00",
        ]
        assert len(client.get("/_sim/callbacks?outcome=delivered").json()["callbacks"]) == 1


def test_a_receiver_that_is_down_is_recorded_and_retried() -> None:
    dead = "http://127.0.0.1:9"  # the discard port: nothing listens
    with TestClient(build_app(scenario(dead))) as client:
        client.post(SEND, data={**LOGIN, "to": "07700900123", "text": "x", "delrpt": "1"})
        advance(client, 1)
        (attempt,) = client.get("/_sim/callbacks").json()["callbacks"]
        assert attempt["status"] is None
        assert attempt["outcome"] == "retrying"
        assert attempt["error"].startswith("ConnectError")
        assert client.get("/_sim/clock").json()["pending"] >= 1


def test_a_receiver_slower_than_the_callback_timeout_is_a_timeout(receiver: Receiver) -> None:
    base: type[BaseHTTPRequestHandler] = receiver.server.RequestHandlerClass  # type: ignore[assignment]

    class Slow(base):  # type: ignore[valid-type, misc]
        def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
            time.sleep(1.5)
            super().do_POST()

    receiver.server.RequestHandlerClass = Slow
    extra = "settings: {callback_timeout_seconds: 0.3}\n"
    with TestClient(build_app(scenario(receiver.url, extra))) as client:
        client.post(SEND, data={**LOGIN, "to": "07700900123", "text": "x", "delrpt": "1"})
        advance(client, 1)
        (attempt,) = client.get("/_sim/callbacks").json()["callbacks"]
        assert attempt["status"] is None
        assert attempt["error"].startswith("ReadTimeout")
        assert 300 <= attempt["latency_ms"] < 1400
        assert attempt["outcome"] == "retrying"


def test_callbacks_ignore_proxy_settings_in_the_environment(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with TestClient(build_app(scenario(receiver.url))) as client:
        client.post(SEND, data={**LOGIN, "to": "07700900123", "text": "x", "delrpt": "1"})
        advance(client, 1)
        (attempt,) = client.get("/_sim/callbacks").json()["callbacks"]
        assert (attempt["status"], attempt["outcome"]) == (200, "delivered")
    assert len(receiver.received) == 1


def test_rules_choose_the_final_status_or_no_report(receiver: Receiver) -> None:
    rules = (
        "rules:\n"
        "  - {name: bounce, match: {to: '447700900123'}, action: {delivery: {final: 6}}}\n"
        "  - {name: silent, match: {to: '447700900124'}, action: {delivery: {never: true}}}\n"
    )
    with TestClient(build_app(scenario(receiver.url, rules))) as client:
        client.post(SEND, data={**LOGIN, "to": "07700900123", "text": "x", "delrpt": "1"})
        client.post(SEND, data={**LOGIN, "to": "07700900124", "text": "x", "delrpt": "1"})
        advance(client, 10)
        assert [form["status"] for _, form in receiver.received] == ["2", "3", "6"]
        assert client.get("/_sim/messages/10011000000000000002").json()["statuses"] == []


def test_clock_api(receiver: Receiver) -> None:
    with TestClient(build_app(scenario(receiver.url))) as client:
        clock = client.get("/_sim/clock").json()
        assert clock == {"now": "2026-01-02T03:04:05+00:00", "mode": "manual", "pending": 0}
        moved = advance(client, 300)
        assert moved["now"] == "2026-01-02T03:09:05+00:00"
        assert client.post("/_sim/clock/advance", json={"seconds": -1}).status_code == 422
        assert client.post("/_sim/clock/advance", json={"seconds": "x"}).status_code == 422
    real = create_app(parse_scenario(scenario(receiver.url)), clock=SystemClock())
    with TestClient(real) as client:
        assert client.get("/_sim/clock").json()["mode"] == "real"
        refused = client.post("/_sim/clock/advance", json={"seconds": 1})
        assert refused.status_code == 409
        assert refused.json()["error"] == "real_clock"


def test_real_clock_delivers_reports_by_itself(receiver: Receiver) -> None:
    # Steps far apart enough that one report's POST ends before the next is due, even on a
    # loaded machine (reports of one message are not serialised: see the README).
    text = scenario(receiver.url).replace(
        "version: 1\n", "version: 1\nsettings: {report_step_seconds: 0.3}\n"
    )
    app = create_app(parse_scenario(text), clock=SystemClock())
    with TestClient(app) as client:
        client.post(SEND, data={**LOGIN, "to": "07700900123", "text": "x", "delrpt": "1"})
        deadline = time.monotonic() + 5
        while len(receiver.received) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [form["status"] for _, form in receiver.received] == ["2", "3", "4"]


def test_the_default_five_minute_retry_fires_at_once_on_the_manual_clock(
    receiver: Receiver,
) -> None:
    receiver.statuses = [503]
    text = (
        "version: 1\n"
        f"accounts: [{{username: demo, password: demo, credit: 5, status_url: '{receiver.url}/s'}}]\n"
        "rules: [{name: one, action: {delivery: {final: 4, steps: [], delay_seconds: 0}}}]\n"
    )
    with TestClient(build_app(text)) as client:
        client.post(SEND, data={**LOGIN, "to": "07700900123", "text": "x", "delrpt": "1"})
        advance(client, 0)
        advance(client, 299)
        assert len(receiver.received) == 1
        started = time.monotonic()
        advance(client, 1)
        assert time.monotonic() - started < 2
        assert len(receiver.received) == 2
        outcomes = [a["outcome"] for a in client.get("/_sim/callbacks").json()["callbacks"]]
        assert outcomes == ["delivered", "retrying"]
