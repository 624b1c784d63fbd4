"""The pytest plugin and the typed control-API client, tested through `pytester`: sample user
suites that use the `gateway_sim` and `sim_account` fixtures, in-process and against an external
simulator, and the failure messages a user sees."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from importlib.metadata import entry_points

import httpcore
import httpx
import pytest
from granian.server import embed

import gateway_sim.server.app
from gateway_sim.domain.scenario import DEFAULT_SCENARIO, load_scenario
from gateway_sim.testing.client import (
    MessageNotArrived,
    RefusedRequests,
    SimApiError,
    SimClient,
    SimMessage,
)
from tests.conftest import MMS, SEND, LiveServer

pytest_plugins = ["pytester"]

# httpcore, granian and gateway_sim.server.app are imported here so that pytester's in-process runs
# share them instead of importing (and dropping) them again for every run: httpx imports
# httpcore lazily and keeps its exception classes, so a second httpcore would escape httpx's
# error mapping. Not the plugin itself: the runs import it with -p (or by its entry point),
# which must come first for pytest to rewrite its asserts.
assert httpcore.ConnectError is not None
assert embed.Server is not None

# Once the `pytest11` entry point is installed pytest loads the plugin by itself; naming the
# module with -p as well would register it twice.
INSTALLED = any(
    ep.value == "gateway_sim.testing.pytest_plugin" for ep in entry_points(group="pytest11")
)
PLUGIN = () if INSTALLED else ("-p", "gateway_sim.testing.pytest_plugin")
ENV = ("GATEWAY_SIM_URL", "GATEWAY_SIM_CONTROL_TOKEN", "GATEWAY_SIM_SCENARIO")
TOKEN = "s3cret"

INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
filterwarnings = error
"""

HELPERS = '''
import httpx

SEND = "/smsgateway/sendmsg.aspx"


def send(gateway_sim, account, to="07700900123", text="hello", password=None):
    """Post one SMS the way a client under test would; the gateway's answer."""
    fields = {"username": account.username, "password": password or account.password,
              "to": to, "text": text}
    return httpx.post(gateway_sim.url + SEND, data=fields).text
'''


@pytest.fixture(autouse=True)
def _no_outer_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suites run here choose their simulator themselves, whatever the environment says."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makepyfile(helpers=HELPERS)
    return pytester


def brackets(pattern: str) -> str:
    """An fnmatch pattern with `[` taken literally (`*` and `?` stay wildcards)."""
    return pattern.replace("[", "[[]")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*PLUGIN, *args)


def test_a_sample_user_suite_passes(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_sample="""
        from decimal import Decimal

        from gateway_sim.testing.client import SimMessage
        from helpers import send


        def test_the_code_is_sent(gateway_sim, sim_account):
            assert send(gateway_sim, sim_account, text="your code is 1234").startswith("ID:")
            message = sim_account.wait_for_message(to="07700900123")
            assert isinstance(message, SimMessage)
            assert message.text == "your code is 1234"
            assert message.to == ("447700900123",)
            assert message.account == sim_account.username
            assert message.cost == Decimal(1)
            assert message.kind == "text"
            sim_account.assert_no_refused_requests()


        def test_fixture_shape(gateway_sim, sim_account):
            assert gateway_sim.url.startswith("http://127.0.0.1:")
            assert not gateway_sim.external
            assert gateway_sim.api.health().status == "ok"
            assert sim_account.username.startswith("t-")
            assert sim_account.credit == 100 == sim_account.balance()
            assert sim_account.messages() == []
            assert sim_account.requests() == []


        def test_the_session_helpers(gateway_sim, sim_account):
            send(gateway_sim, sim_account, to="07700900124", text="one")
            send(gateway_sim, sim_account, to="07700900124", text="two")
            newest = gateway_sim.wait_for_message(to="+447700900124", account=sim_account.username)
            assert newest.text == "two"
            assert [m.text for m in gateway_sim.messages(account=sim_account.username)] == [
                "two", "one"]
            [request, _] = gateway_sim.requests(account=sim_account.username)
            assert request.outcome == "accepted" and request.fields["password"] == "***"
            assert request.message_id == newest.id
            gateway_sim.assert_no_refused_requests(sim_account.username)
            assert sim_account.balance() == 98
        """
    )
    result = run(suite)
    result.assert_outcomes(passed=3)


def test_a_refused_request_fails_the_check_readably(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_refused="""
        from helpers import send


        def test_login(gateway_sim, sim_account):
            assert send(gateway_sim, sim_account, password="wrong") == "ERR:LOGIN_INVALID"
            sim_account.assert_no_refused_requests()
        """
    )
    result = run(suite)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            ">*sim_account.assert_no_refused_requests()",
            "E*RefusedRequests: 1 gateway request(s) of account 't-*' were not accepted*",
            brackets(
                "E*POST /smsgateway/sendmsg.aspx [username='t-*' to='07700900123'] "
                "-> 'ERR:LOGIN_INVALID' (refused; reason: *wrong password for account 't-*')"
            ),
        ]
    )
    # The failure points at the user's line, not into the plugin.
    assert "pytest_plugin.py" not in result.stdout.str()
    assert "client.py" not in result.stdout.str()


def test_a_message_that_never_comes_fails_readably(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_timeout="""
        from helpers import send


        def test_waits(gateway_sim, sim_account):
            send(gateway_sim, sim_account, to="07700900124", text="to someone else")
            send(gateway_sim, sim_account, to="07700900999", text="unroutable")
            sim_account.wait_for_message(to="07700900123", timeout=0.3)
        """
    )
    started = time.monotonic()
    result = run(suite)
    assert time.monotonic() - started < 10
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E*MessageNotArrived: no message matching to='07700900123', account='t-*' "
            "arrived within 0.3 s",
            "E*recent messages of account 't-*' (newest first):",
            brackets("E*[t-*] from 447700900100 to 447700900124: 'to someone else' at *"),
            "E*requests of account 't-*' that were not accepted (newest first):",
            "E*to='07700900999'] -> 'ERR:INVALID_NUMBER' (refused; reason: *)",
        ]
    )


def test_the_marker_and_indirect_parametrization_set_the_account(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_credit="""
        import pytest

        from helpers import send


        @pytest.mark.gateway_sim_account(credit=2, default_sender="Acme")
        def test_marker(gateway_sim, sim_account):
            assert sim_account.balance() == 2 == sim_account.credit
            assert sim_account.default_sender == "Acme"
            assert send(gateway_sim, sim_account).startswith("ID:")
            assert sim_account.wait_for_message().sender == "Acme"
            assert send(gateway_sim, sim_account).startswith("ID:")
            assert send(gateway_sim, sim_account) == "ERR:INSUFFICIENT_CREDIT"
            assert sim_account.balance() == 0
            [refused] = sim_account.requests(outcome="refused")
            assert refused.answer == "ERR:INSUFFICIENT_CREDIT"


        @pytest.mark.gateway_sim_account(0.5)
        def test_positional_credit(sim_account):
            assert str(sim_account.balance()) == "0.5"


        @pytest.mark.parametrize(
            "sim_account", [7, {"credit": "1.25", "default_country": "us"}], indirect=True
        )
        def test_indirect(sim_account):
            assert str(sim_account.balance()) in ("7", "1.25")
            assert sim_account.account().default_country in (None, "US")


        @pytest.mark.gateway_sim_account(credits=5)
        def test_a_misspelt_setting(sim_account):
            pass
        """
    )
    result = run(suite, "-v")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(
        ["*sim_account: unknown setting(s) credits; allowed: credit, default_sender, *"]
    )


def test_accounts_of_a_suite_see_only_their_own_messages(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_two="""
        import pytest

        import httpx

        from helpers import SEND, send

        SEEN = {}


        @pytest.mark.parametrize("name", ["a", "b"])
        def test_each_sees_its_own(gateway_sim, sim_account, name):
            SEEN[name] = sim_account.username
            assert send(gateway_sim, sim_account, text=f"from {name}").startswith("ID:")
            assert sim_account.wait_for_message(to="07700900123").text == f"from {name}"
            assert [m.text for m in sim_account.messages(to="07700900123")] == [f"from {name}"]
            assert len(sim_account.requests()) == 1


        def test_accounts_are_removed_and_unique(gateway_sim):
            assert SEEN["a"] != SEEN["b"]
            names = {a.username for a in gateway_sim.api.accounts()}
            assert not names & set(SEEN.values())
            # The session view sees both.
            texts = {m.text for m in gateway_sim.messages(to="07700900123")}
            assert {"from a", "from b"} <= texts


        def test_a_second_account_in_one_test(gateway_sim, sim_account):
            other = gateway_sim.api.put_account("other-" + sim_account.username, "pw", 5)
            try:
                fields = {"username": other.username, "password": "pw", "to": "07700900123",
                          "text": "other"}
                assert httpx.post(gateway_sim.url + SEND, data=fields).text.startswith("ID:")
                fields["password"] = "wrong"
                httpx.post(gateway_sim.url + SEND, data=fields)
                assert sim_account.messages() == []
                sim_account.assert_no_refused_requests()
                assert gateway_sim.messages(account=other.username)[0].text == "other"
            finally:
                gateway_sim.api.delete_account(other.username)
        """
    )
    result = run(suite, "-v")
    result.assert_outcomes(passed=4)


def test_each_account_sends_from_a_number_of_its_own(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_senders="""
        import pytest

        from helpers import send

        SENDERS = {}


        @pytest.mark.parametrize("name", ["a", "b", "c"])
        def test_sends(gateway_sim, sim_account, name):
            assert send(gateway_sim, sim_account, text=name).startswith("ID:")
            message = sim_account.wait_for_message(to="07700900123")
            assert message.sender == sim_account.default_sender == sim_account.account().default_sender
            SENDERS[name] = message.sender


        @pytest.mark.gateway_sim_account(default_sender="Acme")
        def test_a_chosen_sender_wins(gateway_sim, sim_account):
            send(gateway_sim, sim_account)
            assert sim_account.wait_for_message().sender == "Acme"


        def test_the_senders_are_distinct_numbers():
            senders = list(SENDERS.values())
            assert len(senders) == 3 == len(set(senders))
            assert all(s.isdigit() and s.startswith("447700900") for s in senders), senders
        """
    )
    run(suite, "-v").assert_outcomes(passed=5)


def test_the_report_header_names_the_in_process_simulator(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = run(suite)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "gateway-sim: in-process simulator, scenario default "
            "(started when a test first asks for it)"
        ]
    )
    scenario = run(suite, "--gateway-sim-scenario", "my.yaml", "--co")
    scenario.stdout.fnmatch_lines(["gateway-sim: in-process simulator, scenario my.yaml *"])


def test_a_scenario_file_for_the_in_process_simulator(suite: pytest.Pytester) -> None:
    scenario = DEFAULT_SCENARIO.read_text(encoding="utf-8").replace(
        "username: demo, password: demo", "username: alice, password: pw"
    )
    suite.makefile(".yaml", scenario=scenario)
    suite.makepyfile(
        test_scenario="""
        def test_accounts(gateway_sim):
            assert "alice" in {a.username for a in gateway_sim.api.accounts()}
        """
    )
    run(suite, "--gateway-sim-scenario", "scenario.yaml").assert_outcomes(passed=1)


# -- an external simulator ------------------------------------------------------------------


@pytest.fixture(scope="module")
def external(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`gateway-sim serve --port 0 --control-token …` in a subprocess; its URL."""
    log = tmp_path_factory.mktemp("external") / "stderr.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_SIM_")}
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway_sim", "serve", "--port=0", f"--control-token={TOKEN}"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
    assert process.stdout is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], 20)
        first = process.stdout.readline().decode() if ready else ""
        if "listening on " not in first:
            raise RuntimeError(f"gateway-sim did not start: {first!r} {log.read_text()!r}")
        yield first.split("listening on ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()


EXTERNAL_SUITE = """
from helpers import send


def test_external(gateway_sim, sim_account):
    assert gateway_sim.external
    assert gateway_sim.url == "{url}"
    assert send(gateway_sim, sim_account, text="via docker").startswith("ID:")
    assert sim_account.wait_for_message(to="07700900123").text == "via docker"
    sim_account.assert_no_refused_requests()
"""


def test_an_external_simulator_by_option(suite: pytest.Pytester, external: str) -> None:
    suite.makepyfile(test_external=EXTERNAL_SUITE.format(url=external))
    result = run(suite, "--gateway-sim-url", external, "--gateway-sim-token", TOKEN)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [f"gateway-sim: external simulator at {external} (from --gateway-sim-url)"]
    )


def test_an_external_simulator_by_environment(
    suite: pytest.Pytester, external: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_SIM_URL", external + "/")
    monkeypatch.setenv("GATEWAY_SIM_CONTROL_TOKEN", TOKEN)
    suite.makepyfile(test_external=EXTERNAL_SUITE.format(url=external))
    result = run(suite)
    result.assert_outcomes(passed=1)
    # The exported variable switched the simulator: the header says so.
    result.stdout.fnmatch_lines(
        [f"gateway-sim: external simulator at {external}/ (from GATEWAY_SIM_URL)"]
    )
    assert "in-process" not in result.stdout.str()


def test_an_external_simulator_needs_its_token(suite: pytest.Pytester, external: str) -> None:
    suite.makepyfile(test_external="def test_it(gateway_sim):\n    pass\n")
    result = run(suite, "--gateway-sim-url", external)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"*gateway-sim at {external} refused /_sim/health: 401 unauthorized: *--gateway-sim-token*"
        ]
    )


def test_an_unreachable_simulator_is_named(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_external="def test_it(gateway_sim):\n    pass\n")
    result = run(suite, "--gateway-sim-url", "http://127.0.0.1:9")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*gateway-sim at http://127.0.0.1:9 is not reachable: *"])


def test_the_options_are_in_the_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(*PLUGIN, "--help")
    result.stdout.fnmatch_lines(
        ["*--gateway-sim-url=URL*", "*--gateway-sim-token=TOKEN*", "*--gateway-sim-scenario=FILE*"]
    )
    markers = pytester.runpytest(*PLUGIN, "--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.gateway_sim_account(credit=100, *"])


# -- the client on its own ------------------------------------------------------------------


@pytest.fixture
def sim(live_server: Callable[..., LiveServer]) -> Iterator[tuple[SimClient, str]]:
    server = live_server(gateway_sim.server.app.create_app(load_scenario(DEFAULT_SCENARIO)))
    with SimClient(server.url) as client:
        yield client, server.url


def test_the_client_pages_errors_accounts_and_parts(
    sim: tuple[SimClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, url = sim
    login = {"username": "demo", "password": "demo"}
    with httpx.Client(base_url=url) as http:
        for n in range(5):
            http.post(SEND, data={**login, "to": "07700900123", "text": f"m{n}"})
        http.post(
            MMS,
            data={**login, "to": "07700900123", "type": "5", "text": "pic"},
            files=[("file", ("a.gif", b"GIF89a\x00\x01", "image/gif"))],
        )
    monkeypatch.setattr("gateway_sim.testing.client.PAGE_MOST", 2)  # pages of two: cursors followed
    texts = [m.text for m in client.messages(type="text", limit=None)]
    assert texts == ["m4", "m3", "m2", "m1", "m0"]
    assert [m.text for m in client.messages(type="text", limit=3)] == ["m4", "m3", "m2"]
    assert len(client.requests(path=SEND, outcome="accepted", limit=None)) == 5
    [mms] = client.messages(type=5)
    assert mms.content[0].filename == "a.gif"
    assert client.part(mms.id, 0) == b"GIF89a\x00\x01"
    assert client.message(mms.id) == mms
    with pytest.raises(SimApiError) as missing:
        client.message("1")
    assert (missing.value.status, missing.value.error) == (404, "not_found")
    with pytest.raises(SimApiError) as bad:
        client.messages(since="yesterday")
    assert (bad.value.status, bad.value.error) == (400, "bad_filter")
    assert "ISO 8601" in bad.value.detail

    created = client.put_account("zed", "pw", 3, default_country="de")
    assert (created.credit, created.default_country) == (Decimal(3), "DE")
    changed = client.put_account("zed", credit="2.5")
    assert changed == client.account("ZED")
    assert (changed.credit, changed.balance, changed.default_country) == (Decimal("2.5"), 2, "DE")
    assert client.delete_account("zed") is True
    assert client.delete_account("zed", missing_ok=True) is False
    with pytest.raises(SimApiError):
        client.delete_account("zed")

    with pytest.raises(SimApiError) as invalid:
        client.load_scenario("version: 1\nsettings: {nope: 1}\n")
    assert invalid.value.status == 422
    assert client.load_scenario(DEFAULT_SCENARIO.read_text(encoding="utf-8")) == ["demo"]
    assert client.messages() == []
    assert client.ready()


def test_the_client_helpers_raise_assertion_errors(sim: tuple[SimClient, str]) -> None:
    client, url = sim
    httpx.post(url + SEND, data={"username": "demo", "password": "x", "to": "1", "text": "t"})
    with pytest.raises(RefusedRequests) as refused:
        client.assert_no_refused_requests()
    assert isinstance(refused.value, AssertionError)
    assert "ERR:LOGIN_INVALID" in str(refused.value)
    client.assert_no_refused_requests(account="someone-else")
    with pytest.raises(MessageNotArrived) as waited:
        client.wait_for_message(to="07700900123", timeout=0)
    assert str(waited.value).splitlines()[:2] == [
        "no message matching to='07700900123' arrived within 0 s",
        "recent messages to '07700900123': none",
    ]
    assert waited.value.recent == ()
    login = {"username": "demo", "password": "demo"}
    httpx.post(url + SEND, data={**login, "to": "07700900123", "text": "t"})
    arrived = client.wait_for_message(to="07700900123", timeout=0)
    assert isinstance(arrived, SimMessage)
    assert (arrived.text, arrived.sender, arrived.to) == ("t", "447700900000", ("447700900123",))


def test_sim_account_has_access_keys_and_an_allowance(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_keys="""
        import httpx
        import pytest

        HTTPS = {"x-forwarded-proto": "https"}


        @pytest.mark.gateway_sim_account(credit=3, daily_allowance=1)
        def test_newer_apis(gateway_sim, sim_account):
            form = {**sim_account.keys, "to": "07700900123", "text": "hi"}
            url = gateway_sim.url + "/api/https/sendmsg.aspx"
            assert httpx.post(url, data=form, headers=HTTPS).text.startswith("ID:")
            assert httpx.post(url, data=form, headers=HTTPS).text == "ERR:DAILY_ALLOWANCE_EXCEEDED"
            balance = httpx.post(
                gateway_sim.url + "/api/json/getbalance.aspx",
                json={"auth": sim_account.json_auth},
                headers=HTTPS,
            )
            assert balance.json() == {"response_status": "ok", "balance": "2.0"}
            assert sim_account.wait_for_message(to="07700900123").text == "hi"
            assert len(sim_account.requests()) == 3
            assert sim_account.account().access_keys == (sim_account.accesskey,)
        """
    )
    run(suite).assert_outcomes(passed=1)
