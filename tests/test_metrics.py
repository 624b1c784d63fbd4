"""`GET /metrics`: scraped over a real socket and parsed as Prometheus text; each family counts
what happened (requests by endpoint and outcome, messages by kind, credit per account, callbacks
pending and failed, request latency into the right buckets)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from tests.conftest import BALANCE, MMS, SEND, LiveServer, build_app
from tests.helpers_callbacks import Receiver, advance, scenario

LOGIN = {"username": "demo", "password": "demo"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, frozenset(sample.labels.items())] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_a_scrape_over_a_socket_counts_requests_messages_and_credit(live_server) -> None:  # type: ignore[no-untyped-def]
    server: LiveServer = live_server(build_app())
    before = samples(httpx.get(server.url + "/metrics").text)
    assert value(before, "gateway_sim_account_credit", account="demo") == 100
    for to in ("07700900123", "07700900124"):
        httpx.post(server.url + SEND, data={**LOGIN, "to": to, "text": "hi"})
    httpx.post(server.url + SEND, data={"username": "demo", "password": "no", "to": "07700900123"})
    httpx.get(server.url + BALANCE, params=LOGIN)
    mms = httpx.post(
        server.url + MMS,
        data={**LOGIN, "to": "07700900125", "type": "5", "subject": "pic"},
        files={"file": ("a.jpg", b"\xff\xd8 jpeg", "image/jpeg")},
    )
    assert mms.text.startswith("ID:"), mms.text
    answer = httpx.get(server.url + "/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    found = samples(answer.text)
    send = "/smsgateway/sendmsg.aspx"
    assert value(found, "gateway_sim_requests_total", endpoint=send, outcome="accepted") == 2
    assert value(found, "gateway_sim_requests_total", endpoint=send, outcome="refused") == 1
    assert (
        value(found, "gateway_sim_requests_total", endpoint=BALANCE.lower(), outcome="answered")
        == 1
    )
    assert value(found, "gateway_sim_requests_total", endpoint=MMS, outcome="accepted") == 1
    assert value(found, "gateway_sim_messages_total", kind="text", direction="outbound") == 2
    assert value(found, "gateway_sim_messages_total", kind="mms", direction="outbound") == 1
    assert value(found, "gateway_sim_account_credit", account="demo") == 100 - 2 - 5
    assert value(found, "gateway_sim_request_duration_seconds_count") == 5
    assert value(found, "gateway_sim_request_duration_seconds_sum") > 0
    assert value(found, "process_resident_memory_bytes") > 0


def test_latency_lands_in_its_bucket() -> None:
    slow = (
        "version: 1\naccounts: [{username: demo, password: demo, credit: 10}]\n"
        "rules: [{name: slow, match: {to: '447700900999'}, action: {latency_ms: 300}}]\n"
    )
    with TestClient(build_app(slow)) as client:
        client.post(SEND, data={**LOGIN, "to": "07700900123", "text": "fast"})
        client.post(SEND, data={**LOGIN, "to": "07700900999", "text": "slow"})
        found = samples(client.get("/metrics").text)
    bucket = "gateway_sim_request_duration_seconds_bucket"
    assert value(found, bucket, le="0.25") == 1
    assert value(found, bucket, le="0.5") == 2
    assert value(found, bucket, le="+Inf") == 2
    assert value(found, "gateway_sim_request_duration_seconds_sum") >= 0.3


def test_callbacks_pending_then_failed() -> None:
    """A status URL where nothing listens: the report is pending while it is retried, and
    failed once it grows older than callback_max_age_seconds."""
    nowhere = Receiver()
    nowhere.close()  # its port is now closed: every attempt fails to connect
    text = scenario(nowhere.url, "settings: {callback_max_age_seconds: 100}\n")
    with TestClient(build_app(text)) as client:
        client.post(SEND, data={**LOGIN, "to": "07700900123", "text": "hi", "delrpt": "1"})
        advance(client, 1)
        found = samples(client.get("/metrics").text)
        assert value(found, "gateway_sim_callbacks_pending") == 1
        assert (
            value(found, "gateway_sim_callback_attempts_total", kind="status", outcome="retrying")
            == 1
        )
        advance(client, 200)
        found = samples(client.get("/metrics").text)
        assert value(found, "gateway_sim_callbacks_pending") == 0
        assert value(found, "gateway_sim_callbacks_failed_total", kind="status") >= 1
        client.post("/_sim/reset")
        assert value(samples(client.get("/metrics").text), "gateway_sim_callbacks_pending") == 0


def test_delivered_callbacks_leave_nothing_pending() -> None:
    receiver = Receiver()
    try:
        with TestClient(build_app(scenario(receiver.url))) as client:
            client.post(SEND, data={**LOGIN, "to": "07700900123", "text": "hi", "delrpt": "1"})
            advance(client, 10)
            found = samples(client.get("/metrics").text)
    finally:
        receiver.close()
    assert value(found, "gateway_sim_callbacks_pending") == 0
    assert (
        value(found, "gateway_sim_callback_attempts_total", kind="status", outcome="delivered") == 3
    )
    assert value(found, "gateway_sim_callbacks_failed_total", kind="status") == 0
