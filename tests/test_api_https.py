"""`/api/https`: the legacy form fields, logged in by access keys, over HTTPS only; access keys and
daily allowances in scenarios and through `PUT /_sim/accounts`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from starlette.testclient import TestClient

from gateway_sim.domain.clock import ManualClock
from gateway_sim.domain.scenario import ScenarioError, parse_scenario
from gateway_sim.server.app import GatewayApp, create_app
from gateway_sim.store.store import Store
from gateway_sim.testing.client import SimClient
from tests.conftest import (
    SEND,
    START,
    ClientFor,
    LiveServer,
    app_of,
    build_app,
    credit,
)

HTTPS_SEND = "/api/https/sendmsg.aspx"
HTTPS_BALANCE = "/api/https/getbalance.aspx"
AWKWARD_SECRET = "p$%+[{^~!`x"
"""The characters of the vendor's example key, and a backtick."""
AWKWARD_ACCESS = "AK-$%+[{^~!`"
KEYS = {"accesskey": "AK1", "secretkey": AWKWARD_SECRET}
SCENARIO = """
version: 1
accounts:
  - username: demo
    password: demo
    credit: 100
    default_sender: "447700900000"
    access_keys:
      - {accesskey: AK1, secretkey: "p$%+[{^~!`x"}
      - {accesskey: "AK-$%+[{^~!`", secretkey: second}
  - username: capped
    password: pw
    credit: 100
    daily_allowance: 3
    access_keys: [{accesskey: CAP, secretkey: capsecret}]
"""
CAPPED = {"accesskey": "CAP", "secretkey": "capsecret"}


@pytest.fixture
def https(https_for: ClientFor) -> TestClient:
    return https_for(SCENARIO)


def send(client: TestClient, keys: dict[str, str], to: str = "07700900123", **extra: str) -> str:
    answer = client.post(HTTPS_SEND, data={**keys, "to": to, "text": "hi", **extra})
    assert answer.status_code == 200
    return answer.text


def test_awkward_keys_round_trip_urlencoded_by_post_and_get(https: TestClient) -> None:
    assert send(https, KEYS) == "ID:10011000000000000001"
    other = {"accesskey": AWKWARD_ACCESS, "secretkey": "second"}
    assert send(https, other) == "ID:10011000000000000002"
    assert https.get(HTTPS_BALANCE, params=KEYS).text == "BALANCE:98"
    encoded = f"accesskey=AK1&secretkey={quote(AWKWARD_SECRET, safe='')}&to=07700900123&text=x"
    assert "%2B" in encoded
    assert "%60" in encoded
    answer = https.post(
        HTTPS_SEND,
        content=encoded,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.text == "ID:10011000000000000003"
    assert credit(app_of(https)) == 97


def test_an_unencoded_plus_is_a_space_and_so_a_malformed_key(https: TestClient) -> None:
    raw = "accesskey=AK1&secretkey=p$%25+[{^~!`x&to=07700900123&text=x"
    answer = https.post(HTTPS_SEND, content=raw, headers={"content-type": ""})
    assert answer.text == "ERR:AUTH_PARAMETER_INVALID"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, "ERR:AUTH_PARAMETER_MISSING"),
        ({"username": "demo", "password": "demo"}, "ERR:AUTH_PARAMETER_MISSING"),
        ({"accesskey": "AK1"}, "ERR:AUTH_PARAMETER_MISSING"),
        ({"secretkey": AWKWARD_SECRET}, "ERR:AUTH_PARAMETER_MISSING"),
        ({"accesskey": "", "secretkey": AWKWARD_SECRET}, "ERR:AUTH_PARAMETER_MISSING"),
        ({"accesskey": "AK 1", "secretkey": AWKWARD_SECRET}, "ERR:AUTH_PARAMETER_INVALID"),
        ({"accesskey": "AK1", "secretkey": "caf\u00e9"}, "ERR:AUTH_PARAMETER_INVALID"),
        ({"accesskey": "AK1", "secretkey": "x" * 129}, "ERR:AUTH_PARAMETER_INVALID"),
        ({"accesskey": "AK1", "secretkey": "tab\there"}, "ERR:AUTH_PARAMETER_INVALID"),
        ({"accesskey": "nope", "secretkey": AWKWARD_SECRET}, "ERR:LOGIN_INVALID"),
        ({"accesskey": "AK1", "secretkey": "second"}, "ERR:LOGIN_INVALID"),
        ({"accesskey": "ak1", "secretkey": AWKWARD_SECRET}, "ERR:LOGIN_INVALID"),
    ],
)
def test_key_errors_in_order(https: TestClient, fields: dict[str, str], expected: str) -> None:
    for path in (HTTPS_SEND, HTTPS_BALANCE):
        answer = https.post(path, data={**fields, "to": "07700900123", "text": "x"})
        assert (answer.status_code, answer.text) == (200, expected)
    assert credit(app_of(https)) == 100
    assert list(app_of(https).store) == []


def test_after_login_the_legacy_checks_follow(https: TestClient) -> None:
    assert https.post(HTTPS_SEND, data={**KEYS, "text": "x"}).text == "ERR:NO_TO"
    assert https.post(HTTPS_SEND, data={**KEYS, "to": "07700900123"}).text == "ERR:NO_TEXT"
    mixed = send(https, KEYS, to="07700900123,12")
    assert mixed == "447700900123,ID:10011000000000000001\r\n12,ERR:INVALID_NUMBER"
    assert send(https, KEYS, type="9") == "ERR:INVALID_REQUEST"


def test_plain_http_is_not_secure_before_anything_else() -> None:
    app = build_app(SCENARIO)
    with TestClient(app) as plain:
        for path in (HTTPS_SEND, HTTPS_BALANCE):
            assert plain.post(path, data=KEYS).text == "ERR:CONNECTION_NOT_SECURE"
            assert plain.get(path).text == "ERR:CONNECTION_NOT_SECURE"
        forwarded = {"x-forwarded-proto": "https"}
        answer = plain.post(HTTPS_SEND, data={**KEYS, "to": "07700900123"}, headers=forwarded)
        assert answer.text == "ERR:CONNECTION_NOT_SECURE"  # not trusted without --trust-proxy
        assert plain.post(SEND, data={"username": "demo", "password": "demo"}).text == "ERR:NO_TO"
        refused = [
            e
            for e in plain.get("/_sim/requests").json()["requests"]
            if e["path"].startswith("/api/https/")
        ]
    assert len(refused) == 5
    assert all("needs HTTPS" in entry["reason"] for entry in refused)
    assert credit(app) == 100
    app.close()


def test_a_trusted_proxy_forwards_https_and_only_https() -> None:
    app = build_app(SCENARIO, trust_proxy=True)
    with TestClient(app) as plain:
        https = {"x-forwarded-proto": "https, http"}
        answer = plain.post(HTTPS_SEND, data={**KEYS, "to": "07700900123"}, headers=https)
        assert answer.text == "ERR:NO_TEXT"
        http = {"x-forwarded-proto": "http"}
        assert plain.get(HTTPS_BALANCE, params=KEYS, headers=http).text == (
            "ERR:CONNECTION_NOT_SECURE"
        )
        assert plain.get(HTTPS_BALANCE, params=KEYS).text == "ERR:CONNECTION_NOT_SECURE"
    app.close()


def test_journal_masks_secret_keys_and_names_the_account(https: TestClient) -> None:
    send(https, KEYS)
    https.post(HTTPS_SEND, data={"accesskey": "AK1", "secretkey": "wrong"})
    entries = https.get("/_sim/requests").json()["requests"]
    assert [e["answer"] for e in entries] == ["ERR:LOGIN_INVALID", "ID:10011000000000000001"]
    for entry in entries:
        assert entry["account"] == "demo"
        assert entry["fields"]["secretkey"] == "***"
        assert entry["fields"]["accesskey"] == "AK1"
        assert "secretkey=***" in entry["raw_body"]
        assert "wrong" not in entry["raw_body"]
        assert "%60" not in entry["raw_body"]
    assert https.get("/_sim/requests?account=demo").json()["requests"] == entries
    assert "wrong secret key" in entries[0]["reason"]


def test_rules_see_the_account_of_the_keys(client_for: Callable[[str], TestClient]) -> None:
    scenario = SCENARIO + (
        "rules:\n  - {name: down, match: {account: demo, endpoint: send}, "
        "action: {error: GATEWAY_ERROR}}\n"
    )
    app = build_app(scenario)
    with TestClient(app, base_url="https://testserver") as https:
        assert send(https, KEYS) == "ERR:GATEWAY_ERROR"
        assert https.get(HTTPS_BALANCE, params=KEYS).text == "BALANCE:100"
        (entry, *_) = https.get("/_sim/requests").json()["requests"]
        assert entry["rule"] is None
    app.close()


# -- daily allowance --------------------------------------------------------------------------


def test_daily_allowance_counts_recipients_per_utc_day_on_every_send_path(
    https: TestClient,
) -> None:
    app = app_of(https)
    assert send(https, CAPPED, to="07700900123,07700900124,12").startswith("447700900123,ID:")
    assert send(https, CAPPED, to="07700900125,07700900126") == "ERR:DAILY_ALLOWANCE_EXCEEDED"
    assert credit(app, "capped") == 98  # the refused send was not charged
    legacy = {"username": "capped", "password": "pw", "to": "07700900125", "text": "x"}
    assert https.post(SEND, data=legacy).text == "ID:10011000000000000002"
    assert https.post(SEND, data=legacy).text == "ERR:DAILY_ALLOWANCE_EXCEEDED"
    (account,) = [
        a for a in https.get("/_sim/accounts").json()["accounts"] if a["username"] == "capped"
    ]
    assert (account["daily_allowance"], account["daily_used"]) == (3, 3)
    assert https.get(HTTPS_BALANCE, params=CAPPED).text == "BALANCE:97"
    clock = app.gateway.clock
    assert isinstance(clock, ManualClock)
    clock.advance(21 * 3600)  # 2026-01-03 00:04:05 UTC: a new day
    assert send(https, CAPPED).startswith("ID:")
    assert https.get("/_sim/accounts").json()["accounts"][1]["daily_used"] == 1
    refused = https.get("/_sim/requests?outcome=refused").json()["requests"]
    assert all("daily allowance of 3" in entry["reason"] for entry in refused)


def test_an_allowance_is_not_spent_by_refused_sends(https: TestClient) -> None:
    https.put("/_sim/accounts/capped", json={"credit": 1})
    assert send(https, CAPPED, to="07700900123,07700900124") == "ERR:INSUFFICIENT_CREDIT"
    assert send(https, CAPPED, to="12") == "ERR:INVALID_NUMBER"
    assert send(https, CAPPED).startswith("ID:")
    https.put("/_sim/accounts/capped", json={"credit": 10, "daily_allowance": 1})
    assert send(https, CAPPED) == "ERR:DAILY_ALLOWANCE_EXCEEDED"
    lifted = https.put("/_sim/accounts/capped", json={"daily_allowance": None})
    assert lifted.json()["daily_allowance"] is None
    assert send(https, CAPPED).startswith("ID:")


def test_zero_allowance_refuses_every_send(https: TestClient) -> None:
    https.put("/_sim/accounts/demo", json={"daily_allowance": 0})
    assert send(https, KEYS) == "ERR:DAILY_ALLOWANCE_EXCEEDED"
    assert https.get(HTTPS_BALANCE, params=KEYS).text == "BALANCE:100"


# -- keys in scenarios and the control API ----------------------------------------------------


@pytest.mark.parametrize(
    ("accounts", "problem"),
    [
        (
            '[{username: a, password: p, access_keys: [{accesskey: "a b", secretkey: s}]}]',
            "accounts[0].access_keys[0].accesskey: not a well-formed key: character ' '",
        ),
        (
            "[{username: a, password: p, access_keys: [{accesskey: k}]}]",
            "accounts[0].access_keys[0].secretkey: required key is missing",
        ),
        (
            "[{username: a, password: p, access_keys: [{accesskey: k, secretkey: s, x: 1}]}]",
            "accounts[0].access_keys[0].x: unknown key; allowed keys: accesskey, secretkey",
        ),
        (
            "[{username: a, password: p, access_keys: [{accesskey: k, secretkey: s}]},"
            " {username: b, password: p, access_keys: [{accesskey: k, secretkey: t}]}]",
            "accounts: access keys must be unique; repeated: k",
        ),
        (
            "[{username: a, password: p, daily_allowance: -1}]",
            "accounts[0].daily_allowance: Input should be greater than or equal to 0",
        ),
    ],
)
def test_bad_keys_and_allowances_fail_the_scenario(accounts: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as error:
        parse_scenario(f"version: 1\naccounts: {accounts}\n", source="s.yaml")
    assert f"s.yaml: {problem}" in str(error.value)


def test_keys_through_put_accounts(https: TestClient) -> None:
    pair = {"accesskey": "NEW~key", "secretkey": "s`cr$t"}
    created = https.put(
        "/_sim/accounts/bob", json={"password": "pw", "credit": 5, "access_keys": [pair]}
    )
    assert created.status_code == 201
    assert created.json()["access_keys"] == [{"accesskey": "NEW~key", "secretkey": "***"}]
    assert https.get(HTTPS_BALANCE, params=pair).text == "BALANCE:5"
    taken = https.put("/_sim/accounts/carol", json={"password": "pw", "access_keys": [KEYS]})
    assert taken.status_code == 409
    assert taken.json()["error"] == "access_key_taken"
    assert app_of(https).gateway.accounts.get("carol") is None
    bad = https.put(
        "/_sim/accounts/bob", json={"access_keys": [{"accesskey": "a b", "secretkey": "s"}]}
    )
    assert bad.status_code == 422
    assert "access_keys[0].accesskey" in bad.json()["detail"]
    twice = https.put("/_sim/accounts/bob", json={"access_keys": [pair, pair]})
    assert twice.status_code == 422
    replaced = https.put(
        "/_sim/accounts/bob", json={"access_keys": [{"accesskey": "B2", "secretkey": "s"}]}
    )
    assert replaced.status_code == 200
    assert https.get(HTTPS_BALANCE, params=pair).text == "ERR:LOGIN_INVALID"
    assert (
        https.get(HTTPS_BALANCE, params={"accesskey": "B2", "secretkey": "s"}).text == "BALANCE:5"
    )
    assert https.delete("/_sim/accounts/bob").status_code == 204
    assert https.get(HTTPS_BALANCE, params={"accesskey": "B2", "secretkey": "s"}).text == (
        "ERR:LOGIN_INVALID"
    )
    assert https.get(HTTPS_BALANCE, params=KEYS).text == "BALANCE:100"  # own keys again: fine
    assert https.put("/_sim/accounts/demo", json={"access_keys": [KEYS]}).status_code == 200


def test_reset_restores_the_scenario_keys(https: TestClient) -> None:
    https.put("/_sim/accounts/demo", json={"access_keys": []})
    assert https.get(HTTPS_BALANCE, params=KEYS).text == "ERR:LOGIN_INVALID"
    https.post("/_sim/reset")
    assert https.get(HTTPS_BALANCE, params=KEYS).text == "BALANCE:100"


# -- real sockets -----------------------------------------------------------------------------


def test_plain_http_over_a_real_socket_is_not_secure(
    live_server: Callable[[GatewayApp], LiveServer],
) -> None:
    server = live_server(build_app(SCENARIO))
    answer = httpx.post(server.url + HTTPS_SEND, data={**KEYS, "to": "07700900123", "text": "x"})
    assert (answer.status_code, answer.text) == (200, "ERR:CONNECTION_NOT_SECURE")
    forwarded = httpx.get(
        server.url + HTTPS_BALANCE, params=KEYS, headers={"x-forwarded-proto": "https"}
    )
    assert forwarded.text == "ERR:CONNECTION_NOT_SECURE"


def test_the_cli_trusts_the_proxy_only_when_told(tmp_path: Path) -> None:
    scenario = tmp_path / "keys.yaml"
    scenario.write_text(SCENARIO)
    script = Path(sys.executable).parent / "gateway-sim"
    forwarded = {"x-forwarded-proto": "https"}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_SIM_")}
    for flags, env, expected in (
        ([], {}, "ERR:CONNECTION_NOT_SECURE"),
        ([], {"GATEWAY_SIM_TRUST_PROXY": "False"}, "ERR:CONNECTION_NOT_SECURE"),
        ([], {"GATEWAY_SIM_TRUST_PROXY": "1"}, "BALANCE:100"),
        (["--trust-proxy"], {}, "BALANCE:100"),
    ):
        process = subprocess.Popen(
            [str(script), "serve", "--port", "0", "--scenario", str(scenario), *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**clean, **env},
        )
        try:
            assert process.stdout is not None
            url = process.stdout.readline().split("listening on ", 1)[1].strip()
            answer = httpx.get(url + HTTPS_BALANCE, params=KEYS, headers=forwarded)
            assert answer.text == expected
        finally:
            process.terminate()
            process.communicate(timeout=10)


def test_the_typed_client_sets_and_shows_keys_and_allowance(
    live_server: Callable[[GatewayApp], LiveServer],
) -> None:
    server = live_server(build_app(SCENARIO, trust_proxy=True))
    with SimClient(server.url) as client:
        bob = client.put_account(
            "bob", "pw", 5, access_keys={"BOB~1": "s`cr$t+"}, daily_allowance=1
        )
        assert (bob.access_keys, bob.daily_allowance, bob.daily_used) == (("BOB~1",), 1, 0)
        keys = {"accesskey": "BOB~1", "secretkey": "s`cr$t+", "to": "07700900123", "text": "x"}
        forwarded = {"x-forwarded-proto": "https"}
        assert httpx.post(server.url + HTTPS_SEND, data=keys, headers=forwarded).text.startswith(
            "ID:"
        )
        bob = client.account("bob") or bob
        assert (bob.daily_used, bob.balance) == (1, 4)
        assert client.put_account("bob", daily_allowance=-1).daily_allowance is None


def test_keys_and_daily_counts_survive_a_restart_with_a_database(tmp_path: Path) -> None:
    database = tmp_path / "sim.db"
    for expected in ("ID:10011000000000000001", "ERR:DAILY_ALLOWANCE_EXCEEDED"):
        scenario = parse_scenario(SCENARIO)
        app = create_app(scenario, clock=ManualClock(START), store=Store(str(database)))
        with TestClient(app, base_url="https://testserver") as https:
            https.put("/_sim/accounts/capped", json={"daily_allowance": 1})
            assert send(https, CAPPED) == expected
        app.close()


def test_an_mms_through_the_keyed_path(https: TestClient) -> None:
    answer = https.post(
        HTTPS_SEND,
        data={**KEYS, "to": "07700900123", "type": "5", "text": "subject"},
        files={"file": ("a.gif", b"GIF89a\x00\x01", "image/gif")},
    )
    assert answer.text == "ID:10011000000000000001"
    (message,) = https.get("/_sim/messages").json()["messages"]
    assert (message["kind"], message["content"][0]["filename"]) == ("mms", "a.gif")
    assert credit(app_of(https)) == 95
