"""The `/_sim` control API over HTTP: messages, journal, waiting, accounts, scenario, reset."""

from __future__ import annotations

import asyncio
import hmac
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from starlette.testclient import TestClient

from gateway_sim.domain.scenario import DEFAULT_SCENARIO
from gateway_sim.server.app import GatewayApp
from tests.conftest import BALANCE, SEND, ClientFor, LiveServer, build_app
from tests.helpers import post_mms

LOGIN = {"username": "demo", "password": "demo"}


def send(client: TestClient, to: str = "07700900123", **fields: str) -> str:
    return client.post(SEND, data={**LOGIN, "to": to, "text": "hi", **fields}).text


def test_list_messages_newest_first_with_the_message_shape(client: TestClient) -> None:
    send(client, text="first")
    send(client, to="07700900124,12", text="second", delrpt="1", usercontext="ctx")
    listed = client.get("/_sim/messages").json()
    assert listed["next_cursor"] is None
    newest, oldest = listed["messages"]
    assert oldest["text"] == "first"
    assert newest == {
        "id": "10011000000000000002",
        "account": "demo",
        "endpoint": "/smsgateway/sendmsg.aspx",
        "type": 1,
        "kind": "text",
        "from": "447700900000",
        "to": ["447700900124"],
        "rejected": ["12"],
        "text": "second",
        "encoding": "gsm7",
        "parts": 1,
        "cost": "1",
        "truncated": False,
        "created_at": "2026-01-02T03:04:05+00:00",
        "content": [],
        "udh": None,
        "ud": None,
        "href": None,
        "delivery_report": True,
        "user_context": "ctx",
        "rule": None,
        "delivery": None,
        "direction": "outbound",
        "reply_to": None,
        "network_code": None,
        "auto_reply": None,
        "statuses": [],
    }


@pytest.mark.parametrize(
    ("query", "texts"),
    [
        ("to=07700900124", ["b"]),
        ("to=%2B447700900124", ["b"]),
        ("to=447700900124", ["b"]),
        ("from=Shop", ["c"]),
        ("account=DEMO", ["c", "b", "a"]),
        ("account=nobody", []),
        ("type=2", []),
        ("type=text", ["c", "b", "a"]),
        ("text=b", ["b"]),
        ("since=2026-01-02T03:04:05Z", ["c", "b", "a"]),
        ("since=2026-01-02T03:04:06%2B00:00", []),
        ("since=2026-01-02T04:04:05%2B01:00", ["c", "b", "a"]),
    ],
)
def test_message_filters(client: TestClient, query: str, texts: list[str]) -> None:
    send(client, text="a")
    send(client, to="07700900124", text="b")
    client.post(SEND, data={**LOGIN, "from": "Shop", "to": "07700900125", "text": "c"})
    found = client.get(f"/_sim/messages?{query}").json()["messages"]
    assert [m["text"] for m in found] == texts


def test_pages_with_cursor(client: TestClient) -> None:
    for n in range(5):
        send(client, text=str(n))
    first = client.get("/_sim/messages?limit=2").json()
    assert [m["text"] for m in first["messages"]] == ["4", "3"]
    second = client.get(f"/_sim/messages?limit=2&cursor={first['next_cursor']}").json()
    assert [m["text"] for m in second["messages"]] == ["2", "1"]
    third = client.get(f"/_sim/messages?limit=2&cursor={second['next_cursor']}").json()
    assert [m["text"] for m in third["messages"]] == ["0"]
    assert third["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("limit=0", "limit must be an integer from 1 to 1000, not '0'"),
        ("limit=abc", "limit must be an integer from 1 to 1000"),
        ("cursor=x", "cursor must be a next_cursor value"),
        ("type=9", "type must be one of 1, 2, 3, 4, 5, 6, text, unicode"),
        ("since=yesterday", "since must be an ISO 8601 time"),
    ],
)
def test_bad_filters_are_400_with_a_json_reason(
    client: TestClient, query: str, detail: str
) -> None:
    answer = client.get(f"/_sim/messages?{query}")
    assert answer.status_code == 400
    assert answer.json()["error"] == "bad_filter"
    assert detail in answer.json()["detail"]


def test_get_one_message_and_unknown_ids(client: TestClient) -> None:
    send(client)
    assert client.get("/_sim/messages/10011000000000000001").json()["to"] == ["447700900123"]
    missing = client.get("/_sim/messages/123")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "detail": "no message with id '123'"}


def test_mms_parts_are_served_raw_and_safely(client: TestClient) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    assert post_mms(
        client, [("a.gif", "image/gif", b"GIF89a\x00\x01"), ("x.svg", "image/svg+xml", svg)]
    ) == ("ID:10011000000000000001")
    message = client.get("/_sim/messages/10011000000000000001").json()
    assert message["content"] == [
        {"n": 0, "filename": "a.gif", "content_type": "image/gif", "size": 8, "dropped": False},
        {
            "n": 1,
            "filename": "x.svg",
            "content_type": "image/svg+xml",
            "size": len(svg),
            "dropped": False,
        },
    ]
    gif = client.get("/_sim/messages/10011000000000000001/parts/0")
    assert gif.content == b"GIF89a\x00\x01"
    assert gif.headers["content-type"] == "image/gif"
    part = client.get("/_sim/messages/10011000000000000001/parts/1")
    assert part.content == svg
    assert part.headers["x-content-type-options"] == "nosniff"
    assert part.headers["content-disposition"] == 'attachment; filename="x.svg"'
    assert "sandbox" in part.headers["content-security-policy"]
    assert client.get("/_sim/messages/10011000000000000001/parts/2").status_code == 404
    assert client.get("/_sim/messages/10011000000000000001/parts/x").status_code == 400


def test_delete_messages(client: TestClient) -> None:
    send(client)
    send(client)
    assert client.delete("/_sim/messages").json() == {"deleted": 2}
    assert client.get("/_sim/messages").json()["messages"] == []
    assert send(client) == "ID:10011000000000000003"  # the id counter is not reset


def test_journal_records_every_request_with_reason_and_masked_secrets(client: TestClient) -> None:
    send(client)
    client.post(SEND, data={"username": "demo", "password": "wrong", "to": "1", "text": "x"})
    client.get(BALANCE, params=LOGIN)
    client.put(SEND)
    entries = client.get("/_sim/requests").json()["requests"]
    assert [e["outcome"] for e in entries] == ["http_error", "answered", "refused", "accepted"]
    refused = entries[2]
    assert refused["answer"] == "ERR:LOGIN_INVALID"
    assert refused["reason"] == "ERR:LOGIN_INVALID: wrong password for account 'demo'"
    assert refused["fields"]["password"] == "***"
    assert "wrong" not in refused["raw_body"]
    assert "password=***" in refused["raw_body"]
    assert refused["account"] == "demo"
    assert refused["method"] == "POST"
    assert refused["path"] == "/smsgateway/sendmsg.aspx"
    assert refused["status"] == 200
    assert refused["body_size"] > 0
    accepted = entries[3]
    assert accepted["message_id"] == "10011000000000000001"
    assert accepted["reason"] == "accepted for 1 recipient(s), cost 1"
    assert entries[0]["status"] == 405
    assert entries[0]["reason"] == "method PUT is not allowed; use GET or POST"


def test_journal_reasons_name_the_count_and_cost_of_each_send(client: TestClient) -> None:
    send(client)
    send(client, "07700900123,07700900124")
    send(client, text="x" * 161, maxconcat="2")  # two parts
    send(client)
    entries = client.get("/_sim/requests").json()["requests"]
    assert [e["reason"] for e in reversed(entries)] == [
        "accepted for 1 recipient(s), cost 1",
        "accepted for 2 recipient(s), cost 2",
        "accepted for 1 recipient(s), cost 2",
        "accepted for 1 recipient(s), cost 1",
    ]


def test_a_cut_text_is_answered_id_and_said_so_in_the_journal(client: TestClient) -> None:
    """A text past maxconcat is still cut and answered ID: (the policy), and the journal's
    reason and the message say so; the unicode path (no maxconcat sent, so 1) too."""
    assert send(client, text="x" * 222, maxconcat="1").startswith("ID:")
    assert send(client, text="y" * 400, maxconcat="2").startswith("ID:")
    hex_text = ("ł" * 75).encode("utf-16-be").hex()
    answer = client.post(SEND, data={**LOGIN, "to": "07700900123", "type": "2", "hex": hex_text})
    assert answer.text.startswith("ID:")
    assert send(client, text="z" * 160).startswith("ID:")  # fits: nothing said
    entries = client.get("/_sim/requests").json()["requests"]
    assert [e["reason"] for e in reversed(entries)] == [
        "accepted for 1 recipient(s), cost 1; cut to 1 part by maxconcat 1, 62 characters dropped",
        "accepted for 1 recipient(s), cost 2; cut to 2 parts by maxconcat 2, 94 characters dropped",
        "accepted for 1 recipient(s), cost 1; cut to 1 part by maxconcat 1, 5 characters dropped",
        "accepted for 1 recipient(s), cost 1",
    ]
    messages = client.get("/_sim/messages").json()["messages"]
    assert [m["truncated"] for m in reversed(messages)] == [True, True, True, False]


def test_journal_filters(client: TestClient) -> None:
    send(client)
    client.post(SEND, data={**LOGIN, "to": "07700900124", "text": "x", "maxconcat": "0"})
    client.post(SEND, data={**LOGIN, "to": "07700900124,12", "text": "x"})
    refused = client.get("/_sim/requests?outcome=refused").json()["requests"]
    assert [e["answer"] for e in refused] == ["ERR:PARAMETER_INVALID"]
    assert "maxconcat '0' is not an integer from 1 to 10" in refused[0]["reason"]
    partial = client.get("/_sim/requests?outcome=partial").json()["requests"]
    assert len(partial) == 1
    assert len(client.get("/_sim/requests?to=07700900124").json()["requests"]) == 2
    assert len(client.get("/_sim/requests?to=%2B447700900124").json()["requests"]) == 0  # as sent
    client.post("/SMSGateway/SendMsg.aspx", data={**LOGIN, "to": "07700900124", "text": "x"})
    assert len(client.get("/_sim/requests?path=/smsgateway/SENDMSG.aspx").json()["requests"]) == 4
    bad = client.get("/_sim/requests?outcome=nope")
    assert bad.status_code == 400
    assert (
        "outcome must be one of accepted, partial, refused, answered, http_error"
        in bad.json()["detail"]
    )


def test_accounts_create_change_use_and_delete(client: TestClient) -> None:
    created = client.put(
        "/_sim/accounts/alice", json={"password": "pw", "credit": "2.5", "default_sender": "Alice"}
    )
    assert created.status_code == 201
    assert created.json() == {
        "username": "alice",
        "credit": "2.5",
        "balance": 2,
        "default_sender": "Alice",
        "default_country": None,
        "parent": None,
        "status_url": None,
        "inbound_url": None,
        "mms_url": None,
        "inbound_format": "form",
        "retry_seconds": 300.0,
        "report_all": False,
        "access_keys": [],
        "daily_allowance": None,
        "daily_used": 0,
    }
    alice = {"username": "alice", "password": "pw"}
    assert client.get(BALANCE, params=alice).text == "BALANCE:2"
    changed = client.put("/_sim/accounts/ALICE", json={"credit": 50, "default_country": "de"})
    assert changed.status_code == 200
    assert changed.json()["default_country"] == "DE"
    assert (
        client.post(SEND, data={**alice, "to": "07700900123", "text": "x"}).text
        == "ID:10011000000000000001"
    )
    assert client.get("/_sim/messages/10011000000000000001").json()["to"] == ["497700900123"]
    names = [a["username"] for a in client.get("/_sim/accounts").json()["accounts"]]
    assert names == ["demo", "alice"]
    assert client.delete("/_sim/accounts/alice").status_code == 204
    assert client.get(BALANCE, params=alice).text == "ERR:LOGIN_INVALID"
    assert client.delete("/_sim/accounts/alice").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"credit": 5}, 422, "password: required to create an account"),
        ({"password": ""}, 422, "password: String should have at least 1 character"),
        (
            {"password": "x", "credit": -1},
            422,
            "credit: Input should be greater than or equal to 0",
        ),
        (
            {"password": "x", "colour": "red"},
            422,
            "colour: unknown key; allowed keys: password, credit",
        ),
        (
            {"password": "x", "default_country": "XX"},
            422,
            "default_country: 'XX' is not a region code",
        ),
        ([1, 2], 400, "the body must be a JSON object"),
    ],
)
def test_bad_account_changes_are_refused_and_nothing_changes(
    client: TestClient, body: object, status: int, detail: str
) -> None:
    answer = client.put("/_sim/accounts/bob", json=body)
    assert answer.status_code == status
    assert detail in answer.json()["detail"]
    assert client.put("/_sim/accounts/demo", json={"credit": -5}).status_code == 422
    assert [a["username"] for a in client.get("/_sim/accounts").json()["accounts"]] == ["demo"]
    assert client.get(BALANCE, params=LOGIN).text == "BALANCE:100"


def test_not_json_is_400(client: TestClient) -> None:
    answer = client.put(
        "/_sim/accounts/bob", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "bad_json"


def test_scenario_get_put_and_refusal(client: TestClient) -> None:
    loaded = client.get("/_sim/scenario").json()
    assert loaded["accounts"][0]["username"] == "demo"
    assert loaded["settings"]["id_start"] == 10011000000000000001
    send(client)
    bad = client.put("/_sim/scenario", content=b"version: 1\nsettings: {line_ending: cr}\n")
    assert bad.status_code == 422
    assert bad.json()["problems"] == [
        "settings.line_ending: Input should be 'crlf' or 'lf' (got 'cr')"
    ]
    assert "PUT /_sim/scenario: settings.line_ending" in bad.json()["detail"]
    assert client.get(BALANCE, params=LOGIN).text == "BALANCE:99"  # untouched
    new = "version: 1\nsettings: {id_start: 7, line_ending: lf, trailing_newline: true}\naccounts: [{username: n, password: n, credit: 3}]"
    assert client.put("/_sim/scenario", content=new.encode()).json() == {
        "status": "loaded",
        "accounts": ["n"],
    }
    assert client.get(BALANCE, params=LOGIN).text == "ERR:LOGIN_INVALID\n"
    assert client.post(
        SEND, data={"username": "n", "password": "n", "to": "07700900123", "text": "x"}
    ).text == ("ID:00000000000000000007\n")
    as_json = client.put(
        "/_sim/scenario", json={"version": 1, "accounts": [{"username": "j", "password": "j"}]}
    )
    assert as_json.status_code == 200
    assert client.get("/_sim/scenario").json()["accounts"][0]["username"] == "j"


def test_reset_goes_back_to_the_loaded_scenario(client: TestClient) -> None:
    send(client)
    client.put("/_sim/accounts/extra", json={"password": "x"})
    client.post(
        "/smsgateway/createsubacc.aspx",
        data={**LOGIN, "subacc_username": "kid", "subacc_password": "k"},
    )
    assert client.post("/_sim/reset").json() == {"status": "reset"}
    assert client.get("/_sim/requests").json()["requests"] == []
    assert client.get(BALANCE, params=LOGIN).text == "BALANCE:100"
    assert [a["username"] for a in client.get("/_sim/accounts").json()["accounts"]] == ["demo"]
    assert client.get("/_sim/messages").json()["messages"] == []
    assert send(client) == "ID:10011000000000000001"


def test_health_and_ready(client: TestClient) -> None:
    health = client.get("/_sim/health").json()
    assert health["status"] == "ok"
    assert health["version"]
    assert health["uptime_seconds"] >= 0
    assert client.get("/_sim/ready").json() == {"ready": True}


def test_unknown_control_paths_and_methods_are_json(client: TestClient) -> None:
    missing = client.get("/_sim/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    wrong = client.post("/_sim/messages")
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "method_not_allowed"


def test_control_token(client_for: ClientFor) -> None:
    app = build_app()
    guarded = create_guarded(app)
    with TestClient(guarded) as client:
        assert client.get("/_sim/messages").status_code == 401
        assert client.get("/_sim/messages").json()["error"] == "unauthorized"
        assert (
            client.get("/_sim/messages", headers={"authorization": "Bearer nope"}).status_code
            == 401
        )
        ok = client.get("/_sim/messages", headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert client.post(SEND, data={**LOGIN, "to": "07700900123", "text": "x"}).text.startswith(
            "ID:"
        )
    app.close()


def test_the_control_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every comparison of a sent token goes through `hmac.compare_digest` (an `==` would stop at
    the first wrong byte, and its time would tell how much of a guess was right)."""
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr("gateway_sim.control.api.hmac.compare_digest", spy)
    guarded = create_guarded(build_app())
    expected = b"Bearer s3cret"
    with TestClient(guarded) as client:
        for sent, status in (("Bearer nope", 401), ("Bearer s3cret", 200)):
            answer = client.get("/_sim/messages", headers={"authorization": sent})
            assert answer.status_code == status
            assert compared.pop() == (sent.encode(), expected)
        assert client.get("/_sim/events", params={"token": "guess"}).status_code == 401
        assert compared.pop() == (b"Bearer guess", expected)  # the event stream's ?token=
        assert compared == []
    guarded.close()


def create_guarded(app: GatewayApp) -> GatewayApp:
    from gateway_sim.domain.clock import ManualClock
    from gateway_sim.server.app import create_app
    from tests.conftest import START

    app.close()
    return create_app(app.gateway.scenario, clock=ManualClock(START), control_token="s3cret")


def test_wait_answers_at_once_for_an_existing_message(client: TestClient) -> None:
    send(client)
    waited = client.get("/_sim/messages/wait?to=07700900123&timeout=0")
    assert waited.status_code == 200
    assert waited.json()["message"]["id"] == "10011000000000000001"


def test_wait_times_out_with_408(client: TestClient) -> None:
    started = time.monotonic()
    answer = client.get("/_sim/messages/wait?to=07700900999&timeout=0.2")
    assert answer.status_code == 408
    assert answer.json() == {"error": "timeout", "detail": "no matching message within 0.2 s"}
    assert time.monotonic() - started < 2
    assert client.get("/_sim/messages/wait?timeout=301").status_code == 400


def test_wait_wakes_as_soon_as_the_message_arrives(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(build_app())

    def send_later() -> None:
        time.sleep(0.3)
        httpx.post(server.url + SEND, data={**LOGIN, "to": "07700900555", "text": "late"})

    async def wait_and_noise() -> tuple[httpx.Response, float]:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            started = time.monotonic()
            waiting = asyncio.create_task(http.get("/_sim/messages/wait?to=07700900555&timeout=5"))
            # Other messages do not wake it; other requests are served meanwhile.
            await http.post(SEND, data={**LOGIN, "to": "07700900556", "text": "other"})
            assert (await http.get("/_sim/health")).status_code == 200
            answer = await waiting
            return answer, time.monotonic() - started

    sender = threading.Thread(target=send_later)
    sender.start()
    answer, elapsed = asyncio.run(wait_and_noise())
    sender.join()
    assert answer.status_code == 200
    assert answer.json()["message"]["text"] == "late"
    assert 0.1 < elapsed < 5


def test_default_scenario_file_is_what_get_scenario_shows(client: TestClient) -> None:
    import yaml

    on_disk = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    shown = client.get("/_sim/scenario").json()
    assert shown["numbers"]["unroutable"] == on_disk["numbers"]["unroutable"]
