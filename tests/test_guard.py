"""The guard in front of `/_sim` and the inbox, over real HTTP: writes from a page of another
origin are refused (403) whatever their content type, and only hosts that name the simulator are
answered (421 otherwise, against DNS rebinding); the emulated gateway paths are not guarded.

Each test also shows a refusal, so that none of them passes without the guard."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal

import httpx
import pytest

from gateway_sim.domain.clock import ManualClock
from gateway_sim.domain.scenario import DEFAULT_SCENARIO, load_scenario
from gateway_sim.server.app import GatewayApp, create_app
from tests.conftest import BALANCE, SEND, START, LiveServer, build_app, credit

Start = Callable[[GatewayApp], LiveServer]
EVIL = "http://evil.example"
RULE = '{"name":"csrf","match":{},"action":{"fault":"reset"}}'
TEXT = {"Content-Type": "text/plain"}
TOP_UP = "/_sim/accounts/demo/topup"
LOGIN = {"username": "demo", "password": "demo"}


def guarded_app(
    allowed_hosts: Sequence[str] | None = None,
    *,
    listen_host: str | None = None,
    tls_hostnames: Sequence[str] = (),
    trust_proxy: bool = False,
) -> GatewayApp:
    return create_app(
        load_scenario(DEFAULT_SCENARIO),
        clock=ManualClock(START),
        trust_proxy=trust_proxy,
        allowed_hosts=allowed_hosts,
        listen_host=listen_host,
        tls_hostnames=tls_hostnames,
    )


@pytest.fixture
def http(live_server: Start) -> Iterator[httpx.Client]:
    server = live_server(build_app())
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def rule_names(http: httpx.Client) -> list[str]:
    """The rules installed by the tests (the scenario's own, `magic-*`, left out)."""
    answer = http.get("/_sim/rules")
    assert answer.status_code == 200
    names = [rule["name"] for rule in answer.json()["rules"]]
    return [name for name in names if not name.startswith("magic-")]


def own_origin(http: httpx.Client) -> str:
    return str(http.base_url).rstrip("/")


def assert_cross_origin(answer: httpx.Response) -> None:
    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"] == "cross_origin"
    assert answer.json()["detail"]


def assert_misdirected(answer: httpx.Response) -> None:
    assert answer.status_code == 421, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"] == "host_not_allowed"
    assert "--allowed-hosts" in answer.json()["detail"]


# Origin


def test_a_text_plain_rule_from_another_origin_is_refused_and_not_installed(
    http: httpx.Client,
) -> None:
    answer = http.post("/_sim/rules", content=RULE, headers={**TEXT, "Origin": EVIL})
    assert_cross_origin(answer)
    assert "evil.example" in answer.json()["detail"]
    assert rule_names(http) == []
    login = {**LOGIN, "to": "07700900123", "text": "still sent"}
    assert http.get(SEND, params=login).text.startswith("ID:")


def test_the_same_rule_without_an_origin_or_from_the_own_origin_is_installed(
    http: httpx.Client,
) -> None:
    assert_cross_origin(http.post("/_sim/rules", content=RULE, headers={**TEXT, "Origin": EVIL}))
    assert http.post("/_sim/rules", content=RULE, headers=TEXT).status_code == 201
    assert rule_names(http) == ["csrf"]
    mine = RULE.replace("csrf", "mine")
    answer = http.post("/_sim/rules", content=mine, headers={**TEXT, "Origin": own_origin(http)})
    assert answer.status_code == 201, answer.text
    assert rule_names(http) == ["csrf", "mine"]


def test_a_json_top_up_from_another_origin_leaves_the_credit_alone(live_server: Start) -> None:
    server = live_server(build_app())
    with httpx.Client(base_url=server.url, timeout=10) as http:
        before = credit(server.app)
        answer = http.post(TOP_UP, json={"credit": 1_000_000}, headers={"Origin": EVIL})
        assert_cross_origin(answer)
        assert credit(server.app) == before
        assert http.get(BALANCE, params=LOGIN).text == f"BALANCE:{int(before)}"
        mine = http.post(TOP_UP, json={"credit": 1}, headers={"Origin": own_origin(http)})
        assert mine.status_code == 200, mine.text
        assert credit(server.app) == before + Decimal(1)


@pytest.mark.parametrize(
    "origin",
    [
        "null",
        EVIL,
        "http://localhost:3000",  # another local app, on another port
        "https://127.0.0.1:{port}",  # the right host and port, the wrong scheme
        "http://127.0.0.1:{port}.evil.example",
        "http://127.0.0.1:{port}/",  # not an origin
        "",
    ],
)
def test_any_origin_but_the_own_one_is_foreign(http: httpx.Client, origin: str) -> None:
    port = http.base_url.port
    answer = http.post("/_sim/reset", headers={"Origin": origin.format(port=port)})
    assert_cross_origin(answer)
    assert http.post("/_sim/reset", headers={"Origin": own_origin(http)}).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/_sim/reset", None),
        ("DELETE", "/_sim/messages", None),
        ("PUT", "/_sim/accounts/mallory", '{"password": "x", "credit": "5"}'),
        ("DELETE", "/_sim/accounts/demo", None),
        ("POST", "/_sim/clock/advance", '{"seconds": 60}'),
        ("POST", "/_sim/inbound", '{"from": "447700900123", "to": "demo", "text": "hi"}'),
        ("PATCH", "/_sim/rules/any", '{"enabled": false}'),
        ("PUT", "/_sim/scenario", "accounts: []"),
        ("POST", "/", "x"),
        ("POST", "/_sim/ui", "x"),
    ],
)
def test_every_write_is_guarded(
    http: httpx.Client, method: str, path: str, body: str | None
) -> None:
    accounts = http.get("/_sim/accounts").json()
    answer = http.request(method, path, content=body, headers={**TEXT, "Origin": EVIL})
    assert_cross_origin(answer)
    assert http.get("/_sim/accounts").json() == accounts


def test_reads_from_another_origin_are_answered_but_not_shared(http: httpx.Client) -> None:
    answer = http.get("/_sim/messages", headers={"Origin": EVIL})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers
    assert http.options("/_sim/rules", headers={"Origin": EVIL}).status_code != 403
    assert_cross_origin(http.delete("/_sim/messages", headers={"Origin": EVIL}))


def test_the_browsers_fetch_metadata_is_heeded(http: httpx.Client) -> None:
    """`Sec-Fetch-Site` (which no page can set) refuses a cross-site write even without an
    Origin, and vouches for a same-origin one whose Origin a proxy made look foreign."""
    for site in ("cross-site", "same-site"):
        answer = http.post("/_sim/rules", content=RULE, headers={**TEXT, "Sec-Fetch-Site": site})
        assert_cross_origin(answer)
    assert rule_names(http) == []
    behind_proxy = {**TEXT, "Origin": "https://sim.example.com", "Sec-Fetch-Site": "same-origin"}
    assert http.post("/_sim/rules", content=RULE, headers=behind_proxy).status_code == 201
    assert rule_names(http) == ["csrf"]


def test_the_gateway_paths_take_any_origin(http: httpx.Client) -> None:
    assert_cross_origin(http.post("/_sim/reset", headers={"Origin": EVIL}))
    fields = {**LOGIN, "to": "07700900123", "text": "from a form"}
    answer = http.post(SEND, data=fields, headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
    assert answer.text.startswith("ID:")


def test_with_a_trusted_proxy_the_own_origin_is_https(live_server: Start) -> None:
    server = live_server(guarded_app(trust_proxy=True))
    with httpx.Client(base_url=server.url, timeout=10) as http:
        secure = {"X-Forwarded-Proto": "https"}
        own = own_origin(http)
        assert_cross_origin(http.post("/_sim/reset", headers={**secure, "Origin": own}))
        https = own.replace("http://", "https://")
        assert http.post("/_sim/reset", headers={**secure, "Origin": https}).status_code == 200


# Host


@pytest.mark.parametrize("path", ["/_sim/messages", "/", "/_sim/ui", "/_sim/ui/assets/app.js"])
def test_a_foreign_host_gets_421_on_the_control_api_and_the_inbox(
    http: httpx.Client, path: str
) -> None:
    for host in ("evil.example", "evil.example:8080", "127.0.0.1.nip.io", "evil."):
        assert_misdirected(http.get(path, headers={"Host": host}))
    assert http.get(path).status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:8080",
        "LOCALHOST:8080",
        "127.0.0.1",
        "[::1]:8080",
        "[::1]",
        "gateway-sim",
        "gateway-sim:8080",
        "192.168.1.20:8080",  # an address cannot be rebound
        pytest.param(socket.gethostname(), id="hostname"),
        pytest.param(socket.getfqdn(), id="fqdn"),
    ],
)
def test_the_own_names_are_answered(http: httpx.Client, host: str) -> None:
    assert_misdirected(http.get("/_sim/messages", headers={"Host": "evil.example"}))
    answer = http.get("/_sim/messages", headers={"Host": host})
    assert answer.status_code == 200, answer.text
    assert http.get("/", headers={"Host": host}).status_code == 200


def test_the_host_check_comes_before_the_origin_check(http: httpx.Client) -> None:
    answer = http.post("/_sim/reset", headers={"Host": "evil.example", "Origin": EVIL})
    assert_misdirected(answer)
    own = {"Host": "evil.example", "Origin": "http://evil.example"}  # a rebound name
    assert_misdirected(http.post("/_sim/rules", content=RULE, headers={**TEXT, **own}))
    assert rule_names(http) == []


def test_allowed_hosts_adds_names(live_server: Start) -> None:
    server = live_server(guarded_app(["sim.example.com", " other.example:9000 "]))
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for host in ("sim.example.com", "sim.example.com:8080", "other.example", "localhost"):
            assert http.get("/_sim/messages", headers={"Host": host}).status_code == 200
        assert_misdirected(http.get("/_sim/messages", headers={"Host": "evil.example"}))
        own = {"Host": "sim.example.com", "Origin": "http://sim.example.com"}
        assert http.post("/_sim/reset", headers=own).status_code == 200
        assert_cross_origin(http.post("/_sim/reset", headers={**own, "Origin": EVIL}))


def test_the_listen_host_and_tls_hostnames_are_allowed(live_server: Start) -> None:
    app = guarded_app(None, listen_host="sim.internal", tls_hostnames=["sim.test", ""])
    server = live_server(app)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for host in ("sim.internal:8080", "sim.test"):
            assert http.get("/_sim/messages", headers={"Host": host}).status_code == 200
        assert_misdirected(http.get("/_sim/messages", headers={"Host": "evil.example"}))


def test_a_star_allows_any_host_but_still_refuses_foreign_writes(live_server: Start) -> None:
    server = live_server(guarded_app(["*"]))
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for path in ("/_sim/messages", "/"):
            assert http.get(path, headers={"Host": "evil.example"}).status_code == 200
        rebound = {"Host": "evil.example", "Origin": "http://evil.example"}
        assert http.post("/_sim/reset", headers=rebound).status_code == 200
        assert_cross_origin(http.post("/_sim/reset", headers={"Origin": EVIL}))


def test_the_gateway_paths_and_metrics_answer_any_host(http: httpx.Client) -> None:
    foreign = {"Host": "evil.example"}
    assert_misdirected(http.get("/_sim/messages", headers=foreign))
    assert http.get(BALANCE, params=LOGIN, headers=foreign).text.startswith("BALANCE:")
    fields = {**LOGIN, "to": "07700900123", "text": "hi"}
    assert http.post(SEND, data=fields, headers=foreign).text.startswith("ID:")
    assert http.get("/metrics", headers=foreign).status_code == 200


def test_serve_takes_allowed_hosts_from_its_flag_and_its_environment_twin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--allowed-hosts` and GATEWAY_SIM_ALLOWED_HOSTS reach the guard of a real `serve`."""
    from tests.serving import served

    def status(url: str, host: str) -> int:
        return httpx.get(url + "/_sim/health", headers={"Host": host}, timeout=10).status_code

    with served("--allowed-hosts", "sim.example, other.example") as server:
        assert status(server.url, "sim.example") == 200
        assert status(server.url, "other.example:8080") == 200
        assert status(server.url, "evil.example") == 421
    monkeypatch.setenv("GATEWAY_SIM_ALLOWED_HOSTS", "*")
    with served() as server:
        assert status(server.url, "evil.example") == 200
