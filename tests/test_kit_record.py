"""`gateway-sim record` and `gateway-sim probe` over real sockets: a simulator thread stands in
for the real gateway, the proxy and the probe run as `gateway-sim` processes. The recording must
hold every answer byte for byte and no secret in any form."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest

from gateway_sim.kit.probe import free_probes
from gateway_sim.kit.recording import Exchange, Request, append, encode, read
from tests.conftest import BALANCE, MMS, SEND, LiveServer, build_app, credit, free_port
from tests.conftest import start_serve as start_process
from tests.helpers_processes import run_cli, stop
from tests.serving import SCRIPT

PASSWORD = "p~!$%+ w&=d"
"""Every character a careless encoder gets wrong: `+` and space, `%`, `&` and `=`."""
OTHER = "wr0ng~ pass"
SECRET = "s3cret~key+/x"
SCENARIO = f"""
version: 1
accounts:
  - {{username: alice, password: {json.dumps(PASSWORD)}, credit: 100,
     access_keys: [{{accesskey: alice-access, secretkey: {json.dumps(SECRET)}}}]}}
"""
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9"


def forms(secret: str) -> list[bytes]:
    """Every form a secret could take in a file: raw, percent-encoded (either case), form-encoded
    (either case), JSON-escaped, and base64."""
    raw = secret.encode()
    shown = [raw, quote(secret, safe="").encode(), quote_plus(secret, safe="").encode()]
    shown += [form.lower() for form in shown[1:]]
    shown += [json.dumps(secret)[1:-1].encode(), base64.b64encode(raw)]
    return [form for form in shown if len(form) > 2]


def leaks(path: Path, secrets: list[str]) -> list[str]:
    """The secrets found in the file, or in a body it holds as base64."""
    text = path.read_bytes()
    bodies = [text]
    for exchange in read(path):
        bodies.append(exchange.request.body)
        if exchange.answer is not None:
            bodies.append(exchange.answer.body)
    return [s for s in secrets if any(form in body for form in forms(s) for body in bodies)]


@pytest.fixture
def upstream(live_server: Callable[..., LiveServer]) -> LiveServer:
    return live_server(build_app(SCENARIO, trust_proxy=True))


@pytest.fixture
def proxy(upstream: LiveServer, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    out = tmp_path / "traffic.jsonl"
    process, url = start_proxy(upstream.url, out)
    yield url, out
    stop(process)


def start_proxy(upstream: str, out: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    argv = [str(SCRIPT), "record", "--upstream", upstream, "--port", "0", "--out", str(out)]
    return start_process([*argv, *extra])


def test_the_leak_check_can_fail(tmp_path: Path) -> None:
    out = tmp_path / "leaky.jsonl"
    body = ("password=" + quote_plus(PASSWORD).lower()).encode()  # only inside base64
    request = Request(method="POST", path=SEND, body_b64=encode(body))
    append(out, Exchange(at=datetime.now(UTC), latency_ms=1, request=request, answer=None))
    assert PASSWORD.encode() not in out.read_bytes()
    assert leaks(out, [PASSWORD, OTHER]) == [PASSWORD]


def test_record_answers_unchanged_and_keeps_no_secret(proxy: tuple[str, Path]) -> None:
    url, out = proxy
    login = {"username": "alice", "password": PASSWORD}
    with httpx.Client(base_url=url) as client:
        answers = [
            client.post(SEND, data={**login, "to": "447700900123,447700900124", "text": "hi"}),
            client.get(BALANCE, params={"username": "alice", "password": OTHER}),
            client.get(BALANCE, params=login),
            client.post(
                MMS,
                data={**login, "to": "447700900125", "type": "5", "text": "pic"},
                files={"file": ("cat.jpg", JPEG, "image/jpeg")},
            ),
            client.post(
                "/api/json/sendmsg.aspx",
                content=json.dumps(
                    {
                        "auth": {
                            "authtype": "accesskey",
                            "accesskey": "alice-access",
                            "secretkey": SECRET,
                        },
                        "message": {"to": "447700900126", "content": {"text": "json"}},
                    }
                ),
                headers={"content-type": "application/json", "x-forwarded-proto": "https"},
            ),
        ]
    recorded = read(out)
    assert [e.request.path for e in recorded] == [
        SEND,
        BALANCE,
        BALANCE,
        MMS,
        "/api/json/sendmsg.aspx",
    ]
    for answer, exchange in zip(answers, recorded, strict=True):
        assert exchange.answer is not None
        assert exchange.answer.status == answer.status_code
        assert exchange.answer.body == answer.content
    assert answers[0].text.startswith("447700900123,ID:")
    assert answers[1].text == "ERR:LOGIN_INVALID"
    assert '"response_status":"ok"' in answers[4].text.replace(" ", "")
    assert leaks(out, [PASSWORD, OTHER, SECRET]) == []
    first, wrong, again, mms, keyed = (e.request for e in recorded)
    assert first.fields["password"] == "<password:1>" == again.fields["password"]
    assert wrong.fields["password"] == "<password:2>"
    assert first.fields["username"] == "alice"
    assert keyed.fields["secretkey"] == "<secretkey:1>"
    (part,) = mms.parts
    assert (part.filename, part.content_type, part.size) == ("cat.jpg", "image/jpeg", len(JPEG))
    assert part.sha256 == hashlib.sha256(JPEG).hexdigest()
    assert JPEG in mms.body  # the file itself stays, so that a replay can send it


def test_redact_usernames(upstream: LiveServer, tmp_path: Path) -> None:
    out = tmp_path / "u.jsonl"
    process, url = start_proxy(upstream.url, out, "--redact-usernames")
    try:
        httpx.get(url + BALANCE, params={"username": "alice", "password": PASSWORD})
    finally:
        stop(process)
    (exchange,) = read(out)
    assert exchange.request.fields["username"] == "<username:1>"
    assert b"alice" not in out.read_bytes()


def test_other_paths_are_not_forwarded_and_a_dead_upstream_is_a_502(tmp_path: Path) -> None:
    out = tmp_path / "dead.jsonl"
    process, url = start_proxy(f"http://127.0.0.1:{free_port()}", out)
    try:
        assert httpx.get(url + "/_sim/health").status_code == 404
        answer = httpx.get(url + BALANCE, params={"username": "a", "password": PASSWORD})
    finally:
        stop(process)
    assert answer.status_code == 502
    (exchange,) = read(out)
    assert exchange.answer is None
    assert "Connect" in (exchange.error or "")
    assert leaks(out, [PASSWORD]) == []


def test_the_free_probe_costs_nothing_and_records_each_probe(
    upstream: LiveServer, tmp_path: Path
) -> None:
    out = tmp_path / "probe.jsonl"
    before = credit(upstream.app, "alice")
    done = run_cli(
        "probe",
        "--upstream",
        upstream.url,
        "--username",
        "alice",
        "--password",
        PASSWORD,
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert credit(upstream.app, "alice") == before
    recorded: list[Exchange] = read(out)
    probes = free_probes("alice", PASSWORD)
    assert [e.request.path for e in recorded] == [probe.path for probe in probes]
    bodies = [e.answer.body.decode() for e in recorded if e.answer is not None]
    for expected in (
        "ERR:NO_USERNAME",
        "ERR:NO_PASSWORD",
        "ERR:LOGIN_INVALID",
        "ERR:NO_TO",
        "ERR:NO_TEXT",
        "ERR:PARAMETER_INVALID",
        "ERR:CONNECTION_NOT_SECURE",
    ):
        assert expected in bodies, expected
    assert bodies[-2:] == [f"BALANCE:{before:g}"] * 2
    assert leaks(out, [PASSWORD]) == []


@pytest.mark.parametrize(("cap", "sends"), [(3, 1), (100, 4)])
def test_the_paid_probe_sends_for_real_within_max_credit(
    upstream: LiveServer, tmp_path: Path, cap: int, sends: int
) -> None:
    """--paid sends to the numbers given, reading the balance around each send, and stops
    before one could pass --max-credit (here: the 4-recipient send would pass 3)."""
    out = tmp_path / "paid.jsonl"
    before = credit(upstream.app, "alice")
    login = ("--username", "alice", "--password", PASSWORD)
    numbers = ("--to", "07700900123,07700900124", "--max-credit", str(cap))
    done = run_cli(
        "probe", "--upstream", upstream.url, *login, "--paid", *numbers, "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    spent = before - credit(upstream.app, "alice")
    assert 0 < spent <= cap
    assert f"paid probes spent {spent:g} credit" in done.stdout
    sent = [e for e in read(out) if e.answer is not None and b"ID:" in e.answer.body]
    assert len(sent) == sends  # the free probes (run first) are all refused
    assert leaks(out, [PASSWORD]) == []


def test_record_forwards_to_an_https_upstream_it_was_given_the_ca_of(tmp_path: Path) -> None:
    """The proxy checks the upstream's certificate (--upstream-ca adds a CA) and records the
    scheme, so conform replays the request as https."""
    ca = tmp_path / "ca.pem"
    server, upstream = start_process(
        [str(SCRIPT), "serve", "--port", "0", "--tls", "--tls-ca-file", str(ca)]
    )
    try:
        out = tmp_path / "tls.jsonl"
        refused, refused_url = start_proxy(upstream, tmp_path / "unused.jsonl")
        try:  # without the CA, the certificate is not trusted: 502, recorded with the error
            answer = httpx.get(
                refused_url + BALANCE, params={"username": "demo", "password": "demo"}
            )
            assert answer.status_code == 502
        finally:
            stop(refused)
        process, url = start_proxy(upstream, out, "--upstream-ca", str(ca))
        try:
            keys = {"accesskey": "demo-access", "secretkey": "demo-secret"}
            answer = httpx.get(url + "/api/https/getbalance.aspx", params=keys)
            assert answer.text.startswith("BALANCE:"), answer.text
        finally:
            stop(process)
    finally:
        stop(server)
    (exchange,) = read(out)
    assert exchange.request.scheme == "https"
    assert leaks(out, ["demo-secret"]) == []
    done = run_cli("conform", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
