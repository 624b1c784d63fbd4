"""README "What is simulated": parts, prices: every row of the error table, in the documented order of checks."""

from __future__ import annotations

from decimal import Decimal

import pytest
from starlette.testclient import TestClient

from gateway_sim.server.app import GatewayApp
from tests.conftest import SEND, ClientFor

LOGIN = {"username": "demo", "password": "demo"}
FIRST_ID = b"ID:10011000000000000001"


def send(client: TestClient, **fields: str) -> bytes:
    answer = client.post(SEND, data=fields)
    assert answer.status_code == 200
    return answer.content


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, b"ERR:NO_USERNAME"),
        (
            {"username": "", "password": "demo", "to": "07700900123", "text": "x"},
            b"ERR:NO_USERNAME",
        ),
        ({"username": "demo"}, b"ERR:NO_PASSWORD"),
        ({"username": "demo", "password": ""}, b"ERR:NO_PASSWORD"),
        ({"username": "demo", "password": "wrong", "to": "x"}, b"ERR:LOGIN_INVALID"),
        ({"username": "nobody", "password": "demo"}, b"ERR:LOGIN_INVALID"),
        ({**LOGIN}, b"ERR:NO_TO"),
        ({**LOGIN, "to": ""}, b"ERR:NO_TO"),
        ({**LOGIN, "to": " , ,"}, b"ERR:NO_TO"),
        ({**LOGIN, "to": "07700900123"}, b"ERR:NO_TEXT"),
        ({**LOGIN, "to": "07700900123", "text": ""}, b"ERR:NO_TEXT"),
        ({**LOGIN, "to": "07700900123", "type": "6"}, b"ERR:NO_TEXT"),
        ({**LOGIN, "to": "07700900123", "type": "7", "text": "x"}, b"ERR:INVALID_REQUEST"),
        ({**LOGIN, "to": "07700900123", "type": "abc", "text": "x"}, b"ERR:INVALID_REQUEST"),
        ({**LOGIN, "to": "07700900123", "type": "2"}, b"ERR:PARAMETER_MISSING"),
        ({**LOGIN, "to": "07700900123", "type": "2", "hex": "004"}, b"ERR:PARAMETER_INVALID"),
        ({**LOGIN, "to": "07700900123", "type": "2", "hex": "00480"}, b"ERR:PARAMETER_INVALID"),
        ({**LOGIN, "to": "07700900123", "type": "2", "hex": "00GG"}, b"ERR:PARAMETER_INVALID"),
        ({**LOGIN, "to": "07700900123", "type": "2", "hex": "004800"}, b"ERR:PARAMETER_INVALID"),
        ({**LOGIN, "to": "07700900123", "type": "3"}, b"ERR:PARAMETER_MISSING"),
        ({**LOGIN, "to": "07700900123", "type": "3", "ud": "ABC"}, b"ERR:PARAMETER_INVALID"),
        ({**LOGIN, "to": "07700900123", "type": "3", "ud": "ZZ"}, b"ERR:PARAMETER_INVALID"),
        (
            {**LOGIN, "to": "07700900123", "type": "3", "ud": "00", "udh": "0"},
            b"ERR:PARAMETER_INVALID",
        ),
        (
            {**LOGIN, "to": "07700900123", "type": "3", "udh": "06" * 10, "ud": "00" * 131},
            b"ERR:PARAMETER_INVALID",
        ),
        ({**LOGIN, "to": "07700900123", "type": "4"}, b"ERR:PARAMETER_MISSING"),
        ({**LOGIN, "to": "07700900123", "type": "4", "href": "ftp://x"}, b"ERR:PARAMETER_INVALID"),
        (
            {**LOGIN, "to": "07700900123", "type": "4", "href": "http://e.com/", "text": "x" * 102},
            b"ERR:INVALID_REQUEST",
        ),
        ({**LOGIN, "to": "07700900123", "text": "x", "maxconcat": "0"}, b"ERR:PARAMETER_INVALID"),
        ({**LOGIN, "to": "07700900123", "text": "x", "maxconcat": "11"}, b"ERR:PARAMETER_INVALID"),
        ({**LOGIN, "to": "07700900123", "text": "x", "maxconcat": "2.5"}, b"ERR:PARAMETER_INVALID"),
        ({**LOGIN, "to": "07700900123", "type": "5"}, b"ERR:INVALID_REQUEST"),
        ({**LOGIN, "to": ",".join(["07700900123"] * 101), "text": "x"}, b"ERR:TOO_MANY_NUMBERS"),
        ({**LOGIN, "to": "12", "text": "x"}, b"ERR:INVALID_NUMBER"),
        ({**LOGIN, "to": "447700900900", "text": "x"}, b"ERR:INVALID_NUMBER"),
    ],
)
def test_error_table(
    client: TestClient, app: GatewayApp, fields: dict[str, str], expected: bytes
) -> None:
    assert send(client, **fields) == expected
    assert len(app.store) == 0
    assert app.gateway.accounts.get("demo").credit == Decimal(100)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # Each check wins over every check after it, even when the later field is also bad.
        ({"password": "x", "to": "", "type": "9"}, b"ERR:NO_USERNAME"),
        ({"username": "demo", "to": "", "type": "9"}, b"ERR:NO_PASSWORD"),
        ({"username": "demo", "password": "bad", "to": "", "type": "9"}, b"ERR:LOGIN_INVALID"),
        ({**LOGIN, "to": "", "type": "9"}, b"ERR:NO_TO"),
        ({**LOGIN, "to": "12", "type": "9", "maxconcat": "99"}, b"ERR:INVALID_REQUEST"),
        ({**LOGIN, "to": "12", "maxconcat": "99"}, b"ERR:NO_TEXT"),
        ({**LOGIN, "to": "12", "type": "2", "maxconcat": "99"}, b"ERR:PARAMETER_MISSING"),
        (
            {**LOGIN, "to": "12", "type": "2", "hex": "0", "maxconcat": "99"},
            b"ERR:PARAMETER_INVALID",
        ),
        (
            {**LOGIN, "to": ",".join(["12"] * 101), "text": "x", "maxconcat": "0"},
            b"ERR:PARAMETER_INVALID",
        ),
        ({**LOGIN, "to": ",".join(["12"] * 101), "text": "x"}, b"ERR:TOO_MANY_NUMBERS"),
        ({**LOGIN, "to": "12", "text": "x" * 10_000, "maxconcat": "10"}, b"ERR:INVALID_NUMBER"),
    ],
)
def test_order_of_checks(client: TestClient, fields: dict[str, str], expected: bytes) -> None:
    assert send(client, **fields) == expected


def test_one_hundred_numbers_are_allowed_and_counted_before_deduplication(
    client: TestClient,
) -> None:
    assert send(client, **LOGIN, to=",".join(["07700900123"] * 100), text="x") == FIRST_ID
    many = ",".join(["07700900123"] * 101)
    assert send(client, **LOGIN, to=many + ",,,", text="x") == b"ERR:TOO_MANY_NUMBERS"


def test_insufficient_credit_charges_nothing_and_uses_no_id(client_for: ClientFor) -> None:
    client = client_for("version: 1\naccounts: [{username: demo, password: demo, credit: 2}]\n")
    three = "07700900121,07700900122,07700900123"
    assert send(client, **LOGIN, to=three, text="x") == b"ERR:INSUFFICIENT_CREDIT"
    assert send(client, **LOGIN, to="07700900121,07700900122", text="x") == (
        b"447700900121,ID:10011000000000000001\r\n447700900122,ID:10011000000000000001"
    )
    assert send(client, **LOGIN, to="07700900121", text="x") == b"ERR:INSUFFICIENT_CREDIT"
    assert client.get("/smsgateway/getbalance.aspx", params=LOGIN).content == b"BALANCE:0"


def test_credit_is_counted_only_for_routable_recipients(client_for: ClientFor) -> None:
    client = client_for(
        "version: 1\naccounts: [{username: demo, password: demo, credit: 1}]\n"
        "numbers: {unroutable: ['4477009009*']}"
    )
    assert send(client, **LOGIN, to="12,07700900123,447700900900", text="x") == (
        b"12,ERR:INVALID_NUMBER\r\n447700900123,ID:10011000000000000001\r\n"
        b"447700900900,ERR:INVALID_NUMBER"
    )


def test_all_invalid_recipients_get_lines_and_use_no_id(
    client: TestClient, app: GatewayApp
) -> None:
    assert send(client, **LOGIN, to="12, abc ,12", text="x") == (
        b"12,ERR:INVALID_NUMBER\r\nabc,ERR:INVALID_NUMBER"
    )
    assert len(app.store) == 0
    assert send(client, **LOGIN, to="07700900123", text="x") == FIRST_ID


def test_one_id_per_submission_shared_by_recipients(client: TestClient, app: GatewayApp) -> None:
    assert send(client, **LOGIN, to="07700900123,07700900124", text="x") == (
        b"447700900123,ID:10011000000000000001\r\n447700900124,ID:10011000000000000001"
    )
    assert send(client, **LOGIN, to="07700900125", text="x") == b"ID:10011000000000000002"
    first = app.store.get("10011000000000000001")
    assert first is not None
    assert first.recipients == ("447700900123", "447700900124")
    assert first.cost == Decimal(2)


def test_ids_are_zero_padded_to_twenty_digits(client_for: ClientFor) -> None:
    client = client_for(
        "version: 1\nsettings: {id_start: 42}\naccounts: [{username: demo, password: demo, credit: 5}]"
    )
    assert send(client, **LOGIN, to="07700900123", text="x") == b"ID:00000000000000000042"
    assert send(client, **LOGIN, to="07700900123", text="x") == b"ID:00000000000000000043"


def test_blank_sender_uses_account_default_and_given_sender_is_kept(
    client: TestClient, app: GatewayApp
) -> None:
    send(client, **LOGIN, to="07700900123", text="x")
    send(client, **{**LOGIN, "from": "MyShop"}, to="07700900123", text="x")
    first, second = list(app.store)
    assert first.sender == "447700900000"
    assert second.sender == "MyShop"


def test_record_keeps_what_was_accepted(client: TestClient, app: GatewayApp) -> None:
    send(
        client,
        **LOGIN,
        to="07700900123,12",
        text="hello",
        delrpt="1",
        usercontext="order-7",
    )
    (message,) = list(app.store)
    assert message.account == "demo"
    assert message.endpoint == SEND
    assert (message.type, message.kind, message.text) == (1, "text", "hello")
    assert message.recipients == ("447700900123",)
    assert message.rejected == ("12",)
    assert (message.parts, message.truncated, message.encoding) == (1, False, "gsm7")
    assert message.delivery_report is True
    assert message.user_context == "order-7"
    assert message.created_at.year == 2026


@pytest.mark.parametrize(
    ("fields", "kind", "cost"),
    [
        ({"type": "1", "text": "x"}, "text", 1),
        ({"type": "2", "hex": "00480069"}, "unicode", 1),
        ({"type": "3", "udh": "0605040B8423F0", "ud": "DEADBEEF"}, "binary", 1),
        ({"type": "4", "href": "https://example.com/x", "text": "see"}, "wap_push", 1),
        ({"type": "6", "text": "x"}, "voice", 1),
        ({"type": "3", "ud": "00" * 140}, "binary", 1),
        ({"type": "4", "href": "http://e.com/" + "a" * 101}, "wap_push", 1),
    ],
)
def test_each_type_is_accepted(
    client: TestClient, app: GatewayApp, fields: dict[str, str], kind: str, cost: int
) -> None:
    assert send(client, **LOGIN, to="07700900123", **fields) == FIRST_ID
    (message,) = list(app.store)
    assert message.kind == kind
    assert message.cost == cost


def test_maxconcat_is_ignored_for_binary_wap_and_mms(client: TestClient) -> None:
    assert send(client, **LOGIN, to="07700900123", type="3", ud="00", maxconcat="99") == FIRST_ID
    assert (
        send(client, **LOGIN, to="07700900123", type="4", href="http://e.com", maxconcat="x")
        == b"ID:10011000000000000002"
    )


def test_unicode_hex_is_decoded_either_case(client: TestClient, app: GatewayApp) -> None:
    send(client, **LOGIN, to="07700900123", type="2", hex="041F0440d83dde00")
    (message,) = list(app.store)
    assert message.text == "Пр😀"
    assert message.encoding == "ucs2"
