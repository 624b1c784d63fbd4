"""README "What is simulated": parts, prices type rules: SMS parts (GSM-7 / UCS-2), truncation and prices."""

from __future__ import annotations

from decimal import Decimal

import pytest
from starlette.testclient import TestClient

from gateway_sim.domain.billing import encoding_of, segment
from tests.conftest import SEND, ClientFor, app_of, credit, stored

LOGIN = {"username": "demo", "password": "demo", "to": "07700900123"}
PRICED = """
version: 1
prices: {sms_part: 1, unicode_part: 2, binary: 3, wap_push: 4, voice_part: 5, mms: 6}
accounts: [{username: demo, password: demo, credit: 1000}]
"""


@pytest.mark.parametrize(
    ("text", "encoding", "parts"),
    [
        ("a" * 160, "gsm7", 1),
        ("a" * 161, "gsm7", 2),
        ("a" * 306, "gsm7", 2),
        ("a" * 307, "gsm7", 3),
        ("€" * 80, "gsm7", 1),  # extension characters count twice
        ("€" * 81, "gsm7", 2),
        ("[]{}^~|\\" * 10, "gsm7", 1),
        ("a" * 152 + "€" + "a" * 8, "gsm7", 2),  # € would straddle: it moves to part two
        ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!¤¡ÄÖÑÜ§¿äöñüà", "gsm7", 1),
        ("ł" * 70, "ucs2", 1),
        ("ł" * 71, "ucs2", 2),
        ("ł" * 134, "ucs2", 2),
        ("ł" * 135, "ucs2", 3),
        ("😀" * 35, "ucs2", 1),  # an emoji is two UTF-16 units
        ("😀" * 36, "ucs2", 2),
        ("a" * 66 + "😀", "ucs2", 1),
        ("a" * 69 + "😀", "ucs2", 2),
    ],
)
def test_parts(text: str, encoding: str, parts: int) -> None:
    result = segment(text, 10)
    assert (result.encoding, result.parts, result.dropped, result.text) == (
        encoding,
        parts,
        0,
        text,
    )


def test_an_emoji_never_straddles_a_part() -> None:
    result = segment("a" * 69 + "😀" + "b" * 10, 1)
    assert result.text == "a" * 69
    result = segment("a" * 66 + "😀" + "b" * 100, 2)
    assert result.parts == 2
    assert result.text == "a" * 66 + "😀" + "b" * 65


def test_truncation_to_maxconcat() -> None:
    one = segment("a" * 400, 1)
    assert (one.parts, one.dropped, one.text) == (1, 240, "a" * 160)
    two = segment("a" * 400, 2)
    assert (two.parts, two.dropped, two.text) == (2, 94, "a" * 306)
    euro = segment("a" * 159 + "€", 1)
    assert (euro.text, euro.dropped) == ("a" * 159, 1)


def test_encoding_of() -> None:
    assert encoding_of("Hello [world] €5") == "gsm7"
    assert encoding_of("Cześć") == "ucs2"


def send(client: TestClient, **fields: str) -> bytes:
    return client.post(SEND, data={**LOGIN, **fields}).content


@pytest.mark.parametrize(
    ("fields", "cost", "parts", "truncated"),
    [
        ({"text": "a" * 161}, 1, 1, True),  # maxconcat defaults to 1
        ({"text": "a" * 161, "maxconcat": "3"}, 2, 2, False),
        ({"text": "a" * 1000, "maxconcat": "3"}, 3, 3, True),
        ({"text": "ł" * 71, "maxconcat": "5"}, 2, 2, False),  # UCS-2 text in type 1: sms_part
        ({"type": "2", "hex": "0142" * 71, "maxconcat": "5"}, 4, 2, False),
        ({"type": "2", "hex": "0142" * 71}, 2, 1, True),
        ({"type": "3", "ud": "00"}, 3, 1, False),
        ({"type": "4", "href": "http://e.com"}, 4, 1, False),
        ({"type": "6", "text": "a" * 200, "maxconcat": "2"}, 10, 2, False),
    ],
)
def test_prices_over_http(
    client_for: ClientFor,
    fields: dict[str, str],
    cost: int,
    parts: int,
    truncated: bool,
) -> None:
    client = client_for(PRICED)
    assert send(client, **fields) == b"ID:10011000000000000001"
    message = stored(app_of(client), "10011000000000000001")
    assert (message.cost, message.parts, message.truncated) == (Decimal(cost), parts, truncated)
    assert credit(app_of(client)) == 1000 - cost


def test_truncated_text_is_what_is_stored(client: TestClient) -> None:
    send(client, text="b" * 200)
    message = stored(app_of(client), "10011000000000000001")
    assert message.text == "b" * 160


def test_cost_is_per_routable_recipient(client_for: ClientFor) -> None:
    client = client_for(PRICED)
    answer = client.post(
        SEND,
        data={**LOGIN, "to": "07700900121,07700900122,1", "text": "a" * 200, "maxconcat": "2"},
    )
    assert answer.content.count(b"ID:") == 2
    assert credit(app_of(client)) == 1000 - 2 * 2


def test_fractional_prices_are_exact(client_for: ClientFor) -> None:
    client = client_for(
        "version: 1\nprices: {sms_part: 0.1}\naccounts: [{username: demo, password: demo, credit: 0.3}]"
    )
    for expected in (
        b"ID:10011000000000000001",
        b"ID:10011000000000000002",
        b"ID:10011000000000000003",
    ):
        assert send(client, text="x") == expected
    assert send(client, text="x") == b"ERR:INSUFFICIENT_CREDIT"
    assert credit(app_of(client)) == Decimal(0)
