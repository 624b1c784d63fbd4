"""`POST /_sim/accounts/{username}/topup`: credit added in one step, with 4xx for bad bodies."""

from __future__ import annotations

from decimal import Decimal

import pytest
from starlette.testclient import TestClient

from tests.conftest import BALANCE, SEND, app_of, credit

TOP_UP = "/_sim/accounts/demo/topup"


def test_top_up_adds_to_the_balance_the_gateway_answers(client: TestClient) -> None:
    answer = client.post(TOP_UP, json={"credit": "2.5"})
    assert answer.status_code == 200
    assert answer.json()["credit"] == "102.5"
    assert client.post(TOP_UP, json={"credit": 1}).json()["balance"] == 103
    login = {"username": "demo", "password": "demo"}
    assert client.get(BALANCE, params=login).text == "BALANCE:103"
    assert client.post(SEND, data={**login, "to": "07700900123", "text": "x"}).text.startswith(
        "ID:"
    )
    assert credit(app_of(client)) == Decimal("102.5")


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"credit": 0}, 422, "invalid_top_up"),
        ({"credit": "-1"}, 422, "invalid_top_up"),
        ({"credit": "lots"}, 422, "invalid_top_up"),
        ({}, 422, "invalid_top_up"),
        ({"credit": 1, "extra": 1}, 422, "invalid_top_up"),
        ([1], 400, "bad_json"),
    ],
)
def test_bad_top_ups_are_refused_and_nothing_changes(
    client: TestClient, body: object, status: int, error: str
) -> None:
    answer = client.post(TOP_UP, json=body)
    assert answer.status_code == status
    assert answer.json()["error"] == error
    assert credit(app_of(client)) == Decimal(100)


def test_top_up_of_an_unknown_account_is_404(client: TestClient) -> None:
    answer = client.post("/_sim/accounts/nobody/topup", json={"credit": 1})
    assert answer.status_code == 404
    assert "nobody" in answer.json()["detail"]
