"""`gateway-sim conform`: recordings made here against a simulator standing in for the gateway
(the record proxy's format, secrets redacted) replayed against another one, and what it reports."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
from starlette.testclient import TestClient

from gateway_sim.domain.scenario import DEFAULT_SCENARIO
from gateway_sim.kit import command, conform, recording
from gateway_sim.kit.normalise import Normaliser, visible
from gateway_sim.kit.recording import Answer, Exchange, Redactor, Request
from tests.conftest import START, LiveServer, build_app
from tests.helpers_processes import run_cli

DEFAULT = DEFAULT_SCENARIO.read_text(encoding="utf-8")
LF = DEFAULT.replace("line_ending: crlf", "line_ending: lf")
OTHER_IDS = DEFAULT.replace("id_start: 10011000000000000001", "id_start: 77")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TRAFFIC: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/smsgateway/getbalance.aspx", {"username": "demo", "password": "demo"}),
    ("POST", "/smsgateway/sendmsg.aspx", {"to": "447700900123", "text": "one"}),
    ("POST", "/smsgateway/sendmsg.aspx", {"to": "447700900123,07700900124", "text": "two"}),
    ("POST", "/smsgateway/sendmsg.aspx", {"text": "nobody"}),
    ("POST", "/smsgateway/sendmsg.aspx", {"password": "not-it", "to": "447700900125", "text": "x"}),
    ("GET", "/smsgateway/getbalance.aspx", {"username": "demo", "password": "demo"}),
    ("GET", "/api/https/getbalance.aspx", {"accesskey": "demo-access", "secretkey": "demo-secret"}),
]
"""A balance, a single and a multi-recipient send, a send without `to`, a wrong password, the
balance again (3 credits less), and an access-key balance over plain HTTP (refused)."""
MULTI = "#3 POST /smsgateway/sendmsg.aspx to=447700900123,07700900124"


def record(upstream_yaml: str, out: Path) -> Path:
    """Send TRAFFIC to a simulator on `upstream_yaml` and write what a record proxy would."""
    redactor = Redactor()
    with TestClient(build_app(upstream_yaml)) as upstream:
        for method, path, given in TRAFFIC:
            login = {} if "accesskey" in given else {"username": "demo", "password": "demo"}
            fields = {**login, **given}
            encoded = urlencode(fields).encode()
            query, body = (encoded, b"") if method == "GET" else (b"", encoded)
            headers = [] if method == "GET" else list(FORM.items())
            got = upstream.request(
                method,
                path + (f"?{query.decode()}" if query else ""),
                content=body,
                headers=dict(headers),
            )
            redactor.learn(fields)
            request = Request(
                method=method,
                path=path,
                query=redactor.redact_form(query).decode() if query else "",
                headers=headers,
                body_b64=recording.encode(redactor.redact_form(body) if body else b""),
                fields=redactor.fields(dict(parse_qsl(encoded.decode()))),
            )
            answer = Answer(
                status=got.status_code,
                headers=list(got.headers.multi_items()),
                body_b64=recording.encode(got.content),
            )
            exchange = Exchange(at=START, latency_ms=1.0, request=request, answer=answer)
            recording.append(out, exchange)
    return out


def scenario_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    command.add_parser(parser.add_subparsers().add_parser)
    return conform.run(parser.parse_args(["conform", *argv]))


def test_no_secret_is_in_the_recording_made_here(tmp_path: Path) -> None:
    text = record(DEFAULT, tmp_path / "r.jsonl").read_text()
    assert "<password:1>" in text
    assert "<password:2>" in text
    assert "<secretkey:1>" in text
    assert "demo-secret" not in text
    assert "not-it" not in text
    assert "password=demo" not in text


def test_the_same_scenario_conforms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(str(record(DEFAULT, tmp_path / "r.jsonl"))) == 0
    assert capsys.readouterr().out == "7 exchanges: 7 match, 0 differ\n"


def test_ids_numbered_otherwise_conform(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recorded = record(OTHER_IDS, tmp_path / "r.jsonl")
    assert "ID:00000000000000000077" in recording.read(recorded)[1].answer.body.decode()  # type: ignore[union-attr]
    assert run(str(recorded)) == 0
    assert "7 match" in capsys.readouterr().out


def test_lf_line_endings_are_a_difference_of_the_multi_recipient_send(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(str(record(LF, tmp_path / "r.jsonl"))) == 1
    out = capsys.readouterr().out
    assert f"{MULTI}: differs (send, 2 recipients)" in out
    assert "  -447700900123,ID:<id:2>\\n" in out
    assert "  +447700900123,ID:<id:2>\\r\\n" in out
    assert out.count("differs") == 1
    assert out.endswith("7 exchanges: 6 match, 1 differ\n")


def test_a_changed_error_code_is_shown_expected_and_actual(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = record(DEFAULT, tmp_path / "r.jsonl")
    planted = path.read_text().replace(
        recording.encode(b"ERR:NO_TO"), recording.encode(b"ERR:NO_TEXT")
    )
    path.write_text(planted)
    assert run(str(path)) == 1
    out = capsys.readouterr().out
    assert "#4 POST /smsgateway/sendmsg.aspx: differs (send, ERR:NO_TEXT)\n" in out
    assert "  -ERR:NO_TEXT\n  +ERR:NO_TO\n" in out


def test_a_balance_is_compared_as_its_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A recording made with more credit still conforms; one whose sends cost more does not."""
    richer = DEFAULT.replace("credit: 100", "credit: 900")
    assert run(str(record(richer, tmp_path / "rich.jsonl"))) == 0
    dearer = DEFAULT.replace("sms_part: 1", "sms_part: 2")
    assert run(str(record(dearer, tmp_path / "dear.jsonl"))) == 1
    out = capsys.readouterr().out
    assert "#6 GET /smsgateway/getbalance.aspx: differs (balance)" in out
    assert "  -BALANCE:<balance:n -6>\n  +BALANCE:<balance:n -3>\n" in out


def test_json_lists_every_exchange(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(str(record(DEFAULT, tmp_path / "r.jsonl")), "--format", "json") == 0
    listed = json.loads(capsys.readouterr().out)["exchanges"]
    assert [entry["kind"] for entry in listed] == [
        "balance",
        "send, accepted",
        "send, 2 recipients",
        "send, ERR:NO_TO",
        "send, ERR:LOGIN_INVALID",
        "balance",
        "https balance, ERR:CONNECTION_NOT_SECURE",
    ]
    assert listed[2]["expected"][-2:] == ["447700900123,ID:<id:2>\\r\\n", "447700900124,ID:<id:2>"]
    assert all(entry["matched"] for entry in listed)


@pytest.mark.parametrize(
    "problem",
    [
        lambda tmp: ["missing.jsonl"],
        lambda tmp: [str(scenario_file(tmp, "{not a recording}"))],
        lambda tmp: [str(record(DEFAULT, tmp / "r.jsonl")), "--scenario", str(tmp / "none.yaml")],
        lambda tmp: [str(record(DEFAULT, tmp / "r.jsonl")), "--against", "http://127.0.0.1:9"],
    ],
    ids=["no file", "not a recording", "no scenario", "nobody at --against"],
)
def test_an_unusable_file_or_target_exits_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    problem: Callable[[Path], list[str]],
) -> None:
    assert run(*problem(tmp_path)) == 2
    assert capsys.readouterr().err.startswith("gateway-sim conform: ")


def test_against_a_running_simulator(
    tmp_path: Path, live_server: Callable[..., LiveServer]
) -> None:
    served = live_server(build_app(OTHER_IDS))
    assert run(str(record(DEFAULT, tmp_path / "r.jsonl")), "--against", served.url) == 0


def test_the_command_writes_a_fidelity_matrix(tmp_path: Path) -> None:
    recorded = record(LF, tmp_path / "r.jsonl")
    done = run_cli("conform", str(recorded), "--format", "markdown")
    assert done.returncode == 1, done.stderr
    assert done.stdout == (
        "| exchange | recorded | matched |\n"
        "|---|---|---|\n"
        "| balance | 2 | yes |\n"
        "| send, accepted | 1 | yes |\n"
        "| send, 2 recipients | 1 | no (1 differ) |\n"
        "| send, ERR:NO_TO | 1 | yes |\n"
        "| send, ERR:LOGIN_INVALID | 1 | yes |\n"
        "| https balance, ERR:CONNECTION_NOT_SECURE | 1 | yes |\n"
        "\n"
        "7 exchanges: 6 match, 1 differ\n"
    )
    scenario = scenario_file(tmp_path, LF)
    assert run_cli("conform", str(recorded), "--scenario", str(scenario)).returncode == 0


@pytest.mark.parametrize("flags", [[], ["--format", "markdown"]], ids=["text", "markdown"])
def test_the_readme_shows_what_conform_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    """The README's examples are this recording (a stand-in gateway with LF line endings)."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    command = " ".join(["$ gateway-sim conform traffic.jsonl", *flags]) + "\n"
    shown = readme.split(command, 1)[1].split("```", 1)[0]
    assert run(str(record(LF, tmp_path / "traffic.jsonl")), *flags) == 1
    assert capsys.readouterr().out == shown


def test_json_ids_and_balances_are_set_aside_alike() -> None:
    side = Normaliser()
    sent = b'{"response_status":"ok","messages":[{"to":"447700900123","id":"123"},{"id":"123"}]}'
    assert side.body(sent, "key") == (
        b'{"response_status":"ok","messages":[{"to":"447700900123","id":"<id:1>"},{"id":"<id:1>"}]}'
    )
    assert side.body(b'{"balance":"100.0"}', "key") == b'{"balance":"<balance:n.n first>"}'
    assert side.body(b'{"balance":"97.0"}', "key") == b'{"balance":"<balance:n.n -3.0>"}'
    assert side.body(b"BALANCE:5", "other") == b"BALANCE:<balance:n first>"
    assert side.body(b"ID:9\r\n447,ID:123", "other") == b"ID:<id:2>\r\n447,ID:<id:1>"
    assert visible(b"a\rb\n\n") == ["a\\r", "b\\n", "\\n"]


def test_a_recorded_lack_of_answer_matches_a_reset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """07700 900805 resets the connection in the default scenario: no answer on either side."""
    path = tmp_path / "r.jsonl"
    query = "username=demo&password=demo&to=447700900805&text=x"
    request = Request(method="GET", path="/smsgateway/sendmsg.aspx", query=query)
    recording.append(path, Exchange(at=START, latency_ms=1, request=request, answer=None))
    assert run(str(path)) == 0
    answered = Answer(status=200, body_b64=recording.encode(b"ID:1"))
    recording.append(path, Exchange(at=START, latency_ms=1, request=request, answer=answered))
    assert run(str(path)) == 1
    assert "  -ID:<id:1>\n" in capsys.readouterr().out


def test_a_request_recorded_over_https_is_replayed_as_https(tmp_path: Path) -> None:
    """The real gateway is reached over https: /api/https answers there, so the replay says
    the recorded scheme (X-Forwarded-Proto) and gets the same balance, not CONNECTION_NOT_SECURE."""
    keys = {"accesskey": "demo-access", "secretkey": "demo-secret"}
    query = urlencode(keys).encode()
    with TestClient(build_app(DEFAULT), base_url="https://testserver") as upstream:
        got = upstream.get("/api/https/getbalance.aspx?" + query.decode())
    assert got.text.startswith("BALANCE:")
    redactor = Redactor()
    redactor.learn(keys)
    for scheme, answer in (("https", got.content), ("http", b"ERR:CONNECTION_NOT_SECURE")):
        request = Request(
            method="GET",
            path="/api/https/getbalance.aspx",
            scheme=scheme,
            query=redactor.redact_form(query).decode(),
            fields=redactor.fields(keys),
        )
        recorded = Answer(
            status=200, headers=list(got.headers.multi_items()), body_b64=recording.encode(answer)
        )
        exchange = Exchange(at=START, latency_ms=1.0, request=request, answer=recorded)
        recording.append(tmp_path / "https.jsonl", exchange)
    assert run(str(tmp_path / "https.jsonl")) == 0
