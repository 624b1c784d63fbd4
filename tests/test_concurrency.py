"""Credit is debited atomically: concurrent submissions can never overspend, and the ledger
(starting credit + top-ups - the cost of stored messages) balances under concurrent sends, top-ups
and resets, with unique ids (real sockets)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import BALANCE, SEND, LiveServer, build_app
from tests.helpers_processes import QUIET, start
from tests.protocol_answers import assert_protocol_answer


def test_fifty_concurrent_sends_against_credit_for_twenty(
    live_server: Callable[..., LiveServer],
) -> None:
    server = live_server(
        build_app("version: 1\naccounts: [{username: demo, password: demo, credit: 20}]")
    )
    login = {"username": "demo", "password": "demo"}

    async def burst() -> list[str]:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            answers = await asyncio.gather(
                *(
                    http.post(SEND, data={**login, "to": f"077009001{n:02d}", "text": "x"})
                    for n in range(50)
                )
            )
            return [answer.text for answer in answers]

    answers = asyncio.run(burst())
    accepted = [a for a in answers if a.startswith("ID:")]
    assert len(accepted) == 20
    assert answers.count("ERR:INSUFFICIENT_CREDIT") == 30
    assert len(set(accepted)) == 20
    assert httpx.get(server.url + BALANCE, params=login).text == "BALANCE:0"
    gateway = server.app.gateway
    assert gateway.accounts.get("demo").credit == Decimal(0)  # type: ignore[union-attr]
    assert len(server.app.store) == 20


# --- The ledger under concurrent sends, top-ups and resets (real process) ------------------------

LEDGER_SCENARIO = """
version: 1
prices: {sms_part: 1, unicode_part: 2, binary: 3, wap_push: 2, voice_part: 4, mms: 5}
accounts:
  - {username: alpha, password: a, credit: 300}
  - {username: beta, password: b, credit: 150}
"""
LEDGER_START = {"alpha": Decimal(300), "beta": Decimal(150)}
PASSWORDS = {"alpha": "a", "beta": "b"}
CLIENTS = 64
SENDS_EACH = 8


def _random_send(rng: random.Random) -> tuple[str, dict[str, str], dict[str, Any] | None]:
    """A send of random kind, size and recipients (some unroutable): a random cost."""
    account = rng.choice(["alpha", "beta"])
    fields = {"username": account, "password": PASSWORDS[account]}
    pool = ["07700900123", "447700900124", "+44 7700 900125", "12", "07700900126"]
    fields["to"] = ",".join(rng.sample(pool, rng.randint(1, 3)))
    kind = rng.choice([1, 1, 2, 3, 4, 5, 6])
    fields["type"] = str(kind)
    text = "".join(rng.choice("abc€ 12") for _ in range(rng.randint(1, 500)))
    if kind in (1, 6):
        fields |= {"text": text, "maxconcat": str(rng.randint(1, 4))}
    elif kind == 2:
        fields |= {"hex": text.encode("utf-16-be").hex(), "maxconcat": str(rng.randint(1, 4))}
    elif kind == 3:
        fields |= {"ud": "00" * rng.randint(1, 100)}
    elif kind == 4:
        fields |= {"href": "http://example.com/x", "text": text[:40]}
    files = None
    if kind == 5:
        files = {"f": ("pic.gif", b"GIF89a" + bytes(rng.randint(1, 200)), "image/gif")}
    return account, fields, files


def _ids(answer: str) -> list[str]:
    return [line.rpartition("ID:")[2] for line in answer.split("\r\n") if "ID:" in line]


async def _ledger_load(url: str, seed: int, control: Callable[..., Any]) -> list[str]:
    """64 clients sending while `control` tops up (and maybe resets); the answered ids."""
    answered: list[str] = []

    async def client(n: int, http: httpx.AsyncClient) -> None:
        rng = random.Random(seed * 1000 + n)
        for _ in range(SENDS_EACH):
            _, fields, files = _random_send(rng)
            answer = await http.post(SEND, data=fields, files=files)
            assert_protocol_answer(answer.status_code, answer.content)
            answered.extend(dict.fromkeys(_ids(answer.text)))

    limits = httpx.Limits(max_connections=CLIENTS + 4)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        await asyncio.gather(control(http), *(client(n, http) for n in range(CLIENTS)))
    return answered


def _stored(url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = httpx.get(f"{url}/_sim/messages?limit=1000{cursor}").json()
        found += page["messages"]
        if page["next_cursor"] is None:
            return found
        cursor = f"&cursor={page['next_cursor']}"


def _assert_ledger_balances(url: str, topped_up: dict[str, Decimal]) -> list[dict[str, Any]]:
    """Balance = starting credit + top-ups - the cost of every stored message, per account."""
    stored = _stored(url)
    accounts = {
        a["username"]: Decimal(a["credit"])
        for a in httpx.get(f"{url}/_sim/accounts").json()["accounts"]
    }
    for name, initial in LEDGER_START.items():
        spent = sum((Decimal(m["cost"]) for m in stored if m["account"] == name), Decimal(0))
        assert accounts[name] == initial + topped_up[name] - spent, name
        assert accounts[name] >= 0
    return stored


@pytest.fixture
def ledger_server(tmp_path: Path) -> Iterator[str]:
    scenario = tmp_path / "ledger.yaml"
    scenario.write_text(LEDGER_SCENARIO)
    process, url = start(["--port", "0", "--scenario", str(scenario), *QUIET])
    yield url
    process.terminate()
    process.communicate(timeout=10)


def test_the_ledger_balances_and_ids_are_unique_under_concurrent_top_ups(
    ledger_server: str,
) -> None:
    topped_up = dict.fromkeys(LEDGER_START, Decimal(0))

    async def top_ups(http: httpx.AsyncClient) -> None:
        rng = random.Random(7)
        for _ in range(25):
            await asyncio.sleep(rng.random() / 50)
            name, amount = rng.choice(["alpha", "beta"]), Decimal(rng.randint(1, 40)) / 4
            answer = await http.post(f"/_sim/accounts/{name}/topup", json={"credit": str(amount)})
            assert answer.status_code == 200, answer.text
            topped_up[name] += amount

    answered = asyncio.run(_ledger_load(ledger_server, 1, top_ups))
    stored = _assert_ledger_balances(ledger_server, topped_up)
    assert len(answered) == len(set(answered)), "an id was given to two submissions"
    assert sorted(answered) == sorted(m["id"] for m in stored)
    assert len(stored) > 50  # the load really spent credit (and ran out at times)


def test_the_ledger_balances_when_resets_land_between_sends(ledger_server: str) -> None:
    topped_up = dict.fromkeys(LEDGER_START, Decimal(0))

    async def top_ups_and_resets(http: httpx.AsyncClient) -> None:
        rng = random.Random(11)
        for step in range(30):
            await asyncio.sleep(rng.random() / 50)
            if step % 7 == 3:
                assert (await http.post("/_sim/reset")).status_code == 200
                topped_up.update(dict.fromkeys(LEDGER_START, Decimal(0)))
                continue
            name, amount = rng.choice(["alpha", "beta"]), Decimal(rng.randint(1, 40))
            answer = await http.post(f"/_sim/accounts/{name}/topup", json={"credit": str(amount)})
            assert answer.status_code == 200, answer.text
            topped_up[name] += amount

    asyncio.run(_ledger_load(ledger_server, 2, top_ups_and_resets))
    stored = _assert_ledger_balances(ledger_server, topped_up)
    ids = [m["id"] for m in stored]
    assert len(ids) == len(set(ids))
