"""`POST /_sim/accounts/{username}/reset`: one account back to its start (messages sent and
received, journal, callbacks, credit), every other account untouched; 404 for an unknown one,
403 from a page of another origin. In memory and with a database file."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway_sim.domain.clock import ManualClock
from gateway_sim.domain.scenario import parse_scenario
from gateway_sim.server.app import create_app
from gateway_sim.store.store import Store
from tests.conftest import SEND, START, SUBACCOUNT, app_of, credit

SCENARIO = """
version: 1
settings: {subaccount_credit: 3}
accounts:
  - {username: alice, password: pw-a, credit: 10, status_url: "http://127.0.0.1:9/status"}
  - {username: bob, password: pw-b, credit: 20}
"""
ALICE = {"username": "alice", "password": "pw-a"}
BOB = {"username": "bob", "password": "pw-b"}


@pytest.fixture(params=["memory", "file"])
def sim(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """The two-account simulator, its store in memory or in a database file."""
    path = ":memory:" if request.param == "memory" else str(tmp_path / "sim.db")
    scenario = parse_scenario(SCENARIO, source="<test>")
    app = create_app(scenario, clock=ManualClock(START), store=Store(path))
    with TestClient(app) as client:
        yield client
    app.close()


def send(client: TestClient, login: dict[str, str], text: str, **more: str) -> str:
    answer = client.post(SEND, data={**login, "to": "07700900123", "text": text, **more}).text
    assert answer.startswith("ID:"), answer
    return answer.removeprefix("ID:").strip()


def texts(client: TestClient, account: str) -> set[str]:
    items = client.get("/_sim/messages", params={"account": account}).json()["messages"]
    return {item["text"] for item in items}


def journal(client: TestClient, account: str) -> list[tuple[int, str]]:
    items = client.get("/_sim/requests", params={"account": account}).json()["requests"]
    return [(item["seq"], item["path"]) for item in items]


def test_a_reset_forgets_one_account_and_leaves_the_other(sim: TestClient) -> None:
    send(sim, ALICE, "a1", delrpt="1")
    send(sim, BOB, "b1")
    send(sim, ALICE, "a2")
    inbound = {"account": "alice", "from": "447700900555", "text": "a-in"}
    assert sim.post("/_sim/inbound", json=inbound).status_code == 201
    sim.post("/_sim/inbound", json={**inbound, "account": "bob", "text": "b-in"})
    sim.post(SEND, data={**ALICE, "to": "07700900123"})  # refused: no text
    sim.post("/_sim/clock/advance", json={"seconds": 1})  # alice's first report, posted
    assert sim.get("/_sim/callbacks", params={"account": "alice"}).json()["callbacks"]
    bob_journal = journal(sim, "bob")
    assert credit(app_of(sim), "alice") < 10
    assert credit(app_of(sim), "bob") < 20
    bob_credit = credit(app_of(sim), "bob")

    answer = sim.post("/_sim/accounts/ALICE/reset")  # usernames ignore case

    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "reset"
    assert body["deleted"] == 3  # two sent, one received
    assert body["account"]["username"] == "alice"
    assert body["account"]["credit"] == "10"
    assert texts(sim, "alice") == set()
    assert journal(sim, "alice") == []
    assert credit(app_of(sim), "alice") == Decimal(10)
    assert texts(sim, "bob") == {"b1", "b-in"}
    assert journal(sim, "bob") == bob_journal  # numbers kept too
    assert credit(app_of(sim), "bob") == bob_credit
    # the report steps and callback retries planned for alice's message are dropped
    sim.post("/_sim/clock/advance", json={"seconds": 3600})
    assert sim.get("/_sim/callbacks", params={"account": "alice"}).json()["callbacks"] == []
    # and alice carries on: ids go on increasing, her journal starts anew
    after = send(sim, ALICE, "a3")
    assert texts(sim, "alice") == {"a3"}
    assert int(after) > max(
        int(item["id"]) for item in sim.get("/_sim/messages").json()["messages"][1:]
    )
    assert [path for _, path in journal(sim, "alice")] == [SEND]


def test_an_account_made_by_the_api_and_a_sub_account_get_their_starting_credit(
    sim: TestClient,
) -> None:
    made = sim.put("/_sim/accounts/carol", json={"password": "pw-c", "credit": "7.5"})
    assert made.status_code == 201
    sim.put("/_sim/accounts/carol", json={"credit": "1"})  # a change is not a new start
    created = sim.post(
        SUBACCOUNT, data={**BOB, "subacc_username": "dave", "subacc_password": "pw-d"}
    )
    assert created.status_code == 200
    send(sim, {"username": "dave", "password": "pw-d"}, "d1")
    assert credit(app_of(sim), "dave") < 3

    carol = sim.post("/_sim/accounts/carol/reset").json()["account"]
    dave = sim.post("/_sim/accounts/dave/reset").json()

    assert carol["credit"] == "7.5"
    assert dave["deleted"] == 1
    assert dave["account"]["credit"] == "3"
    assert texts(sim, "bob") == set()


def test_a_reset_after_a_restart_from_the_file_keeps_the_starting_credit(tmp_path: Path) -> None:
    path = str(tmp_path / "sim.db")
    scenario = parse_scenario(SCENARIO, source="<test>")
    first = create_app(scenario, clock=ManualClock(START), store=Store(path))
    with TestClient(first) as client:
        client.put("/_sim/accounts/carol", json={"password": "pw-c", "credit": "7.5"})
        send(client, {"username": "carol", "password": "pw-c"}, "c1")
    first.close()
    second = create_app(scenario, clock=ManualClock(START), store=Store(path))
    with TestClient(second) as client:
        assert credit(second, "carol") < Decimal("7.5")
        answer = client.post("/_sim/accounts/carol/reset").json()
        assert (answer["deleted"], answer["account"]["credit"]) == (1, "7.5")
    second.close()


def test_an_unknown_account_is_404_and_nothing_changes(sim: TestClient) -> None:
    send(sim, BOB, "b1")
    answer = sim.post("/_sim/accounts/nobody/reset")
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"
    assert "nobody" in answer.json()["detail"]
    assert texts(sim, "bob") == {"b1"}


def test_a_page_of_another_origin_cannot_reset_an_account(sim: TestClient) -> None:
    send(sim, ALICE, "a1")
    answer = sim.post("/_sim/accounts/alice/reset", headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403
    assert answer.json()["error"] == "cross_origin"
    assert texts(sim, "alice") == {"a1"}
    assert credit(app_of(sim), "alice") < 10
