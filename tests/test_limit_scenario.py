"""Scenario loads cannot freeze or flood the server: a big scenario loads while sends go on being
answered at once (over real sockets, against a `gateway-sim serve` process); a scenario over
`--max-scenario-bytes`, `--max-accounts` or `--max-rules` is refused naming the cap, through the
control API and as a file; and no error quotes more than a few hundred characters of a bad value.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from gateway_sim.domain.clock import ManualClock
from gateway_sim.domain.limits import Limits
from gateway_sim.domain.scenario import (
    DEFAULT_SCENARIO,
    OverLimit,
    ScenarioError,
    load_scenario,
    parse_scenario,
)
from gateway_sim.server.app import create_app
from tests.conftest import START, start_serve

SCRIPT = Path(sys.executable).parent / "gateway-sim"
SEND = "/smsgateway/sendmsg.aspx?username=demo&password=demo&to=447700900123&text=hi"
PROMPT = 0.2
"""Seconds within which every send must be answered while a scenario loads."""
DEMO = '  - {username: demo, password: demo, credit: 1000000, default_sender: "447700900000"}\n'
LIMITED = Limits(max_scenario_bytes=4096, max_accounts=3, max_rules=4)
MakeClient = Callable[[Limits], TestClient]


def many_rules(count: int) -> str:
    """A scenario of `count` rules, each with a pattern to check and compile; none matches a
    send (they are all for the balance endpoint), so a send stays cheap once they are in."""
    rules = "".join(
        f"  - {{name: rule-{n}, match: {{endpoint: balance, to: '4477009{n:05d}', "
        f"text: 'x{n}[a-z]+'}}, action: {{error: GATEWAY_ERROR}}}}\n"
        for n in range(count)
    )
    return f"version: 1\naccounts:\n{DEMO}rules:\n{rules}"


def accounts(count: int) -> str:
    listed = "".join(f"  - {{username: user{n}, password: pw}}\n" for n in range(count))
    return f"version: 1\naccounts:\n{listed}"


@pytest.fixture
def client_with() -> Iterator[MakeClient]:
    """Make a TestClient for the default scenario, within the given limits."""
    made: list[TestClient] = []

    def make(limits: Limits) -> TestClient:
        app = create_app(load_scenario(DEFAULT_SCENARIO), clock=ManualClock(START), limits=limits)
        client = TestClient(app)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def server() -> Iterator[str]:
    argv = ["serve", "--port", "0", "--scenario", str(DEFAULT_SCENARIO), "--log-level", "warning"]
    process, url = start_serve([str(SCRIPT), *argv])
    yield url
    process.terminate()
    process.communicate(timeout=10)


def test_sends_are_answered_at_once_while_a_big_scenario_loads(server: str) -> None:
    big = many_rules(5000).encode()
    loads: list[httpx.Response] = []

    def load() -> None:
        with httpx.Client(base_url=server, timeout=60) as control:
            for _ in range(3):  # three loads in a row: a longer stretch to send through
                loads.append(control.put("/_sim/scenario", content=big))

    with httpx.Client(base_url=server, timeout=10) as http:
        http.post("/_sim/accounts/demo/topup", json={"credit": 1_000_000}).raise_for_status()
        loading = threading.Thread(target=load)
        loading.start()
        took: list[float] = []
        while loading.is_alive():
            started = time.perf_counter()
            answer = http.get(SEND)
            took.append(time.perf_counter() - started)
            assert answer.status_code == 200
            assert answer.text.startswith("ID:"), answer.text
        loading.join()
        rules = http.get("/_sim/rules").json()["rules"]
    assert [load.status_code for load in loads] == [200, 200, 200], loads[-1].text
    assert len(rules) == 5000
    assert len(took) >= 10, "the loads ended before the sends could overlap them"
    slow = [round(seconds, 3) for seconds in took if seconds > PROMPT]
    print(f"{len(took)} sends during three 5,000-rule loads: slowest {max(took):.3f} s")
    assert not slow, f"{len(slow)} of {len(took)} sends took over {PROMPT} s: {slow[:10]}"


def test_a_scenario_body_over_the_cap_is_refused_before_it_is_read(
    client_with: MakeClient,
) -> None:
    client = client_with(LIMITED)
    answer = client.put("/_sim/scenario", content=b"#" * 5000)
    assert answer.status_code == 413
    body = answer.json()
    assert set(body) == {"error", "detail"}
    assert "4096" in body["detail"]
    assert "--max-scenario-bytes" in body["detail"]

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(50):
            yield b"# " + b"x" * 98 + b"\n"

    answer = client.put("/_sim/scenario", content=chunked())
    assert answer.status_code == 413
    assert "--max-scenario-bytes" in answer.json()["detail"]
    assert client.get("/_sim/scenario").json()["accounts"][0]["username"] == "demo"


@pytest.mark.parametrize(
    ("text", "error", "detail"),
    [
        (
            accounts(4),
            "too_many_accounts",
            "the scenario has 4 accounts, over the limit of 3 (--max-accounts)",
        ),
        (
            many_rules(5),
            "too_many_rules",
            "the scenario has 5 rules, over the limit of 4 (--max-rules)",
        ),
    ],
)
def test_too_many_accounts_or_rules_are_refused_naming_the_cap(
    client_with: MakeClient, text: str, error: str, detail: str
) -> None:
    client = client_with(Limits(max_accounts=3, max_rules=4))
    answer = client.put("/_sim/scenario", content=text.encode())
    assert answer.status_code == 422
    assert answer.json() == {"error": error, "detail": f"PUT /_sim/scenario: {detail}"}
    at_the_cap = text.replace("  - {username: user3, password: pw}\n", "").replace(
        "  - {name: rule-4,", "  # {name: rule-4,"
    )
    assert client.put("/_sim/scenario", content=at_the_cap.encode()).status_code == 200


def test_adding_rules_past_the_cap_is_refused(client_with: MakeClient) -> None:
    client = client_with(Limits(max_rules=10))
    in_force = len(client.get("/_sim/rules").json()["rules"])
    assert in_force < 10
    for n in range(10 - in_force):
        rule = {"name": f"extra-{n}", "match": {"to": "447700900999"}, "action": {"error": "NO_TO"}}
        assert client.post("/_sim/rules", json=rule).status_code == 201
    answer = client.post("/_sim/rules", json={**rule, "name": "one-too-many"})
    assert answer.status_code == 422
    assert answer.json()["error"] == "too_many_rules"
    assert "limit of 10 (--max-rules)" in answer.json()["detail"]
    client.delete("/_sim/rules/extra-0")
    assert client.post("/_sim/rules", json={**rule, "name": "fits-again"}).status_code == 201


def test_a_scenario_file_over_the_caps_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("version: 1\n" + "#" * 5000 + "\n")
    with pytest.raises(OverLimit, match=r"big\.yaml: the scenario is 5012 bytes, over the limit"):
        load_scenario(big, LIMITED)
    # a device tells no size: it is read no further than the cap
    with pytest.raises(OverLimit, match=r"/dev/zero: the scenario is over 4096 bytes"):
        load_scenario("/dev/zero", LIMITED)
    many = tmp_path / "many.yaml"
    many.write_text(many_rules(5))
    with pytest.raises(
        ScenarioError, match=r"many\.yaml: the scenario has 5 rules, over the limit"
    ):
        load_scenario(many, LIMITED)
    assert len(load_scenario(many, Limits(max_rules=5)).rules) == 5
    with pytest.raises(OverLimit, match="over the limit of 4 "):
        parse_scenario(many_rules(5), limits=LIMITED)


def test_serve_refuses_a_scenario_file_over_the_caps(tmp_path: Path) -> None:
    many = tmp_path / "many.yaml"
    many.write_text(accounts(3))
    result = subprocess.run(
        [str(SCRIPT), "serve", "--port", "0", "--scenario", str(many), "--max-accounts", "2"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 1
    assert "the scenario has 3 accounts, over the limit of 2 (--max-accounts)" in result.stderr


def test_errors_quote_no_more_than_a_few_hundred_characters_of_a_value(
    client_with: MakeClient,
) -> None:
    huge = "Z" * 1_000_000
    bad = f"version: 1\naccounts: [{{username: a, password: b, default_country: {huge}}}]\n"
    answer = client_with(Limits()).put("/_sim/scenario", content=bad.encode())
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert len(detail) < 1000
    assert "(1000000 characters)" in detail
    assert "accounts[0].default_country" in detail

    for text in [
        f"version: 1\nsettings: {{line_ending: {huge}}}\n",  # pydantic's own message
        f"version: 1\naccounts: [{{username: a, password: b, status_url: {huge}}}]\n",
        f"version: 1\nsettings: {{{huge}: 1}}\n",  # an unknown key
        f"version: 1\nrules: [{{name: r, match: {{}}, action: {{reply: {{text: '{{{huge}}}'}}}}}}]\n",
        f"version: 1\nrules: [{{name: {huge}, action: {{}}}}, {{name: {huge}, action: {{}}}}]\n",
        f"version: 1\nsettings: {{seed: {'9' * 5000}}}\n",  # too many digits for Python
        f"version: 1\nsettings: *{huge}\n",  # an undefined alias, in YAML's own message
    ]:
        with pytest.raises(ScenarioError) as caught:
            parse_scenario(text)
        assert len(str(caught.value)) < 1500, str(caught.value)[:300]


def test_a_scenario_with_thousands_of_problems_lists_the_first_fifty() -> None:
    unroutable = ", ".join(["[1]"] * 5000)
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(f"version: 1\nnumbers: {{unroutable: [{unroutable}]}}\n", source="s.yaml")
    assert len(caught.value.problems) == 51
    assert caught.value.problems[-1] == "… and 4950 more problems"


def test_repeated_names_are_found_among_thousands() -> None:
    rules = many_rules(3000).replace("name: rule-2999,", "name: rule-7,")
    with pytest.raises(ScenarioError, match=r"rule names must be unique; repeated: rule-7$"):
        parse_scenario(rules, limits=Limits(max_rules=3000))
