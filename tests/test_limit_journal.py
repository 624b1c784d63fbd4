"""The request journal's byte bounds: each entry keeps at most `--max-journal-body-bytes` of what a
client sent (its full size recorded), and the journal as a whole at most `--max-journal-bytes`,
the oldest dropped first; in memory, in a database file, and in a real process's memory."""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

from gateway_sim.control.views_records import RequestView
from gateway_sim.domain.clock import ManualClock
from gateway_sim.domain.records import Exchange
from gateway_sim.domain.scenario import DEFAULT_SCENARIO, load_scenario
from gateway_sim.server.app import create_app
from gateway_sim.store.entries import Entries, entry_bytes
from gateway_sim.store.queries import ExchangeQuery
from gateway_sim.store.retention import ROW_BYTES
from gateway_sim.store.store import Retention, Store
from tests.conftest import SEND, START, start_serve

WRONG = {"username": "demo", "password": "wrong", "to": "447700900123"}
MIB = 1024 * 1024


def app_with(store: Store) -> TestClient:
    scenario = load_scenario(DEFAULT_SCENARIO)
    return TestClient(create_app(scenario, clock=ManualClock(START), store=store))


def entries(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get("/_sim/requests", params=params).json()["requests"]
    return found


def test_a_body_over_the_cap_is_kept_cut_with_its_full_size() -> None:
    store = Store(retention=Retention(max_journal_body_bytes=1000))
    with app_with(store) as client:
        text = "".join(f"{n:05d}," for n in range(1000))  # 6,000 characters, each place distinct
        client.post(SEND, data={**WRONG, "text": text})
        client.post(SEND, data={**WRONG, "text": "short"})
        short, cut = entries(client)
    body = f"username=demo&password=wrong&to=447700900123&text={text.replace(',', '%2C')}"
    assert cut["body_size"] == len(body)
    assert cut["body_truncated"] is True
    assert cut["raw_body"] == body[:1000].replace("password=wrong", "password=***")
    assert cut["query_size"] == 0
    assert cut["query_truncated"] is False
    # the fields are kept parsed, at most about twice the cap in all: the long text gives way
    assert cut["fields_truncated"] is True
    assert cut["fields"]["to"] == "447700900123"
    assert cut["fields"]["password"] == "***"
    assert 1000 < len(cut["fields"]["text"]) < 2000
    assert text.startswith(cut["fields"]["text"])
    assert (cut["answer"], cut["answer_truncated"]) == ("ERR:LOGIN_INVALID", False)
    assert cut["outcome"] == "refused"
    assert (short["body_truncated"], short["fields_truncated"]) == (False, False)
    assert short["fields"]["text"] == "short"
    assert short["body_size"] == len(short["raw_body"].replace("***", "wrong"))


def test_a_query_over_the_cap_is_kept_cut_with_its_full_size() -> None:
    store = Store(retention=Retention(max_journal_body_bytes=500))
    with app_with(store) as client:
        query = {**WRONG, "text": "q" * 2000}
        client.get(SEND, params=query)
        [cut] = entries(client)
    assert (cut["query_size"], cut["query_truncated"]) == (len(str(httpx.QueryParams(query))), True)
    assert len(cut["raw_query"]) == 500 - len("wrong") + len("***")
    assert (cut["body_size"], cut["body_truncated"]) == (0, False)
    # the fields share twice the cap: the names first, the other values whole
    others = sum(map(len, query)) + len("demowrong447700900123")
    assert cut["fields"]["text"] == "q" * (2 * 500 - others)


def test_a_secret_cut_in_two_is_still_masked() -> None:
    store = Store(retention=Retention(max_journal_body_bytes=40))
    secret = b'{"auth": {"secretkey": "s3cr3t-s3cr3t-s3cr3t-s3cr3t"}}'
    store.record(exchange(0, body=secret, body_size=len(secret), content_type="application/json"))
    [(_, kept)] = store.exchanges(ExchangeQuery())
    assert kept.body == secret[:40]
    assert RequestView.of(kept).shown()["raw_body"] == '{"auth": {"secretkey": "***"'
    store.close()


def test_the_byte_cap_drops_the_oldest_entries_in_memory() -> None:
    cap = 60_000  # about ten entries of a 2,000-byte body and a 3,000-character text
    store = Store(retention=Retention(max_journal_bytes=cap, max_journal_body_bytes=2000))
    with app_with(store) as client:
        for n in range(60):
            client.post(SEND, data={**WRONG, "text": f"{n:02d}" + "x" * 3000})
        kept = store.exchanges(ExchangeQuery(limit=1000))
        assert 5 < len(kept) < 20
        assert [seq for seq, _ in kept] == list(range(60, 60 - len(kept), -1))
        assert [e.fields["text"][:2] for _, e in kept] == [f"{seq - 1:02d}" for seq, _ in kept]
        assert sum(entry_bytes(e) for _, e in kept) <= cap
        assert all(len(e.body) == 2000 for _, e in kept)  # each entry cut as well
        client.post(SEND, data={**WRONG, "text": "last"})
        assert entries(client, limit=1)[0]["fields"]["text"] == "last"


def exchange(n: int, **changes: Any) -> Exchange:
    made = Exchange(
        START,
        "POST",
        SEND,
        "",
        {"username": "demo", "text": str(n)},
        0,
        200,
        "ERR:X",
        "refused",
        "",
    )
    for name, value in changes.items():
        setattr(made, name, value)
    return made


def test_entries_keep_the_newest_even_alone_over_the_cap() -> None:
    small, big = exchange(1), exchange(2, body=b"b" * 10_000, body_size=10_000)
    held = Entries(count=10, max_bytes=entry_bytes(small) * 3)
    for _ in range(3):
        assert held.append(small, entry_bytes(small)) == 0
    assert held.append(small, entry_bytes(small)) == 1  # over the bytes: the first goes
    assert held.append(big, entry_bytes(big)) == 3  # alone over the cap, yet kept: the newest
    assert list(held.items) == [big]
    assert held.bytes == entry_bytes(big)


def journal_rows(path: Path) -> tuple[list[int], int]:
    with sqlite3.connect(path) as db:
        seqs = [row[0] for row in db.execute("SELECT seq FROM journal ORDER BY seq")]
        (total,) = db.execute(f"SELECT COALESCE(SUM({ROW_BYTES}), 0) FROM journal").fetchone()
    return seqs, int(total)


def test_the_byte_cap_holds_a_database_file_across_restarts(tmp_path: Path) -> None:
    path, cap = tmp_path / "journal.db", 30_000
    retention = Retention(max_journal_bytes=cap, max_journal_body_bytes=1000)
    store = Store(str(path), retention)
    big = b"text=" + b"y" * 5000
    for n in range(40):
        store.record(exchange(n, body=big, body_size=len(big)))
    seqs, total = journal_rows(path)
    assert 5 < len(seqs) < 40
    assert seqs == list(range(41 - len(seqs), 41))
    assert total <= cap
    [(seq, newest)] = store.exchanges(ExchangeQuery(limit=1))
    shown = RequestView.of(newest).shown()
    assert (seq, shown["body_size"], shown["body_truncated"]) == (40, len(big), True)
    assert len(newest.body) == 1000
    store.close()
    again = Store(str(path), retention)  # what the file holds is counted at opening
    for n in range(40, 50):
        again.record(exchange(n, body=big, body_size=len(big)))
    seqs, total = journal_rows(path)
    assert seqs[-1] == 50
    assert total <= cap
    again.close()


def test_a_cut_entry_reads_the_same_from_memory_and_from_a_database_file(tmp_path: Path) -> None:
    retention = Retention(max_journal_body_bytes=100)
    memory, database = Store(retention=retention), Store(str(tmp_path / "j.db"), retention)
    sent = [
        exchange(0, body=b"text=" + b"z" * 300, body_size=305, parsed={"text": "z" * 300}),
        exchange(1, query=b"to=" + b"4" * 200, parsed={"to": "4" * 200}, answer="A" * 150),
        exchange(2),
    ]
    for one in sent:
        memory.record(one)
        database.record(one)
    from_memory = [(seq, RequestView.of(e).shown()) for seq, e in memory.exchanges(ExchangeQuery())]
    assert [
        (seq, RequestView.of(e).shown()) for seq, e in database.exchanges(ExchangeQuery())
    ] == from_memory
    flags = [
        {k: v for k, v in shown.items() if k.endswith(("_truncated", "_size"))}
        for _, shown in from_memory
    ]
    assert flags == [
        {"body_size": 0, "body_truncated": False, "query_size": 0, "query_truncated": False}
        | {"fields_truncated": False, "answer_truncated": False},
        {"body_size": 0, "body_truncated": False, "query_size": 203, "query_truncated": True}
        | {"fields_truncated": True, "answer_truncated": True},
        {"body_size": 305, "body_truncated": True, "query_size": 0, "query_truncated": False}
        | {"fields_truncated": True, "answer_truncated": False},
    ]
    memory.close()
    database.close()


def rss(pid: int) -> int:
    """The process's resident memory in bytes (VmRSS of /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


SENDS, CONNECTIONS = 5_000, 4
TEXT_BODY = b"username=demo&password=wrong&to=447700900123&text=" + b"x" * 60_000


def refused_sends(url: str, count: int) -> None:
    """`count` sends with a wrong password and a 60 KB text, over one keep-alive connection."""
    headers = {"content-type": "application/x-www-form-urlencoded"}
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(count):
            answer = client.post(SEND, content=TEXT_BODY, headers=headers)
            assert answer.text.startswith("ERR:LOGIN_INVALID"), answer.text


def test_refused_sends_of_60_kb_leave_the_process_memory_bounded() -> None:
    """5,000 refused sends of 60 KB (300 MB of bodies) over real sockets: within the default
    caps the server's memory grows by a 64 MiB journal and change, not by every body sent."""
    command = [str(Path(sys.executable).parent / "gateway-sim"), "serve", "--port", "0"]
    process, url = start_serve([*command, "--log-level", "warning"])
    try:
        refused_sends(url, 50)  # the server's own first allocations, before the measure
        before = rss(process.pid)
        started = time.monotonic()
        share = SENDS // CONNECTIONS
        workers = [
            threading.Thread(target=refused_sends, args=(url, share)) for _ in range(CONNECTIONS)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert time.monotonic() - started < 50
        assert not any(worker.is_alive() for worker in workers)
        grown = rss(process.pid) - before
        [newest] = httpx.get(f"{url}/_sim/requests?limit=1").json()["requests"]
    finally:
        process.terminate()
        process.communicate(timeout=10)
    print(f"RSS grew by {grown / MIB:.0f} MiB")
    assert grown <= 150 * 1000 * 1000, f"RSS grew by {grown / MIB:.0f} MiB"
    assert (newest["body_size"], newest["body_truncated"]) == (len(TEXT_BODY), True)
