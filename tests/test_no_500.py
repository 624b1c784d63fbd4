"""An answer is a promise: no single request, however hostile, gets a 500 or costs another client
a message. Each case here was a 500 (or a silent loss) before the edge made text storable and
checked the values it later puts in headers; each gets its protocol's answer now.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from gateway_sim.domain.records import ContentPart, Message
from tests.conftest import MMS, SEND, LiveServer, build_app

SCENARIO = """
version: 1
accounts:
  - {username: demo, password: demo, credit: 100000, default_sender: "447700900000",
     access_keys: [{accesskey: ak, secretkey: sk}]}
"""
LOGIN = {"username": "demo", "password": "demo"}
AUTH = {"authtype": "accesskey", "accesskey": "ak", "secretkey": "sk"}
JSON_SEND = "/api/json/sendmsg.aspx"
RETRIEVE = "/smsgateway/retrievemms.aspx"
HTTPS = {"x-forwarded-proto": "https"}  # the app trusts the proxy: past the HTTPS gate
PNG = b"\x89PNG\r\n\x1a\n"
Start = Callable[..., LiveServer]


def _served(live_server: Start) -> LiveServer:
    return live_server(build_app(SCENARIO, trust_proxy=True))


def _json_send(message: dict[str, Any]) -> bytes:
    """A JSON send; `json.dumps` writes a lone surrogate as its `\\udfff` escape."""
    return json.dumps({"auth": AUTH, "message": message}).encode()


def _credit(http: httpx.Client) -> Decimal:
    accounts = http.get("/_sim/accounts").json()["accounts"]
    return Decimal(next(a["credit"] for a in accounts if a["username"] == "demo"))


def _inbound_mms(http: httpx.Client, *parts: tuple[str, str]) -> httpx.Response:
    data = base64.b64encode(PNG).decode()
    shown = [{"filename": name, "content_type": kind, "data": data} for name, kind in parts]
    body = {"account": "demo", "from": "07700900555", "subject": "hi", "parts": shown}
    return http.post("/_sim/inbound", json=body)


# --- A lone surrogate in one request loses nobody's message -----------------------------------------

BAD_SENDS: dict[str, tuple[str, dict[str, str], bytes]] = {
    "utf-7 form field": (
        SEND,
        {"content-type": "application/x-www-form-urlencoded; charset=utf-7"},
        b"username=demo&password=demo&to=07700900123&text=hi&from=%2B2AA-",
    ),
    "JSON usercontext": (
        JSON_SEND,
        {"content-type": "application/json"},
        _json_send({"to": "07700900123", "usercontext": "\udfff", "content": {"text": "hi"}}),
    ),
}


@pytest.mark.parametrize("bad", BAD_SENDS)
def test_a_lone_surrogate_in_one_send_loses_no_message(live_server: Start, bad: str) -> None:
    server = _served(live_server)
    with httpx.Client(base_url=server.url, timeout=30, headers=HTTPS) as http:
        before = _credit(http)
    answered: list[str] = []
    failures: list[str] = []

    def sender(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30, headers=HTTPS) as http:
            for n in range(10):
                if (worker, n) == (7, 4):
                    path, headers, body = BAD_SENDS[bad]
                    answer = http.post(path, content=body, headers=headers)
                    text = answer.text
                    if path == JSON_SEND:
                        text = "ID:" + answer.json()["messages"][0]["id"]
                else:
                    text = "x" * (n * 40 + 1)  # one to three parts: costs differ
                    fields = {**LOGIN, "to": f"0770090{worker:02d}{n:02d}", "text": text}
                    text = http.post(SEND, data={**fields, "maxconcat": "3"}).text
                if text.startswith("ID:"):
                    answered.append(text.removeprefix("ID:"))
                else:
                    failures.append(text)

    threads = [threading.Thread(target=sender, args=(worker,)) for worker in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(answered) == 200
    with httpx.Client(base_url=server.url, timeout=30) as http:
        listing = http.get("/_sim/messages", params={"limit": "1000"})
        assert listing.status_code == 200, listing.text
        listed = listing.json()["messages"]
        assert sorted(m["id"] for m in listed) == sorted(answered)
        assert before - _credit(http) == sum(Decimal(m["cost"]) for m in listed)
    shown = [m for m in listed if "\ufffd" in (m["from"] + (m["user_context"] or ""))]
    assert len(shown) == 1  # the lone surrogate was kept as U+FFFD


# --- Gateway paths: their own answers -----------------------------------------------------------------


NO_CHARSETS = ["rot13", "base64", "idna", "undefined", "punycode", "zlib", "uu", "unicode_escape"]
"""Codecs Python knows that are no character set: bytes or str transforms, and codecs that refuse
the error handler or everything."""


@pytest.mark.parametrize("charset", NO_CHARSETS)
def test_a_charset_that_is_no_character_set_is_an_invalid_request(
    live_server: Start, charset: str
) -> None:
    server = _served(live_server)
    body = "username=demo&password=demo&to=07700900123&text=caf\u00e9\\q".encode()
    multipart = (
        b'--XyZ\r\nContent-Disposition: form-data; name="username"\r\n\r\ndemo\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="password"\r\n\r\ndemo\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="to"\r\n\r\n07700900123\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="text"\r\n\r\nhi\r\n--XyZ--\r\n'
    )
    sends = [
        (f"application/x-www-form-urlencoded; charset={charset}", body),
        (f"application/x-www-form-urlencoded; charset:{charset}", body),  # the Java SDK's way
        (f"multipart/form-data; boundary=XyZ; charset={charset}", multipart),
    ]
    with httpx.Client(base_url=server.url, timeout=10, headers=HTTPS) as http:
        before = _credit(http)
        for content_type, content in sends:
            answer = http.post(SEND, content=content, headers={"content-type": content_type})
            assert (answer.status_code, answer.text) == (200, "ERR:INVALID_REQUEST")
            (entry,) = http.get("/_sim/requests", params={"limit": "1"}).json()["requests"]
            assert entry["answer"] == "ERR:INVALID_REQUEST"
            assert entry["reason"] == (
                f"ERR:INVALID_REQUEST: charset '{charset}' is not a character set"
            )
        json_type = {"content-type": f"application/json; charset={charset}"}
        answer = http.post(JSON_SEND, content=_json_send({"to": "07700900123"}), headers=json_type)
        assert answer.json()["errors"][0]["error"] == "invalid_request"
        assert charset in answer.json()["errors"][0]["error_description"]
        assert http.get("/_sim/messages").json()["messages"] == []
        assert _credit(http) == before


def test_a_charset_no_codec_has_is_read_as_none_named(live_server: Start) -> None:
    server = _served(live_server)
    body = "username=demo&password=demo&to=07700900123&text=caf\u00e9\\q".encode()
    content_type = "application/x-www-form-urlencoded; charset=nonsense"
    with httpx.Client(base_url=server.url, timeout=10, headers=HTTPS) as http:
        answer = http.post(SEND, content=body, headers={"content-type": content_type})
        assert answer.text.startswith("ID:")
        assert http.get(f"/_sim/messages/{answer.text[3:]}").json()["text"] == "caf\u00e9\\q"


def test_a_maxconcat_of_5000_digits_is_refused_like_any_out_of_range(
    live_server: Start,
) -> None:
    server = _served(live_server)
    huge = "1" * 5000
    with httpx.Client(base_url=server.url, timeout=10, headers=HTTPS) as http:
        form = http.post(SEND, data={**LOGIN, "to": "07700900123", "text": "hi", "maxconcat": huge})
        assert (form.status_code, form.text) == (200, "ERR:PARAMETER_INVALID")
        body = _json_send({"to": "07700900123", "content": {"text": "hi", "maxconcat": huge}})
        answer = http.post(JSON_SEND, content=body)
        assert answer.status_code == 200
        assert answer.json()["errors"][0]["error"] == "parameter_invalid"


def test_a_content_length_of_5000_digits_is_too_large(client: TestClient) -> None:
    """In process: a real server refuses such a head itself (400), before the app sees it."""
    answer = client.post(SEND, content=b"text=hi", headers={"content-length": "9" * 5000})
    assert answer.status_code == 413


WRONG_KINDS: dict[str, tuple[Any, str]] = {
    "msgtype a list": (["text"], '["text"]'),
    "msgtype an object": ({"a": 1}, '{"a": 1}'),
}
"""A msgtype of the wrong kind, and how the answer shows it. Other wrong kinds were refused
already; test_properties.py throws every kind at every field."""


@pytest.mark.parametrize("case", WRONG_KINDS)
def test_a_json_field_of_the_wrong_kind_is_invalid_request(live_server: Start, case: str) -> None:
    server = _served(live_server)
    with httpx.Client(base_url=server.url, timeout=10, headers=HTTPS) as http:
        msgtype, shown = WRONG_KINDS[case]
        message = {"to": "07700900123", "content": {"msgtype": msgtype, "text": "hi"}}
        answer = http.post(JSON_SEND, content=_json_send(message))
        assert answer.status_code == 200
        assert answer.json() == {
            "response_status": "failure",
            "errors": [
                {
                    "error": "invalid_request",
                    "error_code": 105,
                    "error_description": (
                        f"message.content.msgtype {shown} is not one of text, unicode, binary"
                    ),
                }
            ],
        }
        assert http.get("/_sim/messages").json()["messages"] == []


@pytest.mark.parametrize(
    "body",
    [
        _json_send({"to": "0770090012\udfff", "content": {"text": "hi"}}),
        _json_send({"to": ["07700900123", "\ud800"], "content": {"text": "hi"}}),
        _json_send({"to": "07700900123", "content": {"msgtype": "unicode", "text": "a\ud800b"}}),
        _json_send({"to": "07700900123", "content": {"text": "\u00e9"}}).replace(
            b"\\u00e9",
            b"\xed\xa0\x80",  # a surrogate's UTF-8 bytes: json.loads lets them pass
        ),
    ],
    ids=["to", "to list", "unicode text", "raw bytes"],
)
def test_a_lone_surrogate_in_json_is_answered_and_kept(live_server: Start, body: bytes) -> None:
    server = _served(live_server)
    with httpx.Client(base_url=server.url, timeout=10, headers=HTTPS) as http:
        answer = http.post(JSON_SEND, content=body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["response_status"] == "ok"
        listing = http.get("/_sim/messages")
        assert listing.status_code == 200
        journal = http.get("/_sim/requests")
        assert journal.status_code == 200
        assert len(journal.json()["requests"]) == 1
    for message in listing.json()["messages"]:
        assert "\ufffd" in message["text"] + "".join(message["to"] + message["rejected"])


# --- The control API: a JSON 4xx naming what is wrong -----------------------------------------------


@pytest.mark.parametrize("name", ["limit", "cursor", "type"])
def test_a_filter_of_5000_digits_is_a_400_naming_it(live_server: Start, name: str) -> None:
    server = _served(live_server)
    answer = httpx.get(f"{server.url}/_sim/messages", params={name: "7" * 5000}, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"] == "bad_filter"
    assert answer.json()["detail"].startswith(f"{name} must be")
    assert len(answer.json()["detail"]) < 200


@pytest.mark.parametrize(
    "sent",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1969-12-31T23:59:59+00:00"],
)
def test_an_inbound_sent_time_out_of_range_is_refused(live_server: Start, sent: str) -> None:
    server = _served(live_server)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        body = {"account": "demo", "from": "07700900555", "text": "hi", "sent": sent}
        answer = http.post("/_sim/inbound", json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"].startswith("sent: ")
        fine = http.post("/_sim/inbound", json={**body, "sent": "2026-01-02T05:04:05+02:00"})
        assert fine.status_code == 201
        for _ in range(2):  # every later read works: the listing, and the inbox's conversation
            listing = http.get("/_sim/messages")
            assert listing.status_code == 200
            assert listing.json()["messages"][0]["created_at"] == "2026-01-02T03:04:05+00:00"
            assert http.get("/_sim/messages", params={"from": "447700900555"}).status_code == 200


# --- Header values: file names and content types ------------------------------------------------------


def test_an_mms_part_named_in_unicode_is_served(live_server: Start) -> None:
    server = _served(live_server)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        created = _inbound_mms(http, ("snow\u2603.png", "image/png"), ('a"b\\.png', "image/png"))
        assert created.status_code == 201
        fields = {**LOGIN, "msgid": created.json()["id"], "msgpart": "snow\u2603.png"}
        part = http.get(RETRIEVE, params=fields)
        assert (part.status_code, part.content) == (200, PNG)
        assert part.headers["content-type"] == "image/png"
        first = http.get(f"/_sim/messages/{created.json()['id']}/parts/0")
        assert first.status_code == 200
        assert first.headers["content-disposition"] == (
            "inline; filename=\"snow_.png\"; filename*=UTF-8''snow%E2%98%83.png"
        )
        second = http.get(f"/_sim/messages/{created.json()['id']}/parts/1")
        assert second.headers["content-disposition"] == (
            "inline; filename=\"a_b_.png\"; filename*=UTF-8''a%22b%5C.png"
        )
        huge = http.get(f"/_sim/messages/{created.json()['id']}/parts/{'9' * 5000}")
        assert huge.status_code == 400
        assert huge.json()["error"] == "bad_part"


@pytest.mark.parametrize(
    "content_type",
    [
        "image/png\r\nSet-Cookie: pwned=1\r\nX-Injected: 1",
        "image/png\x00",
        'image/png; name="snow\u2603.png"',
        "png",
        "",
        "image/png; charset",
    ],
)
def test_inbound_refuses_a_part_whose_content_type_is_no_media_type(
    live_server: Start, content_type: str
) -> None:
    server = _served(live_server)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        answer = _inbound_mms(http, ("a.png", "image/png"), ("b.png", content_type))
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"].startswith("parts[1].content_type: ")
        if content_type.strip() and "\n" not in content_type:  # one a part's header can carry
            body = (
                b'--XyZ\r\nContent-Disposition: form-data; name="account"\r\n\r\ndemo\r\n'
                b'--XyZ\r\nContent-Disposition: form-data; name="from"\r\n\r\n07700900555\r\n'
                b'--XyZ\r\nContent-Disposition: form-data; filename="b.png"\r\n'
                b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + PNG + b"\r\n--XyZ--\r\n"
            )
            multipart = {"content-type": "multipart/form-data; boundary=XyZ"}
            as_form = http.post("/_sim/inbound", content=body, headers=multipart)
            assert as_form.status_code == 422, as_form.text
            assert as_form.json()["detail"].startswith("parts[0].content_type: ")
        fine = _inbound_mms(http, ("a.txt", "text/plain; charset=utf-8"))
        assert fine.status_code == 201
        assert fine.json()["content"][0]["content_type"] == "text/plain; charset=utf-8"


def test_a_clients_mms_part_of_no_media_type_is_kept_as_octets(live_server: Start) -> None:
    server = _served(live_server)
    parts = [
        (b"Content-Type: image/png\x01", "application/octet-stream"),
        (b'Content-Type: image/png; name="snow\xe2\x98\x83.png"', "application/octet-stream"),
        (b"Content-Type: image/png; name=snow.png", "image/png"),
        (b"", "application/octet-stream"),
    ]
    body = b"".join(
        b'--XyZ\r\nContent-Disposition: form-data; name="' + name + b'"\r\n\r\n' + value + b"\r\n"
        for name, value in (
            (b"username", b"demo"),
            (b"password", b"demo"),
            (b"to", b"07700900123"),
            (b"type", b"5"),
        )
    )
    for n, (header, _) in enumerate(parts):
        body += b'--XyZ\r\nContent-Disposition: form-data; filename="p%d.png"\r\n' % n
        body += (header + b"\r\n" if header else b"") + b"\r\n" + PNG + b"\r\n"
    body += b"--XyZ--\r\n"
    with httpx.Client(base_url=server.url, timeout=10) as http:
        answer = http.post(
            MMS, content=body, headers={"content-type": "multipart/form-data; boundary=XyZ"}
        )
        assert answer.text.startswith("ID:")
        message = http.get(f"/_sim/messages/{answer.text[3:]}").json()
    assert [p["content_type"] for p in message["content"]] == [kept for _, kept in parts]


def test_no_header_is_built_from_a_stored_unchecked_content_type(live_server: Start) -> None:
    """A record kept before the check (a database file of an older version) is served as octets,
    to the client and in the inbox."""
    server = _served(live_server)
    injected = "image/png\r\nSet-Cookie: pwned=1\r\nX-Injected: 1"
    server.app.store.add(
        Message(
            id="10011000000000000999",
            account="demo",
            endpoint="/_sim/inbound",
            type=5,
            kind="mms",
            sender="447700900555",
            recipients=("447700900000",),
            rejected=(),
            text="old",
            encoding=None,
            parts=1,
            cost=Decimal(0),
            truncated=False,
            created_at=datetime(2026, 1, 2, tzinfo=UTC),
            content=(ContentPart("x.png", injected, PNG),),
            direction="inbound",
        )
    )
    fields = {**LOGIN, "msgid": "10011000000000000999", "msgpart": "x.png"}
    retrieved = httpx.get(f"{server.url}{RETRIEVE}", params=fields, timeout=10)
    shown = httpx.get(f"{server.url}/_sim/messages/10011000000000000999/parts/0", timeout=10)
    for part in (retrieved, shown):  # the client's retrievemms, and the inbox's route
        assert (part.status_code, part.content) == (200, PNG)
        assert part.headers["content-type"] == "application/octet-stream"
        assert "set-cookie" not in part.headers
        assert "x-injected" not in part.headers
    assert shown.headers["content-disposition"] == 'attachment; filename="x.png"'
