"""Logs: `serve` writes one line per request with its outcome and reason, as text or JSON, at the
chosen level; callback attempts get a line too. Run as real processes (the lines go to stderr)."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from gateway_sim.observe import logs
from tests.conftest import SEND, build_app, start_serve
from tests.helpers_callbacks import Receiver, advance, scenario
from tests.helpers_processes import run_cli

SCRIPT = Path(sys.executable).parent / "gateway-sim"
LOGIN = {"username": "demo", "password": "demo"}


def run_and_stop(*args: str, env: dict[str, str] | None = None) -> list[str]:
    """Serve, send one accepted and one refused message, stop; the lines written to stderr."""
    process, url = start_serve([str(SCRIPT), "serve", "--port", "0", *args], env)
    try:
        httpx.post(url + SEND, data={**LOGIN, "to": "07700900123", "text": "hi"})
        httpx.post(
            url + SEND, data={"username": "demo", "password": "not-the-pw-42", "to": "07700900123"}
        )
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=10)
    return errors.splitlines()


def test_text_lines_name_the_request_its_outcome_and_reason() -> None:
    lines = run_and_stop()
    requests = [line for line in lines if "gateway_sim.requests" in line]
    assert len(requests) == 2, lines
    accepted, refused = requests
    assert " INFO gateway_sim.requests: POST /smsgateway/sendmsg.aspx 200 accepted " in accepted
    assert "account=demo id=10011000000000000001" in accepted
    assert accepted.endswith(": accepted for 1 recipient(s), cost 1")
    assert "200 refused account=demo id=-" in refused
    assert "ERR:LOGIN_INVALID" in refused


def test_json_lines_carry_the_request_fields() -> None:
    lines = run_and_stop(env={"GATEWAY_SIM_LOG_FORMAT": "json"})
    records = [json.loads(line) for line in lines]
    requests = [record for record in records if record["logger"] == "gateway_sim.requests"]
    assert [r["outcome"] for r in requests] == ["accepted", "refused"]
    first = requests[0]
    assert first["level"] == "info"
    assert first["method"] == "POST"
    assert first["path"] == SEND
    assert first["status"] == 200
    assert first["account"] == "demo"
    assert first["message_id"] == "10011000000000000001"
    assert first["reason"] == "accepted for 1 recipient(s), cost 1"
    assert first["duration_ms"] > 0
    assert first["client"].startswith("127.0.0.1:")
    assert "not-the-pw-42" not in json.dumps(records)  # passwords are never logged
    assert requests[1]["reason"].startswith("ERR:LOGIN_INVALID")


def test_warning_level_writes_no_request_lines() -> None:
    lines = run_and_stop("--log-level", "warning")
    assert not [line for line in lines if "gateway_sim.requests" in line], lines


def test_a_bad_log_format_is_refused() -> None:
    process = run_cli("serve", "--log-format", "xml")
    assert process.returncode == 2
    assert "invalid choice: 'xml'" in process.stderr


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, logs.RequestLog]]:
    """The simulator's logs configured as `serve` does, into a string; restored afterwards."""
    stream = io.StringIO()
    names = ("gateway_sim", "")  # the simulator's, and the root (the server's logs reach it)
    saved = [(logging.getLogger(n).handlers[:], logging.getLogger(n).level) for n in names]
    yield stream, logs.configure("info", "json", stream)
    for name, (handlers, level) in zip(names, saved, strict=True):
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = True


def test_callback_attempts_get_a_line(captured: tuple[io.StringIO, logs.RequestLog]) -> None:
    stream, request_log = captured
    receiver = Receiver()
    receiver.statuses = [500]
    app = build_app(scenario(receiver.url))
    app.store.observers.append(request_log.observe)
    try:
        with TestClient(app) as client:
            client.post(SEND, data={**LOGIN, "to": "07700900123", "text": "hi", "delrpt": "1"})
            advance(client, 1)
            client.get("/_sim/callbacks")  # a read writes the batch: the lines are made then
    finally:
        receiver.close()
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    (attempt,) = [r for r in records if r["logger"] == "gateway_sim.callbacks"]
    assert attempt["status"] == 500
    assert attempt["outcome"] == "retrying"
    assert attempt["url"] == receiver.url + "/status"
    assert "status callback 1 attempt 1" in attempt["message"]


def test_the_simulators_own_messages_are_json_lines_too(
    captured: tuple[io.StringIO, logs.RequestLog],
) -> None:
    stream, _ = captured
    log = logging.getLogger("gateway_sim")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("a scheduled job failed")
    logging.getLogger("gateway_sim").debug("not at info level")
    (record,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert record["level"] == "error"
    assert record["logger"] == "gateway_sim"
    assert record["message"] == "a scheduled job failed"
    assert "ValueError: boom" in record["exception"]
