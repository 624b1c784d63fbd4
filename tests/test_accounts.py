"""README "What is simulated": balance, sub-accounts: balance and sub-accounts."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from gateway_sim.server.app import GatewayApp
from tests.conftest import BALANCE, SEND, SUBACCOUNT, ClientFor

LOGIN = {"username": "demo", "password": "demo"}
NEW = {"subacc_username": "child", "subacc_password": "Secret1"}


@pytest.mark.parametrize(
    "path", [BALANCE, "/smsgateway/getbalance/default.aspx", "/SMSGateway/GetBalance.ASPX"]
)
def test_balance_paths(client: TestClient, path: str) -> None:
    assert client.get(path, params=LOGIN).content == b"BALANCE:100"
    assert client.post(path, data=LOGIN).content == b"BALANCE:100"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, b"ERR:NO_USERNAME"),
        ({"username": "demo"}, b"ERR:NO_PASSWORD"),
        ({"username": "demo", "password": "x"}, b"ERR:LOGIN_INVALID"),
        ({"username": "DEMO", "password": "demo"}, b"BALANCE:100"),  # usernames: any case
        ({"username": "demo", "password": "DEMO"}, b"ERR:LOGIN_INVALID"),  # passwords: exact
    ],
)
def test_balance_errors(client: TestClient, fields: dict[str, str], expected: bytes) -> None:
    assert client.get(BALANCE, params=fields).content == expected


def test_balance_is_whole_credits_rounded_down(client_for: ClientFor) -> None:
    client = client_for(
        "version: 1\nprices: {sms_part: 0.5}\naccounts: [{username: demo, password: demo, credit: 100.9}]"
    )
    assert client.get(BALANCE, params=LOGIN).content == b"BALANCE:100"
    client.post(SEND, data={**LOGIN, "to": "07700900123", "text": "x"})
    assert client.get(BALANCE, params=LOGIN).content == b"BALANCE:100"
    client.post(SEND, data={**LOGIN, "to": "07700900123", "text": "x"})
    assert client.get(BALANCE, params=LOGIN).content == b"BALANCE:99"


def test_create_subaccount(client: TestClient, app: GatewayApp) -> None:
    answer = client.post(
        SUBACCOUNT,
        data={**LOGIN, **NEW, "subacc_service": "2", "subacc_email": "c@example.com", "x": "y"},
    )
    assert answer.content == b"OK:0"
    child = app.gateway.accounts.get("CHILD")
    assert child is not None
    assert child.parent == "demo"
    assert child.details == {"subacc_service": "2", "subacc_email": "c@example.com"}
    login = {"username": "child", "password": "Secret1"}
    assert client.get(BALANCE, params=login).content == b"BALANCE:0"
    assert client.post(SEND, data={**login, "to": "07700900123", "text": "x"}).content == (
        b"ERR:INSUFFICIENT_CREDIT"
    )


def test_subaccount_credit_setting(client_for: ClientFor) -> None:
    client = client_for(
        "version: 1\nsettings: {subaccount_credit: 12.7}\n"
        "accounts: [{username: demo, password: demo, credit: 1}]"
    )
    assert client.post(SUBACCOUNT, data={**LOGIN, **NEW}).content == b"OK:12"
    login = {"username": "child", "password": "Secret1"}
    assert client.post(SEND, data={**login, "to": "07700900123", "text": "x"}).content == (
        b"ID:10011000000000000001"
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({**NEW}, b"ERR:NO_USERNAME"),
        ({"username": "demo", **NEW}, b"ERR:NO_PASSWORD"),
        ({"username": "demo", "password": "no", **NEW}, b"ERR:LOGIN_INVALID"),
        ({**LOGIN, "subacc_username": "child"}, b"ERR:PARAMETER_MISSING"),
        ({**LOGIN, "subacc_password": "x"}, b"ERR:PARAMETER_MISSING"),
        ({**LOGIN, **NEW, "subacc_service": "two"}, b"ERR:PARAMETER_INVALID"),
        ({**LOGIN, "subacc_username": "Demo", "subacc_password": "x"}, b"ERR:ACCOUNT_EXISTS"),
    ],
)
def test_subaccount_errors(
    client: TestClient, app: GatewayApp, fields: dict[str, str], expected: bytes
) -> None:
    assert client.post(SUBACCOUNT, data=fields).content == expected
    assert app.gateway.accounts.get("child") is None
    assert app.gateway.accounts.get("demo").password == "demo"  # type: ignore[union-attr]


def test_existing_subaccount_is_refused_the_second_time(client: TestClient) -> None:
    assert client.post(SUBACCOUNT, data={**LOGIN, **NEW}).content == b"OK:0"
    again = {**LOGIN, "subacc_username": "CHILD", "subacc_password": "other"}
    assert client.post(SUBACCOUNT, data=again).content == b"ERR:ACCOUNT_EXISTS"
    assert client.get(BALANCE, params={"username": "child", "password": "Secret1"}).content == (
        b"BALANCE:0"
    )
