"""Suites sharing one simulator stay apart: what the pytest plugin's `sim_account` does (rules,
resets, waits) touches its own account only. A sample suite adds rules for its account
(refused for another's, removed after the test) and resets it alone; and two pytest-xdist
workers run an interleaving suite at once against one external simulator, each adding rules,
sending and resetting, and neither sees the other's messages, rules' effects or resets.

The simulator the workers share comes from `shared_deployment` alone: today one `gateway-sim
serve`; a deployment of several replicas behind one store is swapped in there (the suite sends
through every gateway URL in turn and drives the control API at the first).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers_pg import create_database, database_name, drop_database, server_url
from tests.helpers_processes import start, stop
from tests.test_pytest_plugin import HELPERS, INI, run

pytest_plugins = ["pytester"]


@dataclass(frozen=True)
class Deployment:
    """A shared simulator: the URL its control API is driven at, and the URLs its gateway is
    reached at (one per replica; the suite sends through each in turn)."""

    control: str
    gateways: tuple[str, ...]


@pytest.fixture(scope="module", params=["one process", "two replicas on PostgreSQL"])
def shared_deployment(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    """What the workers share: one `gateway-sim serve` on a free port; or two replicas on one
    PostgreSQL database (the control API driven at the first, sends through both)."""
    if request.param == "one process":
        process, url = start(["--port", "0", "--log-level", "warning"])
        try:
            yield Deployment(control=url, gateways=(url,))
        finally:
            stop(process)
        return
    server = server_url()  # skipped without PostgreSQL here, failed without it in CI
    db = create_database(server)
    started = [start(["--port", "0", "--db", db, "--log-level", "warning"]) for _ in range(2)]
    try:
        yield Deployment(control=started[0][1], gateways=tuple(url for _, url in started))
    finally:
        for process, _ in started:
            stop(process)
        drop_database(server, database_name(db))


RULES_SUITE = """
import pytest
from helpers import send


def test_a_rule_matches_its_account_only(gateway_sim, sim_account):
    rule = sim_account.add_rule({"name": "down", "action": {"error": "GATEWAY_ERROR"}})
    assert rule["name"] == sim_account.username + ".down"
    assert rule["match"]["account"] == sim_account.username
    assert sim_account.add_rule({"action": {"error": "INTERNAL_ERROR"}})["name"].endswith(
        ".rule-2"
    )
    assert send(gateway_sim, sim_account).startswith("ERR:")
    gateway_sim.api.put_account("other", "pw", 10)
    other = {"username": "other", "password": "pw", "to": "07700900123", "text": "hi"}
    import httpx
    assert httpx.post(gateway_sim.url + "/smsgateway/sendmsg.aspx", data=other).text.startswith("ID:")
    with pytest.raises(ValueError, match="for itself only"):
        sim_account.add_rule({"match": {"account": "other"}, "action": {"error": "GATEWAY_ERROR"}})
    gateway_sim.api.delete_account("other")


def test_its_rules_are_gone_after_it(gateway_sim):
    assert [r["name"] for r in gateway_sim.api.rules() if r["name"].startswith("t-")] == []


def test_a_reset_is_of_its_account_alone(gateway_sim, sim_account):
    gateway_sim.api.put_account("bystander", "pw", 10)
    by = {"username": "bystander", "password": "pw", "to": "07700900123", "text": "stays"}
    import httpx
    assert httpx.post(gateway_sim.url + "/smsgateway/sendmsg.aspx", data=by).text.startswith("ID:")
    assert send(gateway_sim, sim_account, text="goes").startswith("ID:")
    assert sim_account.balance() < sim_account.credit
    assert sim_account.reset().credit == sim_account.credit
    assert sim_account.messages() == [] and sim_account.requests() == []
    assert [m.text for m in gateway_sim.messages(account="bystander")] == ["stays"]
    gateway_sim.api.delete_account("bystander")
"""


def test_sim_account_rules_and_reset_are_its_own(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(helpers=HELPERS)
    pytester.makepyfile(test_rules=RULES_SUITE)
    result = run(pytester)
    result.assert_outcomes(passed=3)


WORKERS_SUITE = '''
import json
import os
import time

import httpx
import pytest

GATEWAYS = os.environ["ISOLATION_GATEWAYS"].split(",")
LOG = os.environ["ISOLATION_LOG"]
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
SEND = "/smsgateway/sendmsg.aspx"
PAUSE = 0.3
sent = 0


def send(account, text):
    """Through each gateway URL in turn, as a client behind a load balancer would."""
    global sent
    url = GATEWAYS[sent % len(GATEWAYS)]
    sent += 1
    fields = {**account.credentials, "to": "07700900123", "text": f"{WORKER}-{text}"}
    return httpx.post(url + SEND, data=fields).text


def probe(account, text, seconds=PAUSE):
    """Send for `seconds`, every 20 ms: the other worker's rule window and its resets fall
    in here, and no send may be refused. How many were sent."""
    end, count = time.time() + seconds, 0
    while time.time() < end:
        answer = send(account, text)
        assert answer.startswith("ID:"), f"{text} refused: {answer}"
        count += 1
        time.sleep(0.02)
    return count


def mine(account):
    """The texts of the account's messages, checking each is its own."""
    found = account.messages(limit=None)
    assert {m.account for m in found} <= {account.username}
    return sorted(m.text for m in found)


@pytest.mark.parametrize("round", range(8))
def test_rules_and_resets_stay_with_their_account(gateway_sim, sim_account, round):
    began = time.time()
    before = probe(sim_account, "before")
    sim_account.add_rule({"name": "down", "action": {"error": "GATEWAY_ERROR"}})
    assert send(sim_account, "blocked").startswith("ERR:")
    time.sleep(PAUSE)  # its rule is on: the other worker probes meanwhile
    sim_account.remove_rules()
    after = probe(sim_account, "after")
    # The other worker's resets must not have touched this account.
    assert mine(sim_account) == [f"{WORKER}-after"] * after + [f"{WORKER}-before"] * before
    outcomes = [r.outcome for r in sim_account.requests(limit=None)]
    assert outcomes == ["accepted"] * after + ["refused"] + ["accepted"] * before
    assert sim_account.balance() < sim_account.credit
    sim_account.wait_for_message(text=f"{WORKER}-after", timeout=1)

    sim_account.reset()

    assert mine(sim_account) == []
    assert sim_account.requests() == []
    assert sim_account.balance() == sim_account.credit
    anew = probe(sim_account, "anew")
    assert mine(sim_account) == [f"{WORKER}-anew"] * anew
    with open(LOG, "a") as log:
        log.write(json.dumps([WORKER, began, time.time()]) + "\\n")
'''


def test_two_xdist_workers_on_one_deployment_never_see_each_other(
    pytester: pytest.Pytester,
    shared_deployment: Deployment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = tmp_path / "spans.jsonl"
    monkeypatch.setenv("ISOLATION_GATEWAYS", ",".join(shared_deployment.gateways))
    monkeypatch.setenv("ISOLATION_LOG", str(log))
    pytester.makeini(INI)
    pytester.makepyfile(test_workers=WORKERS_SUITE)
    result = run(
        pytester,
        "-n",
        "2",
        "--dist",
        "load",
        "--gateway-sim-url",
        shared_deployment.control,
    )
    result.assert_outcomes(passed=8)
    spans = [json.loads(line) for line in log.read_text().splitlines()]
    workers = {worker for worker, _, _ in spans}
    assert workers == {"gw0", "gw1"}, "both workers ran tests"
    # The workers ran at the same time: some test of one overlapped one of the other.
    assert any(a[0] != b[0] and a[1] < b[2] and b[1] < a[2] for a in spans for b in spans), (
        "no test of one worker overlapped one of the other"
    )
