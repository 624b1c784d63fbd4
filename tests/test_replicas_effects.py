"""What two replicas on one real PostgreSQL database do besides the ledger: a `times` rule fires
that many times across both, a rule deleted on one is gone on the other, a scenario load and a
manual clock's move on one apply to both, delivery reports are posted exactly once each for
messages accepted by either, and `kill -9` of one replica under load loses nothing answered
`ID:` while the other delivers the callbacks the dead one held (a report step not yet due when a
replica dies is not among them: README, replicas on PostgreSQL)."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.helpers_callbacks import Receiver
from tests.helpers_processes import QUIET, start, stop, wait_until

SEND = "/smsgateway/sendmsg.aspx"
DEMO = {"username": "demo", "password": "demo"}


class Replicas:
    """Replicas started on one database with the same arguments; stopped at the end."""

    def __init__(self, db: str, args: list[str]) -> None:
        self.db, self.args = db, args
        self.processes: list[subprocess.Popen[str]] = []
        self.urls: list[str] = []

    def start(self) -> str:
        process, url = start(["--port", "0", "--db", self.db, *self.args, *QUIET])
        self.processes.append(process)
        self.urls.append(url)
        return url

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                stop(process)
            else:  # killed: its pipes are still to close
                process.communicate(timeout=10)


@pytest.fixture
def replicas(pg_database: str) -> Iterator[Replicas]:
    started = Replicas(pg_database, [])
    yield started
    started.stop()


def send(url: str, **fields: str) -> str:
    data = {**DEMO, "to": "447700900123", "text": "hi", **fields}
    return httpx.post(url + SEND, data=data, timeout=10).text


def test_a_times_rule_fires_that_many_times_across_replicas(replicas: Replicas) -> None:
    one, two = replicas.start(), replicas.start()
    rule = {"name": "thrice", "action": {"error": "GATEWAY_ERROR"}, "times": 3}
    assert httpx.post(one + "/_sim/rules", json=rule, timeout=10).status_code == 201
    clash = httpx.post(two + "/_sim/rules", json=rule, timeout=10)
    assert clash.status_code == 409  # the name is taken on the other replica
    answers = [send((one, two)[n % 2], text=f"n{n}") for n in range(10)]
    assert answers.count("ERR:GATEWAY_ERROR") == 3
    assert sum(answer.startswith("ID:") for answer in answers) == 7

    sequence = {
        "name": "turns",
        "sequence": [{"error": "NO_TEXT"}, {"error": "NO_TO"}],
        "match": {"to": "447700900321"},
    }
    assert httpx.post(two + "/_sim/rules", json=sequence, timeout=10).status_code == 201
    turns = [send((one, two)[n % 2], to="447700900321") for n in range(3)]
    assert turns[:2] == ["ERR:NO_TEXT", "ERR:NO_TO"]  # one sequence, whichever replica answers
    assert turns[2].startswith("ID:")

    off = {"name": "off", "action": {"error": "GATEWAY_ERROR"}, "match": {"to": "447700900432"}}
    assert httpx.post(one + "/_sim/rules", json=off, timeout=10).status_code == 201
    assert send(two, to="447700900432") == "ERR:GATEWAY_ERROR"
    assert httpx.delete(two + "/_sim/rules/off", timeout=10).status_code == 204
    wait_until(lambda: send(one, to="447700900432").startswith("ID:"), 5)


def test_a_scenario_load_on_one_replica_applies_to_the_other(replicas: Replicas) -> None:
    one, two = replicas.start(), replicas.start()
    assert send(one).startswith("ID:")
    loaded = httpx.put(
        one + "/_sim/scenario",
        content="version: 1\naccounts: [{username: acme, password: pw, credit: 7}]\n",
        headers={"content-type": "application/yaml"},
        timeout=10,
    )
    assert loaded.status_code == 200, loaded.text

    def acme_only() -> bool:
        accounts = httpx.get(two + "/_sim/accounts", timeout=10).json()["accounts"]
        return [account["username"] for account in accounts] == ["acme"]

    wait_until(acme_only, 5)
    answer = httpx.post(
        two + SEND,
        data={"username": "acme", "password": "pw", "to": "447700900123", "text": "x"},
        timeout=10,
    )
    assert answer.text == "ID:10011000000000000001"
    assert send(two) == "ERR:LOGIN_INVALID"  # demo went with the old scenario, on both


def test_a_manual_clock_moved_on_one_replica_moves_the_other(pg_database: str) -> None:
    started = Replicas(pg_database, ["--clock", "manual"])
    try:
        one, two = started.start(), started.start()
        before = httpx.get(two + "/_sim/clock", timeout=10).json()["now"]
        moved = httpx.post(one + "/_sim/clock/advance", json={"seconds": 3600}, timeout=10)
        assert moved.status_code == 200
        target = moved.json()["now"]
        assert target != before
        wait_until(lambda: httpx.get(two + "/_sim/clock", timeout=10).json()["now"] == target, 5)
        third = started.start()  # a replica that joins later starts where the others are
        assert httpx.get(third + "/_sim/clock", timeout=10).json()["now"] == target
    finally:
        started.stop()


def reports_scenario(folder: Path, receiver: str, retry: float) -> Path:
    path = folder / "reports.yaml"
    path.write_text(
        "version: 1\nsettings: {report_step_seconds: 0}\n"
        f"accounts: [{{username: demo, password: demo, credit: 1000, "
        f"status_url: '{receiver}/status', retry_seconds: {retry}}}]\n"
        "rules: [{name: final, action: {delivery: {final: 4, steps: []}}}]\n"
    )
    return path


def test_each_delivery_report_is_posted_once_for_messages_split_across_replicas(
    pg_database: str, tmp_path: Path, receiver: Receiver
) -> None:
    scenario = reports_scenario(tmp_path, receiver.url, 0.5)
    started = Replicas(pg_database, ["--scenario", str(scenario)])
    try:
        urls = [started.start(), started.start()]
        ids = [send(urls[n % 2], delrpt="1", text=f"r{n}").removeprefix("ID:") for n in range(20)]
        assert all(len(found) == 20 for found in ids)
        wait_until(lambda: len(receiver.received) >= 20, 10)
        time.sleep(1.5)  # long enough for a second post of any report to arrive
        posted = Counter(fields["msgid"] for _, fields in receiver.received)
        assert posted == Counter(ids)  # every message's report, each exactly once
    finally:
        started.stop()


def test_kill_9_of_one_replica_under_load_loses_nothing_and_the_other_delivers_its_callbacks(
    pg_database: str, tmp_path: Path, receiver: Receiver
) -> None:
    """The receiver refuses at first, so the first replica holds retries when it is killed;
    the second takes them up and delivers them once the receiver answers."""
    scenario = reports_scenario(tmp_path, receiver.url, 1)
    receiver.statuses = [503] * 10_000
    started = Replicas(pg_database, ["--scenario", str(scenario)])
    try:
        doomed, survivor = started.start(), started.start()
        answered: list[str] = []
        stopping = threading.Event()

        def load(url: str) -> None:
            with httpx.Client(timeout=5) as http:
                n = 0
                while not stopping.is_set():
                    n += 1
                    try:
                        text = http.post(
                            url + SEND,
                            data={
                                **DEMO,
                                "to": "447700900123",
                                "text": f"{n}",
                                "delrpt": "1",
                            },
                        ).text
                    except httpx.HTTPError:
                        return  # the replica is gone: what it answered is all it promised
                    answered.append(text)

        loaders = [threading.Thread(target=load, args=(doomed,)) for _ in range(4)]
        for loader in loaders:
            loader.start()
        wait_until(lambda: len(answered) >= 100, 20)
        started.processes[0].send_signal(signal.SIGKILL)
        started.processes[0].wait(timeout=10)
        stopping.set()
        for loader in loaders:
            loader.join(timeout=10)
        accepted = {text.removeprefix("ID:") for text in answered if text.startswith("ID:")}
        assert len(accepted) >= 100
        listed = httpx.get(survivor + "/_sim/messages", params={"limit": 1000}, timeout=10)
        kept = {message["id"] for message in listed.json()["messages"]}
        assert accepted <= kept  # nothing answered ID: is lost

        held = held_callbacks(pg_database)  # what the dead one was still to deliver
        assert held, "the dead replica held no callbacks: the test proves nothing"
        receiver.statuses = []  # the receiver answers 200 from now on
        wait_until(lambda: held <= set(delivered(receiver)), 30)
        counted = Counter(delivered(receiver))
        assert all(counted[message_id] == 1 for message_id in held)  # each once
        attempts = httpx.get(
            survivor + "/_sim/callbacks",
            params={"outcome": "delivered", "limit": 1000},
            timeout=10,
        ).json()["callbacks"]
        assert held <= {attempt["message_id"] for attempt in attempts}  # by the survivor
    finally:
        started.stop()


def held_callbacks(db: str) -> set[str]:
    """The messages whose report callbacks the database holds for delivery now."""
    with psycopg.connect(db) as connection:
        rows = connection.execute("SELECT record FROM pending").fetchall()
    return {json.loads(record)["message_id"] for (record,) in rows}


def delivered(receiver: Receiver) -> list[str]:
    """The messages whose report the receiver took (answered 200), once per taking."""
    taken = zip(receiver.received, list(receiver.answered), strict=False)
    return [fields["msgid"] for (_, fields), status in taken if status == 200]
