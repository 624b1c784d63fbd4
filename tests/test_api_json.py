"""`/api/json`: JSON requests and answers on the shared domain core; the same message through the
three APIs leaves the same record and spends the same credit."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from gateway_sim.domain.errors import ERROR_CODES, JSON_ERROR_NUMBERS
from gateway_sim.server.app import GatewayApp
from tests.conftest import SEND, ClientFor, LiveServer, app_of, build_app, credit

JSON_SEND = "/api/json/sendmsg.aspx"
JSON_BALANCE = "/api/json/getbalance.aspx"
AWKWARD_SECRET = "p$%+[{^~!`x"
AUTH = {"authtype": "accesskey", "accesskey": "AK1", "secretkey": AWKWARD_SECRET}
SCENARIO = """
version: 1
prices: {sms_part: 1, unicode_part: 2}
accounts:
  - username: demo
    password: demo
    credit: 100
    default_sender: "447700900000"
    access_keys: [{accesskey: AK1, secretkey: "p$%+[{^~!`x"}]
  - username: capped
    password: pw
    credit: 1
    daily_allowance: 1
    access_keys: [{accesskey: CAP, secretkey: capsecret}]
"""


@pytest.fixture
def https(https_for: ClientFor) -> TestClient:
    return https_for(SCENARIO)


def request(
    to: Any = "07700900123", text: str | None = "hi", auth: Any = None, **content: Any
) -> dict[str, Any]:
    body_content: dict[str, Any] = {"msgtype": "text", **content}
    if text is not None:
        body_content["text"] = text
    return {
        "auth": AUTH if auth is None else auth,
        "request_version": "1.0.0",
        "response_version": "1.0.3",
        "message": {"to": to, "from": "Shop", "channel": "sms", "content": body_content},
    }


def post(client: TestClient, body: Any, path: str = JSON_SEND) -> dict[str, Any]:
    answer = client.post(path, json=body)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    shown: dict[str, Any] = answer.json()
    return shown


def sent(to: str, message_id: str = "10011000000000000001") -> dict[str, Any]:
    """A recipient's entry for a one-part text at the default price."""
    return {"to": to, "id": message_id, "msgparts": 1, "creditsused": "1.0"}


def failure(code: str, number: int) -> Callable[[dict[str, Any]], bool]:
    def check(answer: dict[str, Any]) -> bool:
        (error,) = answer["errors"]
        return (
            answer["response_status"] == "failure"
            and (error["error"], error["error_code"]) == (code, number)
            and bool(error["error_description"])
        )

    return check


def test_the_vendors_shape_is_sent(https: TestClient) -> None:
    answer = post(https, request(maxconcat=1))
    assert answer == {"response_status": "ok", "messages": [sent("447700900123")]}
    message = https.get("/_sim/messages/10011000000000000001").json()
    assert (message["from"], message["text"], message["endpoint"]) == ("Shop", "hi", JSON_SEND)
    assert post(https, {"auth": AUTH}, JSON_BALANCE) == {"response_status": "ok", "balance": "99.0"}


def test_per_recipient_ids_and_invalid_numbers(https: TestClient) -> None:
    answer = post(https, request(to=["07700900123", "12", "+447700900124", "07700900123"]))
    assert answer == {
        "response_status": "ok",
        "messages": [
            sent("447700900123"),
            {"to": "12", "error": "invalid_number", "error_code": 2},
            sent("447700900124"),
        ],
    }
    assert credit(app_of(https)) == 98
    (entry,) = https.get("/_sim/requests").json()["requests"]
    assert entry["outcome"] == "partial"
    assert entry["fields"]["to"] == "07700900123,12,+447700900124,07700900123"  # JSON, flattened
    only_invalid = post(https, request(to="12,0"))
    assert only_invalid["response_status"] == "ok"
    assert [m["error"] for m in only_invalid["messages"]] == ["invalid_number"] * 2
    assert https.get("/_sim/requests").json()["requests"][0]["outcome"] == "refused"
    assert credit(app_of(https)) == 98


def test_parts_and_credits_per_recipient(https: TestClient) -> None:
    long = post(https, request(text="x" * 200, maxconcat=3, to="07700900123,07700900124"))
    assert [(m["msgparts"], m["creditsused"]) for m in long["messages"]] == [(2, "2.0")] * 2
    unicode = post(https, request(msgtype="unicode", text="Привет"))
    assert unicode["messages"][0]["creditsused"] == "2.0"
    stored = https.get(f"/_sim/messages/{unicode['messages'][0]['id']}").json()
    assert (stored["type"], stored["text"], stored["encoding"]) == (2, "Привет", "ucs2")
    cut = post(https, request(text="y" * 200))
    assert cut["messages"][0]["msgparts"] == 1
    assert post(https, {"auth": AUTH}, JSON_BALANCE)["balance"] == "93.0"


def test_fractional_credits_keep_their_decimals(https: TestClient) -> None:
    https.put("/_sim/accounts/demo", json={"credit": "10.5"})
    assert post(https, {"auth": AUTH}, JSON_BALANCE)["balance"] == "10.5"
    https.put("/_sim/scenario", content=SCENARIO.replace("sms_part: 1", "sms_part: 0.25"))
    assert post(https, request())["messages"][0]["creditsused"] == "0.25"
    assert post(https, {"auth": AUTH}, JSON_BALANCE)["balance"] == "99.75"


@pytest.mark.parametrize(
    ("body", "code", "number"),
    [
        ({"message": request()["message"]}, "auth_parameter_missing", 20),
        (
            request(auth={"accesskey": "AK1", "secretkey": AWKWARD_SECRET}),
            "auth_parameter_missing",
            20,
        ),
        (request(auth={**AUTH, "secretkey": ""}), "auth_parameter_missing", 20),
        (request(auth={**AUTH, "authtype": "password"}), "auth_parameter_invalid", 21),
        (request(auth={**AUTH, "secretkey": "has space"}), "auth_parameter_invalid", 21),
        (request(auth={**AUTH, "secretkey": "wrong"}), "login_invalid", 11),
        (request(auth={**AUTH, "accesskey": "AK2"}), "login_invalid", 11),
        (request(to=""), "no_to", 101),
        (request(to=[]), "no_to", 101),
        (request(text=None), "no_text", 102),
        (request(msgtype="unicode", text=None), "parameter_missing", 103),
        (request(msgtype="binary", text=None, ud="ABC"), "parameter_invalid", 104),
        (request(maxconcat=11), "parameter_invalid", 104),
        (request(to=",".join(f"0770090{n:04}" for n in range(101))), "too_many_numbers", 106),
        (
            request(
                auth={"authtype": "accesskey", "accesskey": "CAP", "secretkey": "capsecret"},
                to="07700900123,07700900124",
            ),
            "daily_allowance_exceeded",
            108,
        ),
    ],
)
def test_request_errors(https: TestClient, body: Any, code: str, number: int) -> None:
    assert failure(code, number)(post(https, body))
    assert list(app_of(https).store) == []


def test_insufficient_credit(https: TestClient) -> None:
    https.put("/_sim/accounts/capped", json={"daily_allowance": None})
    capped = {"authtype": "accesskey", "accesskey": "CAP", "secretkey": "capsecret"}
    assert failure("insufficient_credit", 107)(
        post(https, request(auth=capped, to="07700900123,07700900124"))
    )
    assert post(https, request(auth=capped))["response_status"] == "ok"
    assert post(https, {"auth": capped}, JSON_BALANCE)["balance"] == "0.0"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"null",
        b"[]",
        b'"text"',
        b'{"auth": 5}',
        b'{"auth": {"accesskey": ["AK1"]}}',
        b'{"message": []}',
        b'{"message": {"content": "hi"}}',
        b'{"message": {"to": [1, 2]}}',
        b'{"message": {"to": {"a": 1}}}',
        b'{"message": {"channel": "mms"}}',
        b'{"message": {"content": {"msgtype": "wap"}}}',
        b'{"message": {"content": {"text": 1.5}}}',
        b'{"message": {"content": {"maxconcat": 1' + b"0" * 5000 + b"}}}",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_a_body_that_is_not_a_json_request_is_a_json_failure(https: TestClient, raw: bytes) -> None:
    for path in (JSON_SEND, JSON_BALANCE):
        answer = https.post(path, content=raw, headers={"content-type": "application/json"})
        assert answer.status_code == 200
        assert failure("invalid_request", 105)(answer.json())
    (entry, *_) = https.get("/_sim/requests").json()["requests"]
    assert entry["outcome"] == "refused"


def test_plain_http_is_not_secure(client_for: Callable[[str], TestClient]) -> None:
    plain = client_for(SCENARIO)
    for path in (JSON_SEND, JSON_BALANCE):
        answer = plain.post(path, json=request())
        assert failure("connection_not_secure", 22)(answer.json())
        assert failure("connection_not_secure", 22)(plain.post(path, content=b"junk").json())
    assert credit(app_of(plain)) == 100


def test_rule_errors_and_delays_are_json() -> None:
    rules = """
rules:
  - {name: out, match: {to: "447700900801"}, action: {error: GATEWAY_ERROR}}
  - {name: slow, match: {to: "447700900803"}, action: {delay_reply: 2}}
  - {name: one, match: {to: "447700900805"}, action: {recipient_error: INSUFFICIENT_CREDIT}}
  - {name: http, match: {endpoint: balance}, action: {http_status: 503}}
"""
    app = build_app(SCENARIO + rules)
    with TestClient(app, base_url="https://testserver") as client:
        _rule_answers(client)
    app.close()


def _rule_answers(client: TestClient) -> None:
    assert failure("gateway_error", 109)(post(client, request(to="07700900801")))
    assert failure("delay", 115)(post(client, request(to="07700900803")))
    mixed = post(client, request(to="07700900805,07700900806"))
    assert mixed["messages"][0] == {
        "to": "447700900805",
        "error": "insufficient_credit",
        "error_code": 107,
    }
    assert "id" in mixed["messages"][1]
    assert client.post(JSON_BALANCE, json={"auth": AUTH}).status_code == 503
    fired = [e["rule"] for e in client.get("/_sim/requests").json()["requests"]]
    assert fired == ["http", "one", "slow", "out"]


def test_every_error_code_has_a_json_number() -> None:
    codes = set(ERROR_CODES) | {"DELAY"}
    assert codes == set(JSON_ERROR_NUMBERS)
    numbers = list(JSON_ERROR_NUMBERS.values())
    assert len(numbers) == len(set(numbers))


def test_journal_masks_the_secret_in_fields_and_raw_body(https: TestClient) -> None:
    post(https, request(delrpt=True, usercontext="order-7"))
    (entry,) = https.get("/_sim/requests").json()["requests"]
    assert entry["account"] == "demo"
    assert entry["outcome"] == "accepted"
    assert entry["fields"]["secretkey"] == "***"
    assert entry["fields"]["to"] == "07700900123"
    assert json.loads(entry["raw_body"])["auth"]["secretkey"] == "***"
    assert AWKWARD_SECRET not in json.dumps(entry)
    assert json.loads(entry["answer"])["messages"][0]["id"] == entry["message_id"]


# -- one message, three APIs ------------------------------------------------------------------


def test_the_same_message_through_the_three_apis(https: TestClient) -> None:
    """A two-part text to two recipients (one invalid), with a delivery report and a user
    context: the stored records differ only in id, endpoint and time; each costs the same."""
    app = app_of(https)
    text = "Hello from the three APIs, long enough for two parts. " * 3
    form = {
        "to": "07700900123,12,07700900124",
        "from": "Shop",
        "text": text,
        "maxconcat": "2",
        "delrpt": "1",
        "usercontext": "ctx",
    }
    balances = [credit(app)]
    assert (
        https.post(SEND, data={"username": "demo", "password": "demo", **form}).text.count("ID:")
        == 2
    )
    balances.append(credit(app))
    keys = {"accesskey": "AK1", "secretkey": AWKWARD_SECRET}
    assert https.post("/api/https/sendmsg.aspx", data={**keys, **form}).text.count("ID:") == 2
    balances.append(credit(app))
    body = request(to=form["to"].split(","), text=text, maxconcat=2)
    body["message"].update(delrpt=1, usercontext="ctx")
    assert [m.get("msgparts") for m in post(https, body)["messages"]] == [2, None, 2]
    balances.append(credit(app))
    assert [a - b for a, b in itertools.pairwise(balances)] == [4, 4, 4]
    records = https.get("/_sim/messages").json()["messages"]
    assert [r["endpoint"] for r in records] == [JSON_SEND, "/api/https/sendmsg.aspx", SEND]
    varying = ("id", "endpoint", "created_at", "statuses")
    same = [{k: v for k, v in record.items() if k not in varying} for record in records]
    assert same[0] == same[1] == same[2]
    assert same[0]["to"] == ["447700900123", "447700900124"]
    assert same[0]["rejected"] == ["12"]
    assert (same[0]["delivery_report"], same[0]["user_context"], same[0]["parts"]) == (
        True,
        "ctx",
        2,
    )
    statuses = {r["id"]: len(r["statuses"]) for r in records}
    assert len(set(statuses.values())) == 1


# -- real socket ------------------------------------------------------------------------------


def test_json_over_a_real_socket_behind_a_trusted_proxy(
    live_server: Callable[[GatewayApp], LiveServer],
) -> None:
    server = live_server(build_app(SCENARIO, trust_proxy=True))
    forwarded = {"x-forwarded-proto": "https"}
    answer = httpx.post(server.url + JSON_SEND, json=request(), headers=forwarded)
    assert answer.status_code == 200
    assert answer.json()["messages"][0]["id"] == "10011000000000000001"
    plain = httpx.post(server.url + JSON_BALANCE, json={"auth": AUTH})
    assert failure("connection_not_secure", 22)(plain.json())
    balance = httpx.post(server.url + JSON_BALANCE, json={"auth": AUTH}, headers=forwarded)
    assert balance.json() == {"response_status": "ok", "balance": "99.0"}
