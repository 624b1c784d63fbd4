"""The command line, run as real processes: `serve` over a socket, `validate`, env twins."""

from __future__ import annotations

import argparse
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway_sim.domain.scenario import DEFAULT_SCENARIO
from gateway_sim.server.cli import build_parser, main
from tests.conftest import free_port
from tests.helpers_callbacks import Receiver, one_report_scenario, send_with_report
from tests.helpers_processes import run_cli, start
from tests.serving import SCRIPT


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        process.terminate()
        process.communicate(timeout=10)  # also closes the pipes


def test_serve_answers_a_send_over_a_real_socket(processes: list[subprocess.Popen[str]]) -> None:
    process, url = start(["--port", "0"])
    processes.append(process)
    answer = httpx.post(
        url + "/smsgateway/sendmsg.aspx",
        data={"username": "demo", "password": "demo", "to": "07700900123", "text": "hi"},
    )
    assert answer.status_code == 200
    assert answer.text == "ID:10011000000000000001"
    assert process.stdout is not None
    assert f"scenario: {DEFAULT_SCENARIO}" in process.stdout.readline()
    assert "accounts: demo" in process.stdout.readline()
    assert process.stdout.readline().split() == ["inbox:", url + "/"]
    assert process.stdout.readline().split() == ["metrics:", url + "/metrics"]


def test_environment_twins(processes: list[subprocess.Popen[str]], tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("version: 1\naccounts: [{username: env, password: pw, credit: 3}]\n")
    process, url = start(
        [],
        {
            "GATEWAY_SIM_PORT": "0",
            "GATEWAY_SIM_SCENARIO": str(scenario),
            "GATEWAY_SIM_HOST": "127.0.0.1",
        },
    )
    processes.append(process)
    answer = httpx.get(url + "/smsgateway/getbalance.aspx?username=env&password=pw")
    assert answer.text == "BALANCE:3"


def test_serve_refuses_a_bad_scenario(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nsettings: {line_ending: cr}\n")
    result = subprocess.run(
        [str(SCRIPT), "serve", "--scenario", str(bad), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert f"{bad}: settings.line_ending: Input should be 'crlf' or 'lf'" in result.stderr


def test_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\naccounts: [{username: a}]\n")
    assert main(["validate", str(DEFAULT_SCENARIO)]) == 0
    assert main(["validate", str(DEFAULT_SCENARIO), str(bad)]) == 1
    captured = capsys.readouterr()
    assert f"{DEFAULT_SCENARIO}: valid" in captured.out
    assert f"{bad}: accounts[0].password: required key is missing" in captured.err


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway_sim", "validate", str(DEFAULT_SCENARIO)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def test_help_lists_commands_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "serve" in out
    assert "validate" in out
    assert "gateway-sim serve --scenario my.yaml" in out


def test_port_in_use_is_reported(processes: list[subprocess.Popen[str]]) -> None:
    process, url = start(["--port", "0"])
    processes.append(process)
    port = url.rsplit(":", 1)[1]
    result = subprocess.run(
        [str(SCRIPT), "serve", "--port", port],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot listen" in result.stderr


def test_healthcheck_and_readyz_exit_0_when_up_and_1_when_not(
    processes: list[subprocess.Popen[str]],
) -> None:
    port = str(free_port())
    down = run_cli("healthcheck", env={"GATEWAY_SIM_PORT": port})
    assert down.returncode == 1
    assert "ConnectError" in down.stderr
    assert run_cli("readyz", "--url", f"http://127.0.0.1:{port}").returncode == 1
    process, url = start(["--port", port])
    processes.append(process)
    # the default URL comes from the same twins the server reads (a wildcard host is asked
    # on 127.0.0.1), as in the Docker image
    up = run_cli("healthcheck", env={"GATEWAY_SIM_PORT": port, "GATEWAY_SIM_HOST": "0.0.0.0"})
    assert up.returncode == 0, up.stderr
    assert up.stdout.strip() == f"{url}: healthy"
    assert run_cli("readyz", "--url", url).returncode == 0


def test_healthcheck_sends_the_control_token(processes: list[subprocess.Popen[str]]) -> None:
    process, url = start(["--port", "0", "--control-token", "s3cret"])
    processes.append(process)
    refused = run_cli("healthcheck", "--url", url)
    assert refused.returncode == 1
    assert "HTTP 401" in refused.stderr
    assert (
        run_cli("healthcheck", "--url", url, env={"GATEWAY_SIM_CONTROL_TOKEN": "s3cret"}).returncode
        == 0
    )


def test_readyz_wait_waits_for_a_simulator_that_starts_later(
    processes: list[subprocess.Popen[str]],
) -> None:
    port = free_port()
    waiting = subprocess.Popen(
        [str(SCRIPT), "readyz", "--wait", "--timeout", "30", "--url", f"http://127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    assert waiting.poll() is None  # still waiting: nothing listens yet
    process, _ = start(["--port", str(port)])
    processes.append(process)
    out, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 0, err
    assert "ready" in out


def test_readyz_wait_gives_up_after_its_timeout() -> None:
    started = time.monotonic()
    result = run_cli(
        "readyz", "--wait", "--timeout", "1", "--url", f"http://127.0.0.1:{free_port()}"
    )
    assert result.returncode == 1
    assert 1.0 <= time.monotonic() - started < 15
    assert "readyz" in result.stderr


def long_poll(url: str, outcome: list[object]) -> threading.Thread:
    """A `/_sim/messages/wait` for a message that never comes, in a thread."""

    def wait() -> None:
        try:
            outcome.append(
                httpx.get(url + "/_sim/messages/wait?timeout=300&to=07700900999", timeout=30)
            )
        except httpx.HTTPError as error:
            outcome.append(error)

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_serve_within_2_seconds_keeping_pending_callbacks(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """With a long-poll open, an idle connection held, and a callback attempt under way to a
    receiver that never answers, the process exits 0 within 2 s; the callback stays in the
    database file and is delivered at the next start."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections into the backlog and never answers
    port = silent.getsockname()[1]
    scenario = one_report_scenario(tmp_path, port)
    db = tmp_path / "sim.db"
    process, url = start(["--port", "0", "--scenario", str(scenario), "--db", str(db)])
    polled: list[object] = []
    try:
        sent = send_with_report(url)
        assert sent.text == "ID:10011000000000000001"
        poller = long_poll(url, polled)
        held = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])))
        time.sleep(0.5)  # the long-poll is waiting and the callback attempt is under way
        assert httpx.get(url + "/_sim/callbacks").json()["callbacks"] == []  # still in flight
        assert not polled
        started = time.monotonic()
        process.send_signal(sig)
        process.communicate(timeout=10)
        took = time.monotonic() - started
        assert process.returncode == 0
        assert took < 2.0, f"took {took:.2f} s to stop"
        poller.join(timeout=5)
        held.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
        silent.close()
    receiver = Receiver(port)
    process, url = start(["--port", "0", "--scenario", str(scenario), "--db", str(db)])
    try:
        deadline = time.monotonic() + 10
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert receiver.received == [
            ("/s", {"msgid": "10011000000000000001", "status": "4", "toaddr": "447700900123"})
        ]
    finally:
        process.terminate()
        process.communicate(timeout=10)
        receiver.close()


SHIPPED = ["default.yaml", "low-credit.yaml", "multi-account.yaml"]


def test_init_writes_the_shipped_scenarios_and_refuses_to_overwrite(tmp_path: Path) -> None:
    def init(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), "init", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            cwd=tmp_path,
        )

    first = init()
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [f"wrote scenarios/{name}" for name in SHIPPED]
    for name in SHIPPED:
        assert (tmp_path / "scenarios" / name).read_bytes() == (
            DEFAULT_SCENARIO.parent / name
        ).read_bytes()
    edited = tmp_path / "scenarios" / "default.yaml"
    edited.write_text("version: 1\n")
    again = init()
    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr.startswith("gateway-sim init: scenarios/default.yaml, ")
    assert "--force" in again.stderr
    assert edited.read_text() == "version: 1\n"  # refused before anything was written
    forced = init("--force")
    assert forced.returncode == 0, forced.stderr
    assert edited.read_bytes() == DEFAULT_SCENARIO.read_bytes()
    other = init("deep/er")
    assert other.stdout.splitlines() == [f"wrote deep/er/{name}" for name in SHIPPED]
    assert init("deep/er/default.yaml").stderr == (
        "gateway-sim init: deep/er/default.yaml exists and is not a folder\n"
    )
    under_a_file = init("deep/er/default.yaml/x")
    assert under_a_file.returncode == 1
    assert under_a_file.stderr.startswith(
        "gateway-sim init: cannot write into deep/er/default.yaml/x"
    )
    assert "Traceback" not in under_a_file.stderr


def test_a_wheel_of_the_project_holds_the_scenarios_and_the_license(tmp_path: Path) -> None:
    """What `pip wheel . -w dist` builds (hatchling, in pip's isolated build environment) carries
    the scenarios `init` copies and the LICENSE."""
    root = Path(__file__).parent.parent
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            str(root),
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("gateway_sim-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"gateway_sim/scenarios/{name}" for name in SHIPPED} <= names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names), sorted(names)


def flags_without_help(parser: argparse.ArgumentParser, prefix: str = "gateway-sim") -> list[str]:
    """Every argument of `parser` and its subcommands that --help would list without a text."""
    missing = []
    for action in parser._actions:
        if isinstance(action.choices, dict):  # the subcommands
            for name, sub in action.choices.items():
                missing += flags_without_help(sub, f"{prefix} {name}")
            continue
        if not action.help or action.help == argparse.SUPPRESS:
            missing.append(f"{prefix} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_flag_and_argument_has_help_text() -> None:
    parser = build_parser()
    assert flags_without_help(parser) == []
    helpless = argparse.ArgumentParser(prog="x")
    helpless.add_argument("--quiet", action="store_true")
    assert flags_without_help(helpless) == ["gateway-sim --quiet"]  # the check can fail
    listing = parser.format_help()
    for command in ("serve", "validate", "init", "demo", "healthcheck", "readyz"):
        assert re.search(rf"^ {{4}}{command}\s+\w", listing, flags=re.M), command
