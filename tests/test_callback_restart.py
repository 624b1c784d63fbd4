"""With `--db`, callbacks still pending survive a stop (SIGTERM) and are delivered after a
restart: real processes, a real receiver that is down, then up."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.helpers_callbacks import Receiver, one_report_scenario, send_with_report
from tests.helpers_processes import start, stop, wait_until


def serve(scenario: Path, db: Path) -> tuple[subprocess.Popen[str], str]:
    """`gateway-sim serve` on a free port, with `scenario` and the database file `db`."""
    return start(["--port", "0", "--scenario", str(scenario), "--db", str(db)])


def test_pending_callbacks_survive_a_restart(tmp_path: Path) -> None:
    port = free_port()
    scenario = one_report_scenario(tmp_path, port)
    db = tmp_path / "sim.db"
    process, url = serve(scenario, db)
    try:
        sent = send_with_report(url)
        assert sent.text == "ID:10011000000000000001"
        wait_until(lambda: httpx.get(url + "/_sim/callbacks").json()["callbacks"])
        first = httpx.get(url + "/_sim/callbacks").json()["callbacks"][-1]
        assert (first["outcome"], first["status"]) == ("retrying", None)
    finally:
        stop(process)
    receiver = Receiver(port)
    process, url = serve(scenario, db)
    try:
        wait_until(lambda: receiver.received)
        assert receiver.received[0] == (
            "/s",
            {"msgid": "10011000000000000001", "status": "4", "toaddr": "447700900123"},
        )
        wait_until(lambda: httpx.get(url + "/_sim/callbacks?outcome=delivered").json()["callbacks"])
    finally:
        stop(process)
        receiver.close()
