"""README "What is simulated": recipients, numbers: recipients are normalised, judged, de-duplicated, and listed."""

from __future__ import annotations

import phonenumbers
import pytest
from starlette.testclient import TestClient

from gateway_sim.domain import numbers
from gateway_sim.domain.numbers import NumberPlan, normalise, split_recipients
from gateway_sim.domain.scenario import Numbers
from gateway_sim.server.app import GatewayApp
from tests.conftest import SEND, ClientFor, app_of, stored

LOGIN = {"username": "demo", "password": "demo"}


@pytest.mark.parametrize(
    ("entry", "region", "expected"),
    [
        ("0771012345", "GB", "44771012345"),  # the vendor's own example pair
        ("44771012345", "GB", "44771012345"),
        ("+447700900123", "GB", "447700900123"),
        ("00447700900123", "GB", "447700900123"),
        ("07700 900-123", "GB", "447700900123"),
        ("(0)7700.900.123", "GB", "447700900123"),
        ("0612345678", "NL", "31612345678"),
        ("2025550123", "US", "2025550123"),  # no leading 0: already international (+20, Egypt)
        ("12025550123", "US", "12025550123"),
        ("0012025550123", "GB", "12025550123"),
        ("12", "GB", None),
        ("abc", "GB", None),
        ("4477009001\uff123", "GB", None),  # a full-width digit is not a digit here
        ("+", "GB", None),
        ("9" * 30, "GB", None),
    ],
)
def test_normalise(entry: str, region: str, expected: str | None) -> None:
    assert normalise(entry, region, False) == expected


def test_strict_validation_rejects_the_drama_range_and_the_vendor_example() -> None:
    assert normalise("07700900123", "GB", True) is None
    assert normalise("0771012345", "GB", True) is None
    assert normalise("07911123456", "GB", True) == "447911123456"


def test_repeated_numbers_are_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    normalise.cache_clear()
    calls: list[str] = []
    real_parse = phonenumbers.parse

    def counting_parse(number: str, region: str | None = None) -> phonenumbers.PhoneNumber:
        calls.append(number)
        return real_parse(number, region)

    monkeypatch.setattr(phonenumbers, "parse", counting_parse)
    plan = NumberPlan(Numbers())
    plan.recipients(["07700900555"] * 50, "GB")
    plan.recipients(["07700900555", "+447700900555"], "GB")
    NumberPlan(Numbers()).recipients(["07700900555"], "GB")
    assert calls == ["07700900555", "+447700900555"]


def test_a_to_field_is_routed_once_and_its_memory_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = NumberPlan(Numbers())
    to = "07700900123,12,+447700900123,07700900124"
    routing = plan.routing(to, "GB", 100)
    assert routing.entries == 4
    assert routing.shown == ("447700900123", "12", "447700900124")
    assert routing.routable == ("447700900123", "447700900124")
    assert not routing.all_routable
    assert plan.routing(to, "GB", 100) is routing
    assert plan.routing(to, "NL", 100) is not routing  # another region judges anew
    monkeypatch.setattr(numbers, "ROUTING_CHARS_KEPT", len(to) * 2)
    plan.routing("07700900125", "GB", 100)  # over the bound: all forgotten
    assert plan.routing(to, "GB", 100) is not routing
    assert plan.routing(to, "GB", 100) == routing


def test_entries_over_the_limit_are_counted_not_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    normalise.cache_clear()
    calls: list[str] = []
    monkeypatch.setattr(phonenumbers, "parse", lambda number, region=None: calls.append(number))
    routing = NumberPlan(Numbers()).routing(",".join(["07700900123"] * 101), "GB", 100)
    assert (routing.entries, routing.recipients, calls) == (101, (), [])


def test_multi_line_answers_follow_the_line_settings(client_for: ClientFor) -> None:
    client = client_for(
        "version: 1\nsettings: {line_ending: lf, trailing_newline: true}\n"
        "accounts: [{username: demo, password: demo, credit: 100}]\n"
    )
    all_accepted = client.post(SEND, data={**LOGIN, "to": "07700900123,07700900124", "text": "x"})
    mixed = client.post(SEND, data={**LOGIN, "to": "07700900123,12", "text": "x"})
    assert all_accepted.text == (
        "447700900123,ID:10011000000000000001\n447700900124,ID:10011000000000000001\n"
    )
    assert mixed.text == "447700900123,ID:10011000000000000002\n12,ERR:INVALID_NUMBER\n"


def test_split_drops_empty_entries_and_trims() -> None:
    assert split_recipients(" 1 ,,2, ,3,") == ["1", "2", "3"]


def test_unroutable_globs() -> None:
    plan = NumberPlan(Numbers(unroutable=["4477009009*", "1900???????"]))
    judged = plan.recipients(["07700900900", "07700900123", "19005550123"], "GB")
    assert [r.number for r in judged] == [None, "447700900123", None]


def test_multi_line_answer_normalises_and_drops_duplicates(client: TestClient) -> None:
    answer = client.post(
        SEND,
        data={
            **LOGIN,
            "to": "0771012345,44771012345, +44 7710 12345,12,12 ,07700900123,447700900900",
            "text": "hi",
        },
    )
    assert answer.content == (
        b"44771012345,ID:10011000000000000001\r\n"
        b"12,ERR:INVALID_NUMBER\r\n"
        b"447700900123,ID:10011000000000000001\r\n"
        b"447700900900,ERR:INVALID_NUMBER"
    )


def test_duplicates_collapse_to_a_single_line_answer(client: TestClient, app: GatewayApp) -> None:
    answer = client.post(
        SEND, data={**LOGIN, "to": "07700900123,+447700900123,00447700900123", "text": "x"}
    )
    assert answer.content == b"ID:10011000000000000001"
    assert app.gateway.accounts.get("demo").credit == 99  # type: ignore[union-attr]


def test_account_default_country(client_for: ClientFor) -> None:
    client = client_for(
        "version: 1\nsettings: {default_country: NL}\naccounts:\n"
        " - {username: demo, password: demo, credit: 9}\n"
        " - {username: de, password: de, credit: 9, default_country: DE}\n"
    )
    nl = client.post(SEND, data={**LOGIN, "to": "0612345678,0201234567", "text": "x"})
    assert (
        nl.content == b"31612345678,ID:10011000000000000001\r\n31201234567,ID:10011000000000000001"
    )
    de = client.post(
        SEND, data={"username": "de", "password": "de", "to": "07700900123", "text": "x"}
    )
    assert de.content == b"ID:10011000000000000002"
    assert stored(app_of(client), "10011000000000000002").recipients == ("497700900123",)


def test_strict_scenario_over_http(client_for: ClientFor) -> None:
    client = client_for(
        "version: 1\nnumbers: {validation: strict}\n"
        "accounts: [{username: demo, password: demo, credit: 9}]"
    )
    answer = client.post(SEND, data={**LOGIN, "to": "07700900123,07911123456", "text": "x"})
    assert (
        answer.content == b"07700900123,ERR:INVALID_NUMBER\r\n447911123456,ID:10011000000000000001"
    )
