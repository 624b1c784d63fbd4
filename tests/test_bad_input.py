"""The bad-input matrix over real HTTP: every endpoint, each kind of abuse, against one real
`gateway-sim serve` process. Each answer is one the gateway gives or a 4xx (a JSON one under
`/_sim`), never a 500; and after every case the server still answers a plain send.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import GATEWAY_PATHS
from tests.helpers_processes import QUIET, start
from tests.protocol_answers import assert_protocol_answer

LIMIT = 200_000
SCENARIO = f"""
version: 1
settings: {{max_body_bytes: {LIMIT}}}
accounts:
  - {{username: demo, password: demo, credit: 1000000, default_sender: "447700900000",
     access_keys: [{{accesskey: bi-access, secretkey: "bi$%+[{{^~!`secret"}}]}}
"""
HTTPS = {"x-forwarded-proto": "https"}  # the server trusts the proxy header: past the HTTPS gate
CONTROL_PATHS = [
    ("GET", "/_sim/messages"),
    ("GET", "/_sim/requests"),
    ("PUT", "/_sim/accounts/someone"),
    ("PUT", "/_sim/scenario"),
    ("POST", "/_sim/inbound"),
    ("POST", "/_sim/rules"),
]
CREDENTIALS = (
    "username=demo&password=demo&accesskey=bi-access&secretkey=bi%24%25%2B%5B%7B%5E%7E%21%60secret&"
)
AUTH = {"authtype": "accesskey", "accesskey": "bi-access", "secretkey": "bi$%+[{^~!`secret"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    scenario = tmp_path_factory.mktemp("bad-input") / "scenario.yaml"
    scenario.write_text(SCENARIO)
    process, url = start(["--port", "0", "--scenario", str(scenario), "--trust-proxy", *QUIET])
    yield url
    process.terminate()
    process.communicate(timeout=10)


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=10, headers=HTTPS) as client:
        yield client
    _assert_still_serving(server)


def _assert_still_serving(url: str) -> None:
    answer = httpx.post(
        url + "/smsgateway/sendmsg.aspx",
        data={"username": "demo", "password": "demo", "to": "07700900123", "text": "canary"},
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.text.startswith("ID:")


def _check(path: str, response: httpx.Response) -> None:
    if path.startswith("/api/json/"):
        assert response.status_code < 500, response.text
        if response.status_code == 200:
            answer = response.json()
            assert answer["response_status"] in ("ok", "failure"), answer
            if answer["response_status"] == "failure":
                assert all(e["error"] and e["error_code"] for e in answer["errors"]), answer
        return
    if path.startswith("/_sim"):
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            body = response.json()
            assert body["error"]
            assert body["detail"]
    else:
        assert_protocol_answer(response.status_code, response.content)


BODIES: dict[str, tuple[str, bytes]] = {
    "missing body": ("application/x-www-form-urlencoded", b""),
    "wrong content type": ("image/png", b"\x89PNG\r\n\x1a\n" + bytes(range(256))),
    "json instead of a form": ("application/json", json.dumps({"username": "demo"}).encode()),
    "ten thousand recipients": (
        "application/x-www-form-urlencoded",
        (
            CREDENTIALS + "text=hi&to=" + "%2C".join(f"0770090{i:04d}" for i in range(10_000))
        ).encode(),
    ),
    "control characters and NUL": (
        "application/x-www-form-urlencoded",
        (CREDENTIALS + "to=07700900123%00&text=a%00b%01%1b%7f\x08&from=%00").encode(),
    ),
    "invalid percent-encoding": (
        "application/x-www-form-urlencoded",
        (CREDENTIALS + "to=%zz07700900123&text=%e9%&%=%%&%G1=1").encode(),
    ),
    "invalid UTF-8 and a bad multipart": (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="\xff\xfe"\r\n\r\n\xc3(\r\n--x',
    ),
    "deeply nested JSON": ("application/json", b"[" * 5000 + b"]" * 5000),
    "deeply nested YAML": ("application/yaml", b"a: " + b"[" * 5000),
    "huge field name": (
        "application/x-www-form-urlencoded",
        CREDENTIALS.encode() + b"n" * 100_000 + b"=1",
    ),
}


@pytest.mark.parametrize("case", BODIES)
@pytest.mark.parametrize("path", GATEWAY_PATHS)
def test_gateway_paths_answer_bad_bodies_with_the_protocol(
    http: httpx.Client, path: str, case: str
) -> None:
    content_type, body = BODIES[case]
    response = http.post(path, content=body, headers={"content-type": content_type})
    _check(path, response)
    if case == "ten thousand recipients" and path in GATEWAY_PATHS[:2]:
        assert response.text == "ERR:TOO_MANY_NUMBERS"
    if path.startswith("/api/https/"):
        assert response.text != "ERR:CONNECTION_NOT_SECURE"  # the checks behind the gate ran


def _json_send(message: object, **extra: object) -> bytes:
    return json.dumps({"auth": AUTH, "message": message, **extra}).encode()


JSON_BODIES: dict[str, bytes] = {
    "ten thousand recipients": _json_send(
        {"to": [f"0770090{i:04d}" for i in range(10_000)], "content": {"text": "hi"}}
    ),
    "control characters and NUL": _json_send(
        {"to": ["07700900123\u0000"], "from": "\u0000", "content": {"text": "a\u0000\u001b"}}
    ),
    "wrong kinds of values": _json_send({"to": {"a": 1}, "content": [1, 2]}, request_version=7),
    "deeply nested": b"[" * 5000 + b"]" * 5000,
    "huge number": _json_send({"to": "07700900123", "content": {"maxconcat": 10**400}}),
    "auth of the wrong kind": json.dumps({"auth": "demo", "message": None}).encode(),
    "invalid UTF-8": b'{"auth": "\xff\xfe"}'.replace(b"\\xff\\xfe", b"\xff\xfe"),
    "truncated": _json_send({"to": "07700900123", "content": {"text": "hi"}})[:-7],
}


@pytest.mark.parametrize("case", JSON_BODIES)
@pytest.mark.parametrize("path", ["/api/json/sendmsg.aspx", "/api/json/getbalance.aspx"])
def test_json_api_answers_bad_json_with_a_json_failure(
    http: httpx.Client, path: str, case: str
) -> None:
    response = http.post(
        path, content=JSON_BODIES[case], headers={"content-type": "application/json"}
    )
    _check(path, response)
    assert response.status_code == 200


@pytest.mark.parametrize("case", BODIES)
@pytest.mark.parametrize(("method", "path"), CONTROL_PATHS)
def test_control_paths_answer_bad_bodies_with_json_4xx(
    http: httpx.Client, method: str, path: str, case: str
) -> None:
    content_type, body = BODIES[case]
    response = http.request(method, path, content=body, headers={"content-type": content_type})
    _check(path, response)


@pytest.mark.parametrize("path", [*GATEWAY_PATHS, *(p for _, p in CONTROL_PATHS)])
def test_a_body_over_the_limit_is_refused_without_harm(http: httpx.Client, path: str) -> None:
    method = {p: m for m, p in CONTROL_PATHS}.get(path, "POST")
    body = b"text=" + b"a" * (LIMIT + 10)
    response = http.request(
        method, path, content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    _check(path, response)
    if path.startswith("/smsgateway/"):
        assert response.status_code == 413


@pytest.mark.parametrize("path", [*GATEWAY_PATHS, "/_sim/messages"])
def test_query_strings_with_garbage_get_an_answer(http: httpx.Client, path: str) -> None:
    query = "username=demo&password=demo&to=%zz%00%&text=%ff%fe%00&limit=%00&since=%zz"
    response = http.get(f"{path}?{query}")
    _check(path, response)


def _raw_exchange(url: str, request: bytes, *, timeout: float = 10) -> bytes:
    """Send `request` whole (asking the server to close after its answer: a client that
    half-closes is hung up on at once) and read the answer; b"" when the server closed the
    connection (reset) before the client had written all of it."""
    host, port = url.removeprefix("http://").split(":")
    line, _, rest = request.partition(b"\r\n")
    request = line + b"\r\nConnection: close\r\n" + rest
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        chunks = []
        try:
            sock.sendall(request)
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, BrokenPipeError):
            return b"".join(chunks)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "path", [GATEWAY_PATHS[0], "/api/json/sendmsg.aspx", "/_sim/messages", "/"]
)
def test_headers_over_the_limit_are_refused_and_the_server_stays_up(server: str, path: str) -> None:
    """Past --max-head-bytes (64 KiB) the server refuses with 431 as the bytes arrive; the gateway
    paths refuse past the scenario's 16 KiB with IIS's own 400 once the head is in."""
    huge = b"X-Big: " + b"a" * 200_000 + b"\r\n"
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(12_000))
    gateway = not (path.startswith("/_sim") or path == "/")
    limit = 16_384 if gateway else 65_536
    over = b"X-Big: " + b"a" * limit + b"\r\n"
    just_under = b"X-Big: " + b"a" * (limit - 100) + b"\r\n"
    # Just over 64 KiB of headers, the head with its request line is over the server's buffer or
    # (by a few bytes) not yet: refused either way, by the server (431) or by the app (400).
    cases = [(huge, {b"431"}), (many, {b"431"}), (over, {b"400"} if gateway else {b"400", b"431"})]
    cases.append((just_under, {b"200"}))
    for extra, expected in cases:
        request = b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"
        answer = _raw_exchange(server, request)
        if b"431" in expected and not answer:
            continue  # refused as the bytes arrived: the reset can overtake the 431
        assert answer.split(b" ", 2)[1] in expected, answer[:300]
        if answer.startswith(b"HTTP/1.1 400") and path.startswith("/_sim"):
            assert b'"error":"headers_too_large"' in answer
        elif answer.startswith(b"HTTP/1.1 400"):
            assert answer.endswith(b"\r\n\r\nBad Request - Request Too Long")
    _assert_still_serving(server)


def test_a_client_that_sends_slowly_does_not_hold_up_others(server: str) -> None:
    host, port = server.removeprefix("http://").split(":")
    body = b"username=demo&password=demo&to=07700900123&text=slow"
    request = (
        b"POST /smsgateway/sendmsg.aspx HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    slow_answer: list[bytes] = []

    def dribble() -> None:
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            for index in range(0, len(request), 4):
                sock.sendall(request[index : index + 4])
                time.sleep(0.02)
            slow_answer.append(sock.recv(65536))

    slow = threading.Thread(target=dribble)
    slow.start()
    started = time.monotonic()
    fast = 0
    while slow.is_alive() and fast < 50:
        _assert_still_serving(server)
        fast += 1
    slow.join(timeout=15)
    assert fast >= 5, "other clients were held up while one client sent slowly"
    assert time.monotonic() - started < 15
    assert slow_answer
    assert slow_answer[0].startswith(b"HTTP/1.1 200")
    assert b"\r\n\r\nID:" in slow_answer[0]


def test_scenario_files_of_the_fuzzing_kind_fail_at_load(tmp_path: Path) -> None:
    from gateway_sim.domain.scenario import ScenarioError, load_scenario

    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"version: 1\nsettings: {max_body_bytes: -1}\n\x00")
    with pytest.raises(ScenarioError, match=r"bad\.yaml"):
        load_scenario(bad)
