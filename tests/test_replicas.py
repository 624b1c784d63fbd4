"""Two `gateway-sim serve` replicas on one real PostgreSQL database answer as one gateway: the
ledger exact under concurrent sends through both, ids unique, the same listings on each, a
long-poll on one woken by a send on the other, top-ups and resets seen by both; a database of
another schema or a newer version refused before "listening on"."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import MMS
from tests.helpers import mms_body, next_event, read_events
from tests.helpers_processes import QUIET, run_cli, start, stop, wait_until

SEND = "/smsgateway/sendmsg.aspx"
DEMO = {"username": "demo", "password": "demo"}


@pytest.fixture
def replicas(pg_database: str) -> Iterator[tuple[str, str]]:
    """Two replicas on one fresh database, each on a free port; stopped after the test."""
    started: list[subprocess.Popen[str]] = []
    urls = []
    for _ in range(2):
        process, url = start(["--port", "0", "--db", pg_database, *QUIET])
        started.append(process)
        urls.append(url)
    yield urls[0], urls[1]
    for process in started:
        stop(process)


def send(url: str, to: str = "447700900123", text: str = "hi") -> str:
    answer = httpx.get(url + SEND, params={**DEMO, "to": to, "text": text}, timeout=10)
    assert answer.status_code == 200
    return answer.text


def balance(url: str) -> str:
    return httpx.get(url + "/smsgateway/getbalance.aspx", params=DEMO, timeout=10).text


def listed(url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(
        url + "/_sim/messages", params={"limit": 1000}, timeout=10
    ).json()["messages"]
    return found


def test_the_ledger_is_exact_under_eight_clients_alternating_between_replicas(
    replicas: tuple[str, str],
) -> None:
    """The default scenario's demo has 100 credits at 1 a text: of 8 clients sending 20 each through both
    replicas, exactly 100 are answered ID: (each id once), the rest ERR:INSUFFICIENT_CREDIT."""
    one, two = replicas

    def client(n: int) -> list[str]:
        with httpx.Client(timeout=10) as http:
            return [
                http.get(
                    (one, two)[(n + i) % 2] + SEND,
                    params={**DEMO, "to": "447700900123", "text": f"c{n} s{i}"},
                ).text
                for i in range(20)
            ]

    with ThreadPoolExecutor(8) as pool:
        answers = [answer for answers in pool.map(client, range(8)) for answer in answers]
    accepted = [answer for answer in answers if answer.startswith("ID:")]
    refused = [answer for answer in answers if not answer.startswith("ID:")]
    assert len(accepted) == 100
    assert set(refused) == {"ERR:INSUFFICIENT_CREDIT"}
    assert len(set(accepted)) == 100  # ids unique across the replicas
    assert balance(one) == balance(two) == "BALANCE:0"
    on_one, on_two = listed(one), listed(two)
    assert on_one == on_two

    def journal(url: str) -> list[dict[str, Any]]:
        found = httpx.get(url + "/_sim/requests", params={"limit": 1000}, timeout=10)
        entries: list[dict[str, Any]] = found.json()["requests"]
        return entries

    # an entry is written just after its answer (it holds the answer): within a moment
    wait_until(lambda: len(journal(one)) == 160 + 2)  # every send, and the two balances'
    assert journal(one) == journal(two)
    assert sorted("ID:" + message["id"] for message in on_one) == sorted(accepted)
    spent = sum(float(message["cost"]) for message in on_one)
    assert spent == 100


def test_ids_increase_across_replicas_in_the_order_they_are_taken(
    replicas: tuple[str, str],
) -> None:
    one, two = replicas
    ids = [send((one, two)[n % 2]).removeprefix("ID:") for n in range(6)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 6
    assert all(len(found) == 20 for found in ids)
    assert ids[0] == "10011000000000000001"  # the scenario's id_start, as with one process


def test_a_long_poll_on_one_replica_is_woken_by_a_send_on_the_other_within_a_second(
    replicas: tuple[str, str],
) -> None:
    one, two = replicas
    woken: dict[str, Any] = {}

    def wait() -> None:
        answer = httpx.get(
            two + "/_sim/messages/wait", params={"to": "447700900777", "timeout": 10}, timeout=15
        )
        woken.update(answer.json(), status=answer.status_code, at=time.monotonic())

    waiting = threading.Thread(target=wait)
    waiting.start()
    time.sleep(0.3)  # the wait is under way: it finds the message by being woken, not listing
    sent_at = time.monotonic()
    accepted = send(one, to="447700900777", text="across")
    waiting.join(timeout=12)
    assert woken["status"] == 200
    assert "ID:" + woken["message"]["id"] == accepted
    assert woken["message"]["text"] == "across"
    assert woken["at"] - sent_at < 1.0


def test_the_live_feed_of_one_replica_shows_what_the_other_accepted(
    replicas: tuple[str, str],
) -> None:
    one, two = replicas
    with httpx.Client(timeout=10) as http, http.stream("GET", two + "/_sim/events") as stream:
        events = read_events(stream)
        assert next(events) == ("hello", {})
        accepted = send(one, text="seen elsewhere")
        message = next_event(events, "message")
    assert "ID:" + str(message["id"]) == accepted
    assert message["text"] == "seen elsewhere"


def test_an_nth_rule_counts_the_requests_of_both_replicas(replicas: tuple[str, str]) -> None:
    one, two = replicas
    rule = {"name": "third", "match": {"nth": 3}, "action": {"error": "GATEWAY_ERROR"}}
    assert httpx.post(two + "/_sim/rules", json=rule, timeout=10).status_code == 201
    answers = [send((one, two)[n % 2], text=f"n{n}") for n in range(5)]
    assert [answer.startswith("ID:") for answer in answers] == [True, True, False, True, True]
    assert answers[2] == "ERR:GATEWAY_ERROR"


def test_a_rate_rule_counts_the_requests_of_both_replicas(replicas: tuple[str, str]) -> None:
    """More than 2 sends within a second, whichever replica takes them, fire the rule."""
    one, two = replicas
    rule = {"name": "busy", "match": {"rate": {"per_second": 2}}, "action": {"error": "NO_TO"}}
    assert httpx.post(one + "/_sim/rules", json=rule, timeout=10).status_code == 201
    started = time.monotonic()
    answers = [send((one, two)[n % 2], text=f"r{n}") for n in range(4)]
    assert time.monotonic() - started < 1.0, "too slow to stay within the rule's one second"
    assert [answer.startswith("ID:") for answer in answers] == [True, True, False, False]


def test_a_top_up_and_a_reset_on_one_replica_apply_to_both(replicas: tuple[str, str]) -> None:
    one, two = replicas
    assert send(one).startswith("ID:")
    assert balance(two) == "BALANCE:99"
    topped = httpx.post(one + "/_sim/accounts/demo/topup", json={"credit": "10"}, timeout=10)
    assert topped.status_code == 200
    assert balance(two) == "BALANCE:109"
    listed_accounts = httpx.get(two + "/_sim/accounts", timeout=10).json()["accounts"]
    assert [account["credit"] for account in listed_accounts] == ["109"]

    assert httpx.post(two + "/_sim/reset", timeout=10).status_code == 200
    assert listed(one) == []
    assert listed(two) == []
    assert balance(one) == "BALANCE:100"
    assert send(one) == "ID:10011000000000000001"  # the id sequence started over too


def test_a_database_of_another_schema_is_refused_in_one_line(pg_database: str) -> None:
    with psycopg.connect(pg_database, autocommit=True) as connection:
        connection.execute("CREATE TABLE invoices (id integer)")
    done = run_cli("serve", "--port", "0", "--db", pg_database, timeout=30)
    assert done.returncode == 1
    assert "listening on" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "it is not a gateway-sim database: it has the tables 'invoices'" in lines[0]


def test_a_database_of_a_newer_version_is_refused_in_one_line(pg_database: str) -> None:
    process, _ = start(["--port", "0", "--db", pg_database, *QUIET])  # makes the tables
    stop(process)
    with psycopg.connect(pg_database, autocommit=True) as connection:
        connection.execute("UPDATE gateway_sim_meta SET value = '99' WHERE key = 'schema_version'")
    done = run_cli("serve", "--port", "0", "--db", pg_database, timeout=30)
    assert done.returncode == 1
    assert "schema version 99, written by a newer gateway-sim" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_database_nobody_listens_at_is_one_line(unused_port_url: str) -> None:
    done = run_cli("serve", "--port", "0", "--db", unused_port_url, timeout=30)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "cannot connect" in done.stderr
    assert "secret" not in done.stderr  # the URL's password is not shown


@pytest.fixture
def unused_port_url() -> str:
    from tests.conftest import free_port

    return f"postgresql://someone:secret@127.0.0.1:{free_port()}/nothing"


def test_a_replica_whose_database_connection_is_lost_refuses_and_says_it_is_not_ready(
    replicas: tuple[str, str], pg_database: str
) -> None:
    """Its sends are ERR:INTERNAL_ERROR and nothing is charged, its control API 503, its
    readiness 503 (to be restarted); a replica started then sees the ledger whole."""
    one, _ = replicas
    assert send(one).startswith("ID:")
    name = pg_database.rsplit("/", 1)[1]
    with psycopg.connect(pg_database, autocommit=True) as connection:
        pids = [
            row[0]
            for row in connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s "
                "AND application_name = 'gateway-sim' AND pid <> pg_backend_pid()",
                (name,),
            ).fetchall()
        ]
        assert pids
        for pid in pids:  # every replica's connections: then start the second one again
            connection.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert send(one) == "ERR:INTERNAL_ERROR"
    listing = httpx.get(one + "/_sim/messages", timeout=10)
    assert listing.status_code == 503
    assert listing.json()["error"] == "store_unavailable"
    ready = httpx.get(one + "/_sim/ready", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["ready"] is False
    fresh, url = start(["--port", "0", "--db", pg_database, *QUIET])
    try:
        assert balance(url) == "BALANCE:99"  # the refused send cost nothing
        assert [message["text"] for message in listed(url)] == ["hi"]
        assert httpx.get(url + "/_sim/ready", timeout=10).json() == {"ready": True}
    finally:
        stop(fresh)


def test_the_retention_caps_hold_for_the_whole_database(pg_database: str) -> None:
    """The caps on PostgreSQL: about a second after the tables pass them, the oldest messages
    and journal entries are gone, and the oldest MMS parts lose their bytes but keep their
    description."""
    process, url = start(
        ["--port", "0", "--db", pg_database, "--max-journal-bytes", "20000",
         "--max-content-bytes", "3000", "--max-messages", "30", *QUIET]
    )  # fmt: skip
    try:
        for n in range(40):
            assert send(url, text="x" * 200 + str(n)).startswith("ID:")
        picture = [("card.png", "image/png", b"\x89PNG" + bytes(1996))]
        multipart = {"content-type": "multipart/form-data; boundary=XyZ"}
        mms = [
            httpx.post(url + MMS, content=mms_body(picture), headers=multipart, timeout=10).text
            for _ in range(3)
        ]
        assert all(answer.startswith("ID:") for answer in mms), mms

        def journal_bytes() -> int:
            with psycopg.connect(pg_database) as connection:
                row = connection.execute(
                    "SELECT COALESCE(SUM(octet_length(record) + octet_length(query) + "
                    "octet_length(body) + COALESCE(octet_length(text), 0) + "
                    "COALESCE(octet_length(recipients), 0) + 64), 0) FROM journal"
                ).fetchone()
            return int(row[0]) if row else 0

        wait_until(lambda: journal_bytes() <= 20000, 5)
        entries = httpx.get(url + "/_sim/requests", params={"limit": 1000}, timeout=10).json()
        assert 0 < len(entries["requests"]) < 43  # some of the 43 went, the newest stayed
        with psycopg.connect(pg_database) as connection:
            kept = connection.execute(
                "SELECT COUNT(*), COUNT(data) FROM parts JOIN messages ON seq = message_seq"
            ).fetchone()
        assert kept == (3, 1)  # 3 parts described, the newest one's 2,000 bytes kept
        wait_until(lambda: len(listed(url)) == 30, 5)  # of 43
    finally:
        stop(process)


def test_without_psycopg_a_database_url_is_one_line_saying_what_to_install(
    tmp_path: Path,
) -> None:
    """`make run` installs no `postgres` extra: a URL then names the extra, no traceback."""
    blocked = tmp_path / "psycopg"
    blocked.mkdir()
    (blocked / "__init__.py").write_text("raise ImportError('not here', name='psycopg')\n")
    done = run_cli(
        "serve", "--port", "0", "--db", "postgresql://someone@127.0.0.1:9/nothing",
        env={"PYTHONPATH": str(tmp_path)}, timeout=30,
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "pip install 'gateway-sim[postgres]'" in lines[0]
