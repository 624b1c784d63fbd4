"""Messages from handsets: injected through /_sim/inbound, kept, forwarded, fetched with
retrievemms.aspx (README "What is simulated": balance, sub-accounts, received SMS, received MMS), against a real HTTP receiver."""

from __future__ import annotations

import base64
import json

import pytest
from starlette.testclient import TestClient

from tests.conftest import SEND, build_app
from tests.helpers_callbacks import Receiver, advance

LOGIN = {"username": "demo", "password": "demo"}
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"


def scenario(url: str, inbound_format: str = "form") -> str:
    return (
        "version: 1\naccounts:\n"
        f"  - {{username: demo, password: demo, credit: 10, default_sender: '447700900000', "
        f"inbound_url: '{url}/in', mms_url: '{url}/mms', inbound_format: {inbound_format}}}\n"
        "  - {username: other, password: other}\n"
    )


def test_inbound_sms_is_kept_and_forwarded_as_form_fields(receiver: Receiver) -> None:
    with TestClient(build_app(scenario(receiver.url))) as client:
        answer = client.post(
            "/_sim/inbound",
            json={
                "account": "demo",
                "from": "447700900555",
                "text": "Yes please",
                "networkcode": "23410",
            },
        )
        assert answer.status_code == 201
        message = answer.json()
        assert (message["direction"], message["from"], message["to"], message["text"]) == (
            "inbound",
            "447700900555",
            ["447700900000"],
            "Yes please",
        )
        advance(client, 0)
        assert receiver.received == [
            (
                "/in",
                {
                    "from": "447700900555",
                    "text": "Yes please",
                    "msgid": message["id"],
                    "sent": "2026-01-02T03:04:05-00:00",  # UK local time, on GMT
                    "networkcode": "23410",
                },
            )
        ]
        waited = client.get("/_sim/messages/wait?from=447700900555&timeout=0").json()["message"]
        assert waited["id"] == message["id"]


def test_inbound_json_format(receiver: Receiver) -> None:
    received_json: list[object] = []
    with TestClient(build_app(scenario(receiver.url, "json"))) as client:
        client.post(
            "/_sim/inbound", json={"account": "demo", "from": "447700900555", "text": "Zażółć"}
        )
        advance(client, 0)
        assert receiver.received[0][0] == "/in"
        received_json.append(json.loads(receiver.bodies[0]))
    (body,) = received_json
    assert body == {
        "messages": [
            {
                "from": "447700900555",
                "to": "447700900000",
                "messageid": "10011000000000000001",
                "channel": "sms",
                "sent": "2026-01-02T03:04:05-00:00",
                "content": {"msgtype": "unicode", "text": "Zażółć"},
            }
        ]
    }


@pytest.mark.parametrize("inbound_format", ["form", "json"])
def test_sent_is_uk_local_time_on_gmt_and_on_bst(receiver: Receiver, inbound_format: str) -> None:
    """The vendor's examples: `-00:00` while the UK is on GMT, `+01:00` on BST; the time is the
    simulator's clock (moved into summer here), or the `sent` a test gives, shown in UK time."""
    with TestClient(build_app(scenario(receiver.url, inbound_format))) as client:
        inbound = {"account": "demo", "from": "447700900555", "text": "hi"}
        client.post("/_sim/inbound", json=inbound)
        advance(client, 159 * 86_400 + 10 * 3_600)  # 2026-01-02T03:04:05Z -> 2026-06-10T13:04:05Z
        client.post("/_sim/inbound", json=inbound)
        client.post("/_sim/inbound", json={**inbound, "sent": "2010-06-10T13:45:12Z"})
        client.post("/_sim/inbound", json={**inbound, "sent": "2010-02-03T13:50:05+00:00"})
        advance(client, 0)
    if inbound_format == "form":
        sent = [dict(fields)["sent"] for _, fields in receiver.received]
    else:
        sent = [json.loads(body)["messages"][0]["sent"] for body in receiver.bodies]
    assert sent == [
        "2026-01-02T03:04:05-00:00",
        "2026-06-10T14:04:05+01:00",
        "2010-06-10T14:45:12+01:00",
        "2010-02-03T13:50:05-00:00",
    ]


def test_a_reply_carries_the_user_context_of_the_message_it_answers(receiver: Receiver) -> None:
    with TestClient(build_app(scenario(receiver.url))) as client:
        sent = client.post(
            SEND,
            data={
                **LOGIN,
                "to": "07700900555",
                "text": "Coming?",
                "usercontext": "order-42",
                "from": "ShopX",
            },
        )
        original = sent.text.removeprefix("ID:")
        reply = client.post(
            "/_sim/inbound",
            json={"account": "demo", "from": "447700900555", "text": "Yes", "reply_to": original},
        ).json()
        assert (reply["reply_to"], reply["user_context"], reply["to"]) == (
            original,
            "order-42",
            ["ShopX"],
        )
        bad = client.post(
            "/_sim/inbound",
            json={"account": "other", "from": "447700900555", "text": "x", "reply_to": original},
        )
        assert bad.status_code == 422
        assert "reply_to" in bad.json()["detail"]


def test_inbound_mms_is_forwarded_and_its_parts_fetched_with_retrievemms(
    receiver: Receiver,
) -> None:
    with TestClient(build_app(scenario(receiver.url))) as client:
        message = client.post(
            "/_sim/inbound",
            json={
                "account": "demo",
                "from": "447700900555",
                "subject": "Look",
                "parts": [
                    {
                        "filename": "pic.gif",
                        "content_type": "image/gif",
                        "data": base64.b64encode(GIF).decode(),
                    },
                    {
                        "filename": "note.txt",
                        "content_type": "text/plain",
                        "data": base64.b64encode(b"hi").decode(),
                    },
                ],
            },
        ).json()
        advance(client, 0)
        assert receiver.received == [
            (
                "/mms",
                {
                    "from": "447700900555",
                    "text": "Look",
                    "msgid": message["id"],
                    "type": "5",
                    "filelist": "pic.gif,note.txt",
                },
            )
        ]
        fetched = client.get(
            "/smsgateway/retrievemms.aspx",
            params={**LOGIN, "msgid": message["id"], "msgpart": "pic.gif"},
        )
        assert fetched.status_code == 200
        assert fetched.content == GIF
        assert fetched.headers["content-type"] == "image/gif"
        params = {**LOGIN, "msgid": message["id"]}
        assert (
            client.get(
                "/smsgateway/RetrieveMMS.aspx", params={**params, "msgpart": "note.txt"}
            ).content
            == b"hi"
        )
        assert client.get("/smsgateway/retrievemms.aspx", params=LOGIN).text == "ERR:NO_MSGID"
        assert (
            client.get("/smsgateway/retrievemms.aspx", params={**params, "msgpart": "x.gif"}).text
            == "ERR:MSGID_INVALID"
        )
        assert (
            client.get(
                "/smsgateway/retrievemms.aspx", params={**LOGIN, "msgid": "1", "msgpart": "pic.gif"}
            ).text
            == "ERR:MSGID_INVALID"
        )
        other = {
            "username": "other",
            "password": "other",
            "msgid": message["id"],
            "msgpart": "pic.gif",
        }
        assert client.get("/smsgateway/retrievemms.aspx", params=other).text == "ERR:MSGID_INVALID"
        assert (
            client.get("/smsgateway/retrievemms.aspx", params={**params, "password": "x"}).text
            == "ERR:LOGIN_INVALID"
        )
        journal = client.get("/_sim/requests?path=/smsgateway/retrievemms.aspx&limit=1000").json()[
            "requests"
        ]
        assert journal[-1]["answer"] == f"<{len(GIF)} bytes of image/gif>"


def test_inbound_mms_as_multipart(receiver: Receiver) -> None:
    body = (
        b'--B\r\nContent-Disposition: form-data; name="account"\r\n\r\ndemo\r\n'
        b'--B\r\nContent-Disposition: form-data; name="from"\r\n\r\n447700900555\r\n'
        b'--B\r\nContent-Disposition: form-data; name="subject"\r\n\r\nPhoto\r\n'
        b'--B\r\nContent-Disposition: form-data; filename="a.gif"\r\nContent-Type: image/gif\r\n\r\n'
        + GIF
        + b"\r\n--B--\r\n"
    )
    with TestClient(build_app(scenario(receiver.url))) as client:
        answer = client.post(
            "/_sim/inbound",
            content=body,
            headers={"content-type": "multipart/form-data; boundary=B"},
        )
        assert answer.status_code == 201
        message = answer.json()
        assert message["content"][0]["filename"] == "a.gif"
        assert client.get(f"/_sim/messages/{message['id']}/parts/0").content == GIF


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"account": "nobody", "from": "1", "text": "x"}, 404, "no account named 'nobody'"),
        ({"account": "demo", "from": "1"}, 422, "an SMS needs text"),
        ({"account": "demo", "text": "x"}, 422, "from: required key is missing"),
        ({"account": "demo", "from": "1", "text": "x", "colour": 1}, 422, "colour: unknown key"),
        (
            {"account": "demo", "from": "1", "parts": [{"filename": "a", "data": "***"}]},
            422,
            "parts[0].data",
        ),
        ({"account": "demo", "from": "1", "text": "x", "reply_to": "404"}, 422, "reply_to"),
        ([1], 400, "the body must be a JSON object"),
    ],
)
def test_bad_inbound_is_refused(receiver: Receiver, body: object, status: int, detail: str) -> None:
    with TestClient(build_app(scenario(receiver.url))) as client:
        answer = client.post("/_sim/inbound", json=body)
        assert answer.status_code == status
        assert detail in answer.json()["detail"]
        assert client.get("/_sim/messages").json()["messages"] == []


def test_inbound_messages_get_no_delivery_reports(receiver: Receiver) -> None:
    text = scenario(receiver.url).replace(
        "inbound_format: form}",
        "inbound_format: form, report_all: true, status_url: 'http://127.0.0.1:9/s'}",
    )
    with TestClient(build_app(text)) as client:
        message = client.post(
            "/_sim/inbound", json={"account": "demo", "from": "447700900555", "text": "x"}
        ).json()
        advance(client, 60)
        assert client.get(f"/_sim/messages/{message['id']}").json()["statuses"] == []
        assert [a["kind"] for a in client.get("/_sim/callbacks").json()["callbacks"]] == ["inbound"]


@pytest.mark.parametrize(
    ("sent_from", "stored"),
    [
        ("07700900555", "447700900555"),  # national, in the account's country (GB)
        ("+44 7700 900555", "447700900555"),
        ("00447700900555", "447700900555"),
        ("447700900555", "447700900555"),
        ("ShopX", "ShopX"),  # an alphanumeric sender stays as it is
        ("12", "12"),  # so does what is no phone number
    ],
)
def test_the_sender_is_forwarded_in_international_form(
    receiver: Receiver, sent_from: str, stored: str
) -> None:
    """As the gateway forwards it, and as outbound messages list their recipients: a handset's
    reply lands in the same conversation as the messages sent to it."""
    with TestClient(build_app(scenario(receiver.url))) as client:
        answer = client.post(
            "/_sim/inbound",
            json={"account": "demo", "from": sent_from, "to": "07700900000", "text": "hi"},
        )
        assert answer.status_code == 201, answer.text
        assert (answer.json()["from"], answer.json()["to"]) == (stored, ["447700900000"])
        advance(client, 0)
        assert receiver.received[-1][1]["from"] == stored
