"""Injected behaviour: rules and their actions as a real client sees them."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import httpx
import httpx2
import pytest
from starlette.testclient import TestClient

from gateway_sim.domain.scenario import ScenarioError, parse_scenario
from tests.conftest import BALANCE, SEND, ClientFor, LiveServer, build_app

LOGIN = {"username": "demo", "password": "demo"}
ACCOUNT = "accounts: [{username: demo, password: demo, credit: 1000}]\n"
FIRST_ID = "ID:10011000000000000001"


def scenario(rules: str, extra: str = "") -> str:
    return f"version: 1\n{extra}{ACCOUNT}rules:\n{rules}"


def send(
    client: TestClient | httpx.Client, to: str = "07700900123", **fields: str
) -> httpx.Response | httpx2.Response:
    return client.post(SEND, data={**LOGIN, "to": to, "text": "hi", **fields})


@pytest.mark.parametrize(
    ("rule", "answer"),
    [
        ("{name: r, action: {error: GATEWAY_ERROR}}", "ERR:GATEWAY_ERROR"),
        ("{name: r, action: {error: INTERNAL_ERROR}}", "ERR:INTERNAL_ERROR"),
        ("{name: r, action: {delay_reply: 7}}", "DELAY:7"),
        (
            "{name: r, match: {to: '447700900123'}, action: {recipient_error: INVALID_NUMBER}}",
            "ERR:INVALID_NUMBER",
        ),
        (
            "{name: r, match: {to: '07700900123'}, action: {error: GATEWAY_ERROR}}",
            "ERR:GATEWAY_ERROR",
        ),
        (
            "{name: r, match: {to: '4477009001*'}, action: {error: GATEWAY_ERROR}}",
            "ERR:GATEWAY_ERROR",
        ),
        (
            "{name: r, match: {to: '44770090012?'}, action: {error: GATEWAY_ERROR}}",
            "ERR:GATEWAY_ERROR",
        ),
        ("{name: r, match: {to: '4477009002*'}, action: {error: GATEWAY_ERROR}}", FIRST_ID),
        ("{name: r, match: {account: DEMO}, action: {error: GATEWAY_ERROR}}", "ERR:GATEWAY_ERROR"),
        ("{name: r, match: {account: other}, action: {error: GATEWAY_ERROR}}", FIRST_ID),
        ("{name: r, match: {endpoint: send}, action: {error: GATEWAY_ERROR}}", "ERR:GATEWAY_ERROR"),
        ("{name: r, match: {endpoint: balance}, action: {error: GATEWAY_ERROR}}", FIRST_ID),
        (
            "{name: r, match: {endpoint: '*/sendmsg.aspx'}, action: {error: GATEWAY_ERROR}}",
            "ERR:GATEWAY_ERROR",
        ),
        ("{name: r, match: {type: 1}, action: {error: GATEWAY_ERROR}}", "ERR:GATEWAY_ERROR"),
        ("{name: r, match: {type: unicode}, action: {error: GATEWAY_ERROR}}", FIRST_ID),
        ("{name: r, match: {from: 'Shop*'}, action: {error: GATEWAY_ERROR}}", FIRST_ID),
        ("{name: r, match: {text: '^h.$'}, action: {error: GATEWAY_ERROR}}", "ERR:GATEWAY_ERROR"),
        ("{name: r, match: {text: 'bye'}, action: {error: GATEWAY_ERROR}}", FIRST_ID),
        ("{name: r, action: {}}", FIRST_ID),
    ],
)
def test_match_and_answer(client_for: ClientFor, rule: str, answer: str) -> None:
    client = client_for(scenario(f"  - {rule}\n"))
    assert send(client).text == answer


def test_rules_come_before_the_protocol_checks_and_charge_nothing(client_for: ClientFor) -> None:
    client = client_for(
        scenario("  - {name: outage, match: {endpoint: send}, action: {error: GATEWAY_ERROR}}\n")
    )
    assert (
        client.post(SEND, data={"username": "demo", "password": "bad"}).text == "ERR:GATEWAY_ERROR"
    )
    assert client.get(BALANCE, params=LOGIN).text == "BALANCE:1000"
    assert client.app.store.get("10011000000000000001") is None  # type: ignore[attr-defined]


def test_first_matching_rule_wins_and_the_journal_names_it(client_for: ClientFor) -> None:
    client = client_for(
        scenario(
            "  - {name: first, match: {to: '447700900123'}, action: {error: GATEWAY_ERROR}}\n"
            "  - {name: second, action: {error: INTERNAL_ERROR}}\n"
        )
    )
    assert send(client).text == "ERR:GATEWAY_ERROR"
    assert send(client, to="07700900124").text == "ERR:INTERNAL_ERROR"
    journal = client.get("/_sim/requests").json()["requests"]
    assert [entry["rule"] for entry in journal] == ["second", "first"]
    assert journal[1]["reason"] == "rule 'first' fired"


def test_host_matches_the_host_header_as_sent_port_included(client_for: ClientFor) -> None:
    client = client_for(
        scenario(
            "  - {name: primary-down, match: {host: '*:8080'}, action: {error: GATEWAY_ERROR}}\n"
        )
    )
    to_primary = {**LOGIN, "to": "07700900123", "text": "hi"}
    answer = client.post(SEND, data=to_primary, headers={"host": "GW.example:8080"})
    assert answer.text == "ERR:GATEWAY_ERROR"
    assert client.post(SEND, data=to_primary, headers={"host": "gw.example:8081"}).text.startswith(
        "ID:"
    )
    assert client.post(SEND, data=to_primary, headers={"host": "gw.example"}).text.startswith("ID:")
    journal = client.get("/_sim/requests").json()["requests"]
    assert [entry["rule"] for entry in journal] == [None, None, "primary-down"]


def test_recipient_error_only_hits_matching_recipients(client_for: ClientFor) -> None:
    client = client_for(
        scenario(
            "  - {name: r, match: {to: '447700900124'}, action: {recipient_error: GATEWAY_ERROR}}\n"
        )
    )
    answer = send(client, to="07700900123,07700900124,07700900125")
    assert answer.text == (
        "447700900123,ID:10011000000000000001\r\n"
        "447700900124,ERR:GATEWAY_ERROR\r\n"
        "447700900125,ID:10011000000000000001"
    )
    message = client.get("/_sim/messages/10011000000000000001").json()
    assert message["to"] == ["447700900123", "447700900125"]
    assert message["cost"] == "2"
    assert message["rule"] == "r"


def test_times_retires_a_rule(client_for: ClientFor) -> None:
    client = client_for(scenario("  - {name: twice, action: {error: GATEWAY_ERROR}, times: 2}\n"))
    answers = [send(client).text for _ in range(3)]
    assert answers == ["ERR:GATEWAY_ERROR", "ERR:GATEWAY_ERROR", FIRST_ID]
    rules = client.get("/_sim/rules").json()["rules"]
    assert rules[0]["fired"] == 2
    assert rules[0]["retired"] is True


def test_sequence_fail_twice_then_succeed(client_for: ClientFor) -> None:
    client = client_for(
        scenario("  - {name: flaky, sequence: [{error: GATEWAY_ERROR}, {delay_reply: 1}]}\n")
    )
    assert [send(client).text for _ in range(3)] == ["ERR:GATEWAY_ERROR", "DELAY:1", FIRST_ID]


def test_nth_matching_request(client_for: ClientFor) -> None:
    client = client_for(
        scenario(
            "  - {name: third, match: {to: '447700900123', nth: 3}, action: {error: GATEWAY_ERROR}}\n"
        )
    )
    answers = [send(client).text for _ in range(4)]
    send(client, to="07700900124")  # does not count: not matching
    assert answers == [
        FIRST_ID,
        "ID:10011000000000000002",
        "ERR:GATEWAY_ERROR",
        "ID:10011000000000000003",
    ]


def test_time_window_on_the_injected_clock(client_for: ClientFor) -> None:
    client = client_for(
        scenario(
            "  - {name: window, match: {after: 60, for: 30}, action: {error: GATEWAY_ERROR}}\n"
        )
    )
    clock = client.app.gateway.clock  # type: ignore[attr-defined]
    answers = []
    for _ in range(4):
        answers.append(send(client).text)
        clock.advance(30)
    assert answers == [
        FIRST_ID,
        "ID:10011000000000000002",
        "ERR:GATEWAY_ERROR",
        "ID:10011000000000000003",
    ]


def probability_outcomes(seed: int | None) -> list[str]:
    seed_line = "" if seed is None else f", seed: {seed}"
    app = build_app(
        scenario(
            f"  - {{name: coin, match: {{probability: 0.5{seed_line}}}, action: {{error: GATEWAY_ERROR}}}}\n"
        )
    )
    with TestClient(app) as client:
        return ["E" if send(client).text.startswith("ERR") else "I" for _ in range(40)]


def test_probability_with_a_seed_repeats_exactly() -> None:
    first, again = probability_outcomes(7), probability_outcomes(7)
    assert first == again
    assert 5 < first.count("E") < 35
    assert probability_outcomes(8) != first
    assert probability_outcomes(None) == probability_outcomes(None)  # the scenario seed


def test_rate_limit_per_account(client_for: ClientFor) -> None:
    client = client_for(
        scenario(
            "  - {name: rate, match: {rate: {per_second: 2}}, action: {http_status: 429, retry_after: 1}}\n"
        )
    )
    clock = client.app.gateway.clock  # type: ignore[attr-defined]
    statuses = [send(client).status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    limited = send(client)
    assert limited.headers["retry-after"] == "1"
    assert limited.text == "Too Many Requests"
    clock.advance(1.5)
    assert send(client).status_code == 200


def test_http_status_with_body(client_for: ClientFor) -> None:
    client = client_for(
        scenario(
            "  - {name: down, action: {http_status: 503, body: maintenance, retry_after: 30}}\n"
        )
    )
    answer = send(client)
    assert (answer.status_code, answer.text, answer.headers["retry-after"]) == (
        503,
        "maintenance",
        "30",
    )
    entry = client.get("/_sim/requests").json()["requests"][0]
    assert (entry["outcome"], entry["status"], entry["rule"]) == ("http_error", 503, "down")


def test_the_journal_names_the_account_on_every_path(client_for: ClientFor) -> None:
    """The account resolved for a request reaches its journal entry, whichever way it is
    answered: the gateway's answer, a rule's refusal, a rule's HTTP status; a request refused
    before it is read names none."""
    client = client_for(
        scenario(
            "  - {name: refuse, match: {to: '07700900001'}, action: {error: GATEWAY_ERROR}}\n"
            "  - {name: down, match: {to: '07700900002'}, action: {http_status: 503}}\n"
        )
    )
    send(client)
    send(client, to="07700900001")
    send(client, to="07700900002")
    client.put(SEND, data=LOGIN)
    journal = client.get("/_sim/requests").json()["requests"]
    assert [(entry["status"], entry["account"]) for entry in journal] == [
        (405, None),
        (503, "demo"),
        (200, "demo"),
        (200, "demo"),
    ]


def test_delivery_override_is_recorded_with_the_message(client_for: ClientFor) -> None:
    client = client_for(
        scenario(
            "  - {name: bounce, match: {to: '447700900123'}, action: {delivery: {final: 7}}}\n"
        )
    )
    assert send(client).text == FIRST_ID
    message = client.get("/_sim/messages/10011000000000000001").json()
    assert message["delivery"] == {
        "final": 7,
        "steps": [2, 3],
        "delay_seconds": None,
        "never": False,
    }


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        (
            "  - {name: r, action: {error: NOPE}}\n",
            "rules[0].action.error: Input should be 'GATEWAY_ERROR'",
        ),
        (
            "  - {name: r, action: {fault: melt}}\n",
            "rules[0].action.fault: Input should be 'reset', 'close', 'hang'",
        ),
        ("  - {name: r}\n", "rules[0]: give exactly one of action and sequence"),
        (
            "  - {name: r, action: {error: GATEWAY_ERROR, delay_reply: 1}}\n",
            "rules[0].action: choose one of",
        ),
        (
            "  - {name: r, match: {text: '('}, action: {}}\n",
            "rules[0].match.text: not a regular expression",
        ),
        (
            "  - {name: r, match: {colour: red}, action: {}}\n",
            "rules[0].match.colour: unknown key; allowed keys: account, endpoint, host, type, to, from",
        ),
        (
            "  - {name: r, action: {}, times: 0}\n",
            "rules[0].times: Input should be greater than or equal to 1",
        ),
        (
            "  - {name: r, action: {}}\n  - {name: r, action: {}}\n",
            "rules: rule names must be unique; repeated: r",
        ),
        (
            "  - {name: r, match: {probability: 2}, action: {}}\n",
            "rules[0].match.probability: Input should be less than or equal to 1",
        ),
    ],
)
def test_bad_rules_are_refused_with_the_key_path(rules: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(scenario(rules), source="rules.yaml")
    assert f"rules.yaml: {problem}" in str(caught.value)


def test_rules_api_add_list_remove(client: TestClient) -> None:
    added = client.post(
        "/_sim/rules",
        json={
            "name": "outage",
            "match": {"to": "07700900123"},
            "action": {"error": "GATEWAY_ERROR"},
            "times": 1,
        },
    )
    assert added.status_code == 201
    assert added.json()["name"] == "outage"
    assert send(client).text == "ERR:GATEWAY_ERROR"
    listed = {rule["name"]: rule for rule in client.get("/_sim/rules").json()["rules"]}
    assert listed["outage"]["fired"] == 1
    assert "magic-gateway-error" in listed
    assert client.post("/_sim/rules", json={"name": "outage", "action": {}}).status_code == 409
    bad = client.post("/_sim/rules", json={"name": "x", "action": {"error": "NOPE"}})
    assert bad.status_code == 422
    assert "action.error: Input should be 'GATEWAY_ERROR'" in bad.json()["detail"]
    assert client.delete("/_sim/rules/outage").status_code == 204
    assert client.delete("/_sim/rules/outage").status_code == 404
    client.post("/_sim/rules", json={"name": "again", "action": {"error": "INTERNAL_ERROR"}})
    assert send(client).text == "ERR:INTERNAL_ERROR"
    client.post("/_sim/reset")
    assert send(client).text == "ID:10011000000000000001"


# -- over a real socket -------------------------------------------------------------------------


def live(live_server: Callable[..., LiveServer], rules: str) -> LiveServer:
    return live_server(build_app(scenario(rules)))


def test_latency_fixed_uniform_and_lognormal(live_server: Callable[..., LiveServer]) -> None:
    server = live(
        live_server,
        "  - {name: fixed, match: {to: '447700900001'}, action: {latency_ms: 300}}\n"
        "  - {name: uniform, match: {to: '447700900002'}, action: {latency_ms: {min: 100, max: 200}}}\n"
        "  - {name: tail, match: {to: '447700900003'}, action: {latency_ms: {median: 150, sigma: 0.1}}}\n",
    )
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for to, low, high in (
            ("07700900001", 0.3, 1.3),
            ("07700900002", 0.1, 1.2),
            ("07700900003", 0.09, 1.3),
        ):
            started = time.monotonic()
            assert send(http, to=to).text.startswith("ID:")
            assert low <= time.monotonic() - started < high, to
        started = time.monotonic()
        send(http, to="07700900004")
        assert time.monotonic() - started < 0.25


def test_latency_counts_from_the_request_and_the_send_is_processed_meanwhile(
    live_server: Callable[..., LiveServer],
) -> None:
    server = live(
        live_server, "  - {name: slow, match: {to: '447700900001'}, action: {latency_ms: 800}}\n"
    )
    host, port = server.url.removeprefix("http://").split(":")
    body = b"username=demo&password=demo&to=07700900001&text=meanwhile"
    head = (
        b"POST " + SEND.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(head)
        time.sleep(0.3)  # a slow client: the body comes 300 ms after the head
        sock.sendall(body)
        time.sleep(0.2)
        # Half-way through the latency the message is already there: only the answer waits.
        listed = httpx.get(server.url + "/_sim/messages").json()["messages"]
        assert [m["text"] for m in listed] == ["meanwhile"]
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        took = time.monotonic() - started
    assert answer.endswith(b"ID:10011000000000000001")
    # 800 ms from the request's first bytes, not from its last (that would be 1.1 s)
    assert 0.8 <= took < 1.05


def test_latency_does_not_block_other_requests(live_server: Callable[..., LiveServer]) -> None:
    server = live(
        live_server, "  - {name: slow, match: {to: '447700900001'}, action: {latency_ms: 1500}}\n"
    )
    import threading

    slow: list[float] = []

    def slow_send() -> None:
        started = time.monotonic()
        httpx.post(server.url + SEND, data={**LOGIN, "to": "07700900001", "text": "x"}, timeout=10)
        slow.append(time.monotonic() - started)

    thread = threading.Thread(target=slow_send)
    thread.start()
    time.sleep(0.1)
    started = time.monotonic()
    assert httpx.get(server.url + BALANCE, params=LOGIN).text.startswith("BALANCE:")
    assert time.monotonic() - started < 1.0  # well inside the other request's 1.5 s
    thread.join()
    assert slow[0] >= 1.5


@pytest.mark.parametrize("fault", ["reset", "close", "garbage", "truncate"])
def test_connection_faults_raise_in_a_real_client(
    live_server: Callable[..., LiveServer], fault: str
) -> None:
    server = live(live_server, f"  - {{name: f, action: {{fault: {fault}}}}}\n")
    with httpx.Client(base_url=server.url, timeout=5) as http, pytest.raises(httpx.TransportError):
        send(http)
    with httpx.Client(base_url=server.url, timeout=5) as http:  # the server keeps serving
        assert http.get("/_sim/health").status_code == 200
    entry = httpx.get(server.url + "/_sim/requests").json()["requests"][0]
    assert entry["rule"] == "f"


def test_reset_is_a_tcp_reset(live_server: Callable[..., LiveServer]) -> None:
    server = live(live_server, "  - {name: f, action: {fault: reset}}\n")
    host, port = server.url.removeprefix("http://").split(":")
    body = b"username=demo&password=demo&to=07700900123&text=hi"
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /smsgateway/sendmsg.aspx HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        with pytest.raises(ConnectionResetError):
            read_until_closed(sock)


def read_until_closed(sock: socket.socket) -> None:
    while sock.recv(1024):
        pass


def test_hang_until_the_client_gives_up(live_server: Callable[..., LiveServer]) -> None:
    server = live(live_server, "  - {name: f, action: {fault: hang}}\n")
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server.url + SEND, data={**LOGIN, "to": "07700900123", "text": "x"}, timeout=0.5)
    assert 0.5 <= time.monotonic() - started < 3
    time.sleep(0.2)
    entry = httpx.get(server.url + "/_sim/requests").json()["requests"][0]
    assert "hung until the client gave up" in entry["reason"]


def test_dribble_sends_the_real_answer_slowly(live_server: Callable[..., LiveServer]) -> None:
    server = live(live_server, "  - {name: f, action: {fault: dribble, dribble_ms: 20}}\n")
    started = time.monotonic()
    answer = httpx.post(
        server.url + SEND, data={**LOGIN, "to": "07700900123", "text": "x"}, timeout=10
    )
    assert answer.text == FIRST_ID
    # 23 bytes, 20 ms between each: the client has the whole answer after 22 gaps.
    assert time.monotonic() - started >= (len(FIRST_ID) - 1) * 0.02


def test_truncated_answer_was_still_processed(live_server: Callable[..., LiveServer]) -> None:
    server = live(live_server, "  - {name: f, action: {fault: truncate}}\n")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(server.url + SEND, data={**LOGIN, "to": "07700900123", "text": "x"}, timeout=5)
    assert httpx.get(server.url + "/_sim/messages/10011000000000000001").status_code == 200
