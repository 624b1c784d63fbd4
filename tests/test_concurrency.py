"""Credit is debited atomically: concurrent submissions can never overspend (real socket)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import httpx

from tests.conftest import BALANCE, SEND, LiveServer, build_app


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
    assert len(gateway.store) == 20
