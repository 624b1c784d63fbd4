"""With `--db`, callbacks still pending survive a stop (SIGTERM) and are delivered after a
restart: real processes, a real receiver that is down, then up."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import SEND, free_port
from tests.test_callbacks import Receiver

SCRIPT = Path(sys.executable).parent / "gateway-sim"


def start(scenario: Path, db: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [str(SCRIPT), "serve", "--port", "0", "--scenario", str(scenario), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    found = re.search(r"listening on (http://\S+)", process.stdout.readline())
    assert found, process.communicate(timeout=10)
    return process, found.group(1)


def wait_until(check: object, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def one_report_scenario(folder: Path, port: int) -> Path:
    """A scenario whose sends get one delivery report, posted at once to `port`, retried
    every half second."""
    scenario = folder / "s.yaml"
    scenario.write_text(
        "version: 1\nsettings: {report_step_seconds: 0}\n"
        f"accounts: [{{username: demo, password: demo, credit: 5, status_url: 'http://127.0.0.1:{port}/s', retry_seconds: 0.5}}]\n"
        "rules: [{name: one, action: {delivery: {final: 4, steps: []}}}]\n"
    )
    return scenario


def test_pending_callbacks_survive_a_restart(tmp_path: Path) -> None:
    port = free_port()
    scenario = one_report_scenario(tmp_path, port)
    db = tmp_path / "sim.db"
    process, url = start(scenario, db)
    try:
        sent = httpx.post(
            url + SEND,
            data={
                "username": "demo",
                "password": "demo",
                "to": "07700900123",
                "text": "x",
                "delrpt": "1",
            },
        )
        assert sent.text == "ID:10011000000000000001"
        wait_until(lambda: httpx.get(url + "/_sim/callbacks").json()["callbacks"])
        first = httpx.get(url + "/_sim/callbacks").json()["callbacks"][-1]
        assert (first["outcome"], first["status"]) == ("retrying", None)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
    receiver = Receiver(port)
    process, url = start(scenario, db)
    try:
        wait_until(lambda: receiver.received)
        assert receiver.received[0] == (
            "/s",
            {"msgid": "10011000000000000001", "status": "4", "toaddr": "447700900123"},
        )
        wait_until(lambda: httpx.get(url + "/_sim/callbacks?outcome=delivered").json()["callbacks"])
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
        receiver.close()
