"""`gateway-sim serve` over real sockets: several ports on one simulator (a client's primary and
backup), rules that match the Host header, and a start-up banner that tells the truth (the
accounts a database file restored, the guards that are on)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.helpers_processes import run_cli, start, stop

SEND = "/smsgateway/sendmsg.aspx"
BALANCE = "/smsgateway/getbalance.aspx"
LOGIN = {"username": "demo", "password": "demo"}


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            stop(process)


def banner(process: subprocess.Popen[str]) -> list[str]:
    """The announcement's lines after the first (read up to the metrics line, its last but TLS)."""
    assert process.stdout is not None
    lines = []
    while not (line := process.stdout.readline()).lstrip().startswith("metrics:"):
        assert line, "the banner ended early"
        lines.append(line.strip())
    return lines


def test_two_ports_serve_one_simulator_and_a_host_rule_takes_the_primary_down(
    processes: list[subprocess.Popen[str]],
) -> None:
    primary, backup = free_port(), free_port()
    process, url = start(["--port", f"{primary},{backup}"])
    processes.append(process)
    assert url == f"http://127.0.0.1:{primary}"
    assert f"also on:  http://127.0.0.1:{backup} (the same simulator)" in banner(process)
    backup_url = f"http://127.0.0.1:{backup}"
    rule = {"name": "primary-down", "match": {"host": f"*:{primary}"}, "action": {"fault": "close"}}
    assert httpx.post(backup_url + "/_sim/rules", json=rule).status_code == 201
    with pytest.raises(httpx.RemoteProtocolError):  # the primary closes without an answer
        httpx.post(url + SEND, data={**LOGIN, "to": "07700900123", "text": "hi"})
    answer = httpx.post(backup_url + SEND, data={**LOGIN, "to": "07700900123", "text": "hi"})
    assert answer.text == "ID:10011000000000000001"
    for base in (url, backup_url):  # one state, seen from both ports
        messages = httpx.get(base + "/_sim/messages").json()["messages"]
        assert [m["id"] for m in messages] == ["10011000000000000001"]
        journal = httpx.get(base + "/_sim/requests").json()["requests"]
        assert [e["rule"] for e in journal] == [None, "primary-down"]
    assert httpx.get(backup_url + BALANCE, params=LOGIN).text == "BALANCE:99"
    assert httpx.delete(url + "/_sim/rules/primary-down").status_code == 204
    assert httpx.get(url + BALANCE, params=LOGIN).text == "BALANCE:99"


def test_the_ports_come_from_the_environment_twin_too(
    processes: list[subprocess.Popen[str]],
) -> None:
    ports = [free_port(), free_port()]
    process, _ = start([], {"GATEWAY_SIM_PORT": ",".join(map(str, ports))})
    processes.append(process)
    for port in ports:
        answer = httpx.get(f"http://127.0.0.1:{port}{BALANCE}", params=LOGIN)
        assert answer.text == "BALANCE:100"


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("8080,8080", "names a port twice"),
        ("8080,x", "ports separated by commas"),
        ("70000", "0-65535"),
        ("", "0-65535"),
    ],
)
def test_a_bad_port_list_is_refused_in_one_line(given: str, said: str) -> None:
    result = run_cli("serve", "--port", given, timeout=30)
    assert result.returncode == 2
    assert said in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_in_use_stops_the_start_naming_it(processes: list[subprocess.Popen[str]]) -> None:
    taken = free_port()
    process, _ = start(["--port", str(taken)])
    processes.append(process)
    result = run_cli("serve", "--port", f"{free_port()},{taken}", timeout=30)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{taken}" in result.stderr


def test_the_banner_lists_the_accounts_a_database_file_restored(
    processes: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    db = tmp_path / "sim.db"
    process, url = start(["--port", "0", "--db", str(db)])
    processes.append(process)
    first = banner(process)
    assert "accounts: demo" in first
    assert not any(line.startswith("state:") for line in first)  # a new file: nothing restored
    account = {"password": "pw", "credit": 5}
    assert httpx.put(url + "/_sim/accounts/added", json=account).status_code == 201
    httpx.post(url + SEND, data={**LOGIN, "to": "07700900123", "text": "hi"})
    stop(process)
    again, _ = start(["--port", "0", "--db", str(db)])
    processes.append(again)
    lines = banner(again)
    assert "accounts: demo, added" in lines  # the file's, not the scenario's (demo alone)
    assert (
        f"state:    from {db} (1 message kept; its accounts, credit and ids win over the "
        "scenario's)"
    ) in lines


def test_the_banner_says_which_guards_are_on(processes: list[subprocess.Popen[str]]) -> None:
    process, _ = start(["--port", "0", "--trust-proxy", "--control-token", "s3cret"])
    processes.append(process)
    lines = banner(process)
    assert any(line.startswith("--trust-proxy: on") for line in lines)
    assert "--control-token: on (/_sim and the inbox need it)" in lines
    quiet, _ = start(["--port", "0"])
    processes.append(quiet)
    assert not any(line.startswith("--") for line in banner(quiet))
