"""A write that fails fails only the request that caused it: with `--db`, a send whose message
cannot be committed is answered `ERR:INTERNAL_ERROR` (on /api/json, `internal_error` 12) and its
debit given back, while the sends that shared its batch are kept. A trigger in the file refuses
the rows that make it fail (the schema check lets a user's triggers be)."""

from __future__ import annotations

import re
import sqlite3
import threading
from decimal import Decimal
from pathlib import Path

import httpx
import httpx2
from starlette.testclient import TestClient

from gateway_sim.domain.clock import ManualClock
from gateway_sim.domain.scenario import parse_scenario
from gateway_sim.server.app import create_app
from gateway_sim.store.store import Store
from tests.conftest import START
from tests.helpers_store import POISON
from tests.serving import served

SEND = "/smsgateway/sendmsg.aspx"
CREDIT = 1000
SCENARIO = f"""version: 1
accounts:
  - {{username: demo, password: demo, credit: {CREDIT}, daily_allowance: 500,
     access_keys: [{{accesskey: demo-access, secretkey: demo-secret}}]}}
"""


def poisoned(folder: Path) -> tuple[Path, Path]:
    """A scenario, and a database file whose trigger refuses every message whose text is
    'poison'."""
    scenario, db = folder / "s.yaml", folder / "sim.db"
    scenario.write_text(SCENARIO)
    with served("--db", str(db), "--scenario", str(scenario)):
        pass  # the file made by the simulator itself
    with sqlite3.connect(db) as connection:
        connection.execute(POISON)
    return scenario, db


def test_a_send_whose_commit_fails_alone_is_refused_and_refunded(tmp_path: Path) -> None:
    scenario, db = poisoned(tmp_path)
    answers: list[tuple[str, str]] = []
    lock = threading.Lock()

    def sender(n: int) -> None:
        with httpx.Client(timeout=30) as client:
            for i in range(15):
                text = "poison" if (n + i) % 3 == 0 else f"ok {n} {i}"
                answer = client.post(
                    url + SEND,
                    data={
                        "username": "demo",
                        "password": "demo",
                        "to": "07700900123",
                        "text": text,
                    },
                )
                with lock:
                    answers.append((text, answer.text))

    with served("--db", str(db), "--scenario", str(scenario)) as server:
        url = server.url
        threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        listed = {
            m["id"]: m for m in httpx.get(url + "/_sim/messages?limit=1000").json()["messages"]
        }
        credit = _credit(url)
        journal = httpx.get(url + "/_sim/requests?limit=1000").json()["requests"]
        logged = server.logged()
    poison = [answer for text, answer in answers if text == "poison"]
    ordinary = [answer for text, answer in answers if text != "poison"]
    assert len(poison) == 40
    assert len(ordinary) == 80
    assert set(poison) == {"ERR:INTERNAL_ERROR"}
    assert all(answer.startswith("ID:") for answer in ordinary)
    assert {answer.removeprefix("ID:") for answer in ordinary} == set(listed)
    assert all(m["text"] != "poison" for m in listed.values())
    spent = Decimal(CREDIT) - credit
    assert spent == sum(Decimal(m["cost"]) for m in listed.values()) == 80
    refused = [e for e in journal if e["answer"] == "ERR:INTERNAL_ERROR"]
    assert len(refused) == 40
    assert all(e["outcome"] == "refused" and e["message_id"] is None for e in refused)
    assert all("could not be stored; its cost was refunded" in e["reason"] for e in refused)
    errors = re.findall(
        r"could not store message (\d+) \(its cost is refunded\): IntegrityError: poisoned", logged
    )
    assert len(errors) == 40
    assert not set(errors) & set(listed)
    assert "Traceback" not in logged
    with served("--db", str(db), "--scenario", str(scenario)) as server:  # the refunds were saved
        assert _credit(server.url) == credit
        assert len(httpx.get(server.url + "/_sim/messages?limit=1000").json()["messages"]) == 80


def _credit(url: str) -> Decimal:
    accounts = httpx.get(url + "/_sim/accounts").json()["accounts"]
    return Decimal(next(a["credit"] for a in accounts if a["username"] == "demo"))


def test_on_api_json_the_failed_commit_is_internal_error_12_and_no_report_follows(
    tmp_path: Path,
) -> None:
    db = tmp_path / "sim.db"
    Store(str(db)).close()
    with sqlite3.connect(db) as connection:
        connection.execute(POISON)
    scenario = parse_scenario(SCENARIO + "settings: {report_step_seconds: 1}\n", source="<test>")
    app = create_app(scenario, clock=ManualClock(START), store=Store(str(db)))
    auth = {"authtype": "accesskey", "accesskey": "demo-access", "secretkey": "demo-secret"}

    def send(text: str) -> httpx2.Response:
        body = {
            "auth": auth,
            "message": {"to": "07700900123", "delrpt": True, "content": {"text": text}},
        }
        return client.post("/api/json/sendmsg.aspx", json=body)

    with TestClient(app, base_url="https://testserver") as client:
        answer = send("poison")
        assert answer.json() == {
            "response_status": "failure",
            "errors": [
                {
                    "error": "internal_error",
                    "error_code": 12,
                    "error_description": "message 10011000000000000001 could not be stored; its cost was refunded",
                }
            ],
        }
        [account] = client.get("/_sim/accounts").json()["accounts"]
        assert (account["credit"], account["daily_used"]) == (str(CREDIT), 0)
        assert client.get("/_sim/clock").json()["pending"] == 0  # no delivery report planned
        assert client.get("/_sim/messages").json()["messages"] == []
        kept = send("fine")
        assert kept.json()["messages"][0]["id"] == "10011000000000000002"
        assert client.get("/_sim/clock").json()["pending"] > 0  # its reports are due
        [account] = client.get("/_sim/accounts").json()["accounts"]
        assert (account["credit"], account["daily_used"]) == (str(CREDIT - 1), 1)
    app.close()
