"""The SQLite store: retention caps, and a database file that survives restarts (real processes)."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from gateway_sim.control.views_records import RequestView
from gateway_sim.domain.clock import ManualClock
from gateway_sim.domain.records import RAW_LIMIT, Exchange, Message, StatusChange
from gateway_sim.domain.scenario import DEFAULT_SCENARIO, load_scenario
from gateway_sim.server.app import create_app
from gateway_sim.store.queries import ExchangeQuery, MessageQuery
from gateway_sim.store.store import FLUSH_DELAY, Retention, Store
from tests.conftest import MMS, SEND, START
from tests.helpers import LOGIN, message
from tests.helpers_processes import run_cli, start, stop


def app_with(retention: Retention) -> TestClient:
    app = create_app(
        load_scenario(DEFAULT_SCENARIO), clock=ManualClock(START), store=Store(retention=retention)
    )
    return TestClient(app)


def test_message_and_journal_caps_drop_the_oldest() -> None:
    with app_with(Retention(max_messages=3, max_journal=4)) as client:
        for n in range(6):
            client.post(SEND, data={**LOGIN, "to": "07700900123", "text": str(n)})
        texts = [m["text"] for m in client.get("/_sim/messages").json()["messages"]]
        assert texts == ["5", "4", "3"]
        assert len(client.get("/_sim/requests").json()["requests"]) == 4
        assert client.get("/_sim/messages/10011000000000000001").status_code == 404


def exchange(n: int, **changes: Any) -> Exchange:
    fields = {"username": "demo", "to": "07700900123", "text": str(n)}
    made = Exchange(START, "POST", SEND, "", fields, 6, 200, "ID:1", "accepted", "", "demo")
    return dataclasses.replace(made, **changes)


def written(store: Store) -> list[str]:
    """The texts of the messages SQLite holds now (without first writing what is pending)."""
    assert store._connection is not None
    rows = store._connection.execute("SELECT text FROM messages ORDER BY seq").fetchall()
    return [row[0] for row in rows]


def test_in_memory_plain_sends_are_written_when_the_traffic_pauses_or_at_a_read() -> None:
    async def traffic() -> None:
        store = Store(retention=Retention(max_messages=4))
        for n in range(3):
            store.add(message(n))
        store.batches._write_when_idle()  # the timer, while sends keep coming: nothing written
        assert written(store) == []
        store.batches._write_when_idle()  # a pause: all written
        assert written(store) == ["0", "1", "2"]
        for n in range(3, 9):
            store.add(message(n))
        assert written(store) == ["0", "1", "2"]
        found = store.messages(MessageQuery())  # a read writes first, within the cap
        assert [(seq, m.text) for seq, m in found] == [(9, "8"), (8, "7"), (7, "6"), (6, "5")]
        assert written(store) == ["5", "6", "7", "8"]
        store.add(message(9))
        await asyncio.sleep(FLUSH_DELAY * 3)  # the real timer, no traffic
        assert written(store) == ["6", "7", "8", "9"]
        store.close()

    asyncio.run(traffic())


@pytest.mark.parametrize("path", [":memory:", "file"])
def test_every_observer_is_handed_what_was_given_in_the_order_it_came(
    path: str, tmp_path: Path
) -> None:
    """One observer list for metrics, logs and the feed: each is handed messages, journal
    entries and status steps interleaved as they came, and a removed one nothing more."""
    store = Store(str(tmp_path / "sim.db") if path == "file" else path)
    first: list[object] = []
    second: list[object] = []
    store.observers.extend([first.extend, second.extend])
    sent, asked = message(1), exchange(1)
    step = StatusChange(sent.id, "447700900123", 2, START)
    store.add(sent)
    store.record(asked)
    store.add_status(step)
    store.flush()
    assert [type(record).__name__ for record in first] == ["Message", "Exchange", "StatusChange"]
    assert first[0] is sent
    assert first[2] is step
    assert second == first
    store.observers.remove(second.extend)
    store.add(message(2))
    store.flush()
    assert [r.text for r in first if isinstance(r, Message)] == ["1", "2"]
    assert len(second) == 3
    store.close()


def test_in_memory_journal_numbers_every_exchange_and_keeps_the_newest() -> None:
    store = Store(retention=Retention(max_journal=3))
    for n in range(5):
        store.record(exchange(n))
    found = store.exchanges(ExchangeQuery())
    assert [(seq, e.fields["text"]) for seq, e in found] == [(5, "4"), (4, "3"), (3, "2")]
    store.clear(journal=True)
    assert store.exchanges(ExchangeQuery()) == []
    store.record(exchange(5, body=b"x" * (RAW_LIMIT + 1)))
    [(seq, kept)] = store.exchanges(ExchangeQuery())
    assert (seq, kept.body) == (6, b"x" * RAW_LIMIT)
    store.close()


def test_in_memory_journal_parses_a_form_again_instead_of_keeping_its_fields() -> None:
    with app_with(Retention()) as client:
        client.post(
            SEND + "?to=07700900999&From=Shop",
            content="username=demo&password=demo-pass&TO=07700900123&text=caf%E9+%26+tea",
            headers={"content-type": "application/x-www-form-urlencoded; charset=windows-1252"},
        )
        store = client.app.store  # type: ignore[attr-defined]
        [(_, kept)] = store.exchanges(ExchangeQuery())
        assert kept.parsed is None  # nothing but the raw bytes and the Content-Type is held
        assert kept.fields == {
            "to": "07700900123",  # the body wins over the query string
            "from": "Shop",
            "username": "demo",
            "password": "demo-pass",
            "text": "caf\u00e9 & tea",  # in the charset the request named
        }
        shown = client.get("/_sim/requests").json()["requests"][0]["fields"]
        assert shown == {**kept.fields, "password": "***"}


def test_in_memory_journal_keeps_the_fields_when_it_cuts_the_raw_body() -> None:
    many = ",".join(f"0770090{n:04d}" for n in range(RAW_LIMIT // 11 + 10))
    with app_with(Retention()) as client:
        client.post(SEND, data={**LOGIN, "to": many, "text": "hi"})
        [(_, kept)] = client.app.store.exchanges(ExchangeQuery())  # type: ignore[attr-defined]
        assert len(kept.body) == RAW_LIMIT
        assert kept.fields["to"] == many


QUERIES = [
    ExchangeQuery(),
    ExchangeQuery(account="DEMO"),
    ExchangeQuery(account="other"),
    ExchangeQuery(account="\u00c9mile"),
    ExchangeQuery(sender="447700900000"),
    ExchangeQuery(type="2"),
    ExchangeQuery(outcome="refused"),
    ExchangeQuery(path="/smsgateway/sendmsg.aspx"),
    ExchangeQuery(path="/smsgateway/getbalance.aspx"),
    ExchangeQuery(to="900123"),
    ExchangeQuery(to="447700900999"),
    ExchangeQuery(text="1"),
    ExchangeQuery(since=START.timestamp() + 3),
    ExchangeQuery(limit=2),
    ExchangeQuery(limit=2, cursor=5),
    ExchangeQuery(account="demo", text="1", limit=1),
]


def test_in_memory_journal_finds_what_the_database_journal_finds(tmp_path: Path) -> None:
    sent = [
        exchange(0),
        exchange(1, account="DeMo", path="/SMSGateway/SendMsg.aspx"),
        exchange(2, account=None, parsed={"text": "no login"}, outcome="refused"),
        exchange(3, account="\u00e9mile", parsed={"username": "\u00e9mile", "type": "2"}),
        exchange(4, parsed={"from": "447700900000", "to": "447700900999,07700900123"}),
        exchange(5, path="/smsgateway/getbalance.aspx", outcome="answered"),
        exchange(6, at=START + timedelta(seconds=5), parsed={"text": "late 1"}),
        exchange(11, account="other"),
    ]
    memory, database = Store(), Store(str(tmp_path / "journal.db"))
    for one in sent:
        memory.record(one)
        database.record(one)
    for query in QUERIES:
        expected = [(seq, RequestView.of(e).shown()) for seq, e in database.exchanges(query)]
        assert [
            (seq, RequestView.of(e).shown()) for seq, e in memory.exchanges(query)
        ] == expected, query
    memory.close()
    database.close()


def mms(client: TestClient, data: bytes) -> str:
    body = (
        b'--B\r\nContent-Disposition: form-data; name="username"\r\n\r\ndemo\r\n'
        b'--B\r\nContent-Disposition: form-data; name="password"\r\n\r\ndemo\r\n'
        b'--B\r\nContent-Disposition: form-data; name="to"\r\n\r\n07700900123\r\n'
        b'--B\r\nContent-Disposition: form-data; name="type"\r\n\r\n5\r\n'
        b'--B\r\nContent-Disposition: form-data; filename="f.bin"\r\n\r\n' + data + b"\r\n--B--\r\n"
    )
    return client.post(
        MMS, content=body, headers={"content-type": "multipart/form-data; boundary=B"}
    ).text


def test_content_cap_drops_the_oldest_bytes_but_keeps_the_description() -> None:
    with app_with(Retention(max_content_bytes=2500)) as client:
        for n in range(3):
            assert mms(client, bytes([n]) * 1000).startswith("ID:")
        oldest = client.get("/_sim/messages/10011000000000000001").json()
        assert oldest["content"] == [
            {
                "n": 0,
                "filename": "f.bin",
                "content_type": "application/octet-stream",
                "size": None,
                "dropped": True,
            }
        ]
        gone = client.get("/_sim/messages/10011000000000000001/parts/0")
        assert gone.status_code == 410
        assert gone.json()["error"] == "dropped"
        assert client.get("/_sim/messages/10011000000000000003/parts/0").content == b"\x02" * 1000
        assert client.get("/_sim/messages/10011000000000000002/parts/0").content == b"\x01" * 1000


def test_database_file_keeps_messages_credit_ids_and_accounts_across_restarts(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "sim.db")
    process, url = start(["--port", "0", "--db", db])
    try:
        assert httpx.post(url + SEND, data={**LOGIN, "to": "07700900123", "text": "one"}).text == (
            "ID:10011000000000000001"
        )
        httpx.put(url + "/_sim/accounts/kept", json={"password": "k", "credit": 7})
    finally:
        stop(process)
    process, url = start(["--port", "0", "--db", db])
    try:
        assert httpx.get(url + "/smsgateway/getbalance.aspx", params=LOGIN).text == "BALANCE:99"
        assert httpx.get(
            url + "/smsgateway/getbalance.aspx", params={"username": "kept", "password": "k"}
        ).text == ("BALANCE:7")
        assert httpx.get(url + "/_sim/messages/10011000000000000001").json()["text"] == "one"
        journal = httpx.get(url + "/_sim/requests?outcome=accepted").json()["requests"]
        assert journal[0]["answer"] == "ID:10011000000000000001"
        assert httpx.post(url + SEND, data={**LOGIN, "to": "07700900123", "text": "two"}).text == (
            "ID:10011000000000000002"
        )
        httpx.post(url + "/_sim/reset")
    finally:
        stop(process, signal.SIGINT)
    process, url = start(["--port", "0", "--db", db])
    try:  # a reset is kept too: back to the scenario
        assert httpx.get(url + "/smsgateway/getbalance.aspx", params=LOGIN).text == "BALANCE:100"
        assert httpx.get(url + "/_sim/messages").json()["messages"] == []
    finally:
        stop(process)


def test_unusable_database_path_is_reported(tmp_path: Path) -> None:
    result = run_cli(
        "serve", "--port", "0", "--db", str(tmp_path / "no" / "such" / "dir.db"), timeout=30
    )
    assert result.returncode == 1
    assert "cannot open the database" in result.stderr


def test_retention_flags_and_their_environment_twins(tmp_path: Path) -> None:
    process, url = start(["--port", "0", "--max-journal", "3"], {"GATEWAY_SIM_MAX_MESSAGES": "2"})
    try:
        for n in range(4):
            httpx.post(url + SEND, data={**LOGIN, "to": "07700900123", "text": str(n)})
        assert len(httpx.get(url + "/_sim/messages").json()["messages"]) == 2
        assert len(httpx.get(url + "/_sim/requests").json()["requests"]) == 3
    finally:
        stop(process)
    bad = run_cli("serve", "--max-messages", "0", timeout=30)
    assert bad.returncode == 2
    assert "must be a whole number of 1 or more, not '0'" in bad.stderr


def test_control_token_flag(tmp_path: Path) -> None:
    process, url = start(["--port", "0"], {"GATEWAY_SIM_CONTROL_TOKEN": "t0k"})
    try:
        assert httpx.get(url + "/_sim/health").status_code == 401
        assert (
            httpx.get(url + "/_sim/health", headers={"authorization": "Bearer t0k"}).status_code
            == 200
        )
        assert httpx.get(url + "/smsgateway/getbalance.aspx", params=LOGIN).text == "BALANCE:100"
    finally:
        stop(process)
