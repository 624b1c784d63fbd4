"""The issue's headline: the default scenario answers the README's curl with the first id."""

from starlette.testclient import TestClient

from tests.conftest import SEND


def test_default_scenario_first_send_gets_first_id(client: TestClient) -> None:
    answer = client.post(
        SEND, data={"username": "demo", "password": "demo", "to": "07700900123", "text": "hi"}
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert answer.content == b"ID:10011000000000000001"
