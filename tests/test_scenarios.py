"""Scenario files: every shipped file loads; bad ones fail naming file, key path and allowed values."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway_sim.domain.scenario import (
    DEFAULT_SCENARIO,
    ScenarioError,
    load_scenario,
    parse_scenario,
)
from tests.conftest import BALANCE, SEND, build_app

TOP = Path(__file__).parent.parent / "scenarios"
SHIPPED = sorted(TOP.glob("*.yaml"))


def test_the_top_level_scenarios_are_copies_of_the_packaged_ones() -> None:
    """`scenarios/` is a real folder (a symlink breaks Windows checkouts) holding the same files,
    byte for byte, as the package's own (gateway_sim/scenarios/, which the wheel ships)."""
    assert TOP.is_dir()
    assert not TOP.is_symlink()
    packaged = DEFAULT_SCENARIO.parent
    assert packaged.resolve() != TOP.resolve()
    top = {path.name: path.read_bytes() for path in TOP.iterdir()}
    assert top == {path.name: path.read_bytes() for path in packaged.iterdir()}
    assert {"default.yaml", "low-credit.yaml", "multi-account.yaml"} <= set(top)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_scenario_loads_and_serves(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.accounts, "a shipped scenario should have an account to log in to"
    account = scenario.accounts[0]
    with TestClient(build_app(scenario)) as client:
        balance = client.get(
            BALANCE, params={"username": account.username, "password": account.password}
        )
        assert balance.content == f"BALANCE:{int(account.credit)}".encode()


def test_low_credit_scenario_runs_out(tmp_path: Path) -> None:
    scenario = load_scenario(DEFAULT_SCENARIO.parent / "low-credit.yaml")
    with TestClient(build_app(scenario)) as client:
        send = {"username": "demo", "password": "demo", "to": "07700900123", "text": "x"}
        assert client.post(SEND, data=send).content == b"ID:10011000000000000001"
        assert client.post(SEND, data=send).content == b"ERR:INSUFFICIENT_CREDIT"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 2", "bad.yaml: version: Input should be 1 (got 2)"),
        ("settings: {}", "bad.yaml: version: required key is missing"),
        (
            "version: 1\nsettings: {line_ending: cr}",
            "bad.yaml: settings.line_ending: Input should be 'crlf' or 'lf' (got 'cr')",
        ),
        (
            "version: 1\nsettings: {colour: red}",
            "bad.yaml: settings.colour: unknown key; allowed keys: id_start, line_ending, "
            "trailing_newline, default_country, mms_max_bytes, max_body_bytes, max_header_bytes, "
            "subaccount_credit, seed",
        ),
        (
            "version: 1\naccounts: [{username: a, pasword: b}]",
            "bad.yaml: accounts[0].pasword: unknown key; allowed keys: username, password, credit, "
            "default_sender, default_country, status_url",
        ),
        (
            "version: 1\naccounts: [{username: a}]",
            "bad.yaml: accounts[0].password: required key is missing",
        ),
        (
            "version: 1\naccounts: [{username: a, password: b, credit: -1}]",
            "bad.yaml: accounts[0].credit: Input should be greater than or equal to 0 (got -1)",
        ),
        (
            "version: 1\nnumbers: {validation: loose}",
            "bad.yaml: numbers.validation: Input should be 'possible' or 'strict' (got 'loose')",
        ),
        (
            "version: 1\nsettings: {default_country: XX}",
            "bad.yaml: settings.default_country: 'XX' is not a region code",
        ),
        (
            "version: 1\naccounts: [{username: a, password: b}, {username: A, password: c}]",
            "bad.yaml: accounts: username 'A' appears twice",
        ),
        ("- just a list", "bad.yaml: the top level must be a mapping"),
        ("version: [", "bad.yaml: not valid YAML"),
        (
            "version: 1\nsettings: {id_start: 100000000000000000000}",
            "bad.yaml: settings.id_start: Input should be less than or equal to",
        ),
    ],
)
def test_bad_scenarios_name_file_key_path_and_allowed_values(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, source="bad.yaml")
    assert expected in str(caught.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read the file"):
        load_scenario(tmp_path / "missing.yaml")
