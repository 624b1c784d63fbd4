"""Crash safety with `--db`: `kill -9` in the middle of a load, then a restart on the same file.
Nothing that was answered `ID:` is missing, and the credit left matches the stored messages."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from decimal import Decimal
from pathlib import Path

import httpx

from tests.helpers_processes import QUIET, start

SCENARIO = """
version: 1
accounts:
  - {username: crash, password: c, credit: 100000}
"""
CREDIT = Decimal(100000)
CLIENTS = 32


async def _load_until_killed(url: str, pid: int, kill_after: float) -> list[str]:
    """Sends from 32 clients; the server is killed with SIGKILL mid-load. The ids answered."""
    answered: list[str] = []

    async def client(n: int, http: httpx.AsyncClient) -> None:
        fields = {"username": "crash", "password": "c", "text": "x" * (n * 7 % 300 + 1)}
        fields |= {"maxconcat": "2", "to": f"0770090{n:04d}"}
        while True:
            try:
                answer = await http.post("/smsgateway/sendmsg.aspx", data=fields)
            except httpx.TransportError:
                return
            if answer.text.startswith("ID:"):
                answered.append(answer.text.removeprefix("ID:"))

    async def killer() -> None:
        await asyncio.sleep(kill_after)
        os.kill(pid, signal.SIGKILL)

    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        await asyncio.gather(killer(), *(client(n, http) for n in range(CLIENTS)))
    return answered


def test_kill_9_under_load_loses_no_answered_message(tmp_path: Path) -> None:
    scenario, db = tmp_path / "crash.yaml", tmp_path / "crash.db"
    scenario.write_text(SCENARIO)
    args = ["--port", "0", "--scenario", str(scenario), "--db", str(db), *QUIET]
    process, url = start(args)
    started = time.monotonic()
    answered = asyncio.run(_load_until_killed(url, process.pid, kill_after=1.5))
    process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL
    assert len(answered) > 50, "too little load before the kill to prove anything"
    assert time.monotonic() - started < 30

    process, url = start(args)
    try:
        stored: dict[str, Decimal] = {}
        cursor = ""
        while True:
            page = httpx.get(f"{url}/_sim/messages?limit=1000{cursor}", timeout=30).json()
            stored |= {m["id"]: Decimal(m["cost"]) for m in page["messages"]}
            if page["next_cursor"] is None:
                break
            cursor = f"&cursor={page['next_cursor']}"
        missing = sorted(set(answered) - set(stored))
        assert not missing, f"{len(missing)} answered ids are missing after the restart"
        account = httpx.get(f"{url}/_sim/accounts").json()["accounts"][0]
        assert Decimal(account["credit"]) == CREDIT - sum(stored.values())
        # The id counter carries on past every stored id.
        after = httpx.post(
            f"{url}/smsgateway/sendmsg.aspx",
            data={"username": "crash", "password": "c", "to": "07700900123", "text": "after"},
        ).text
        assert after.removeprefix("ID:") > max(stored)
    finally:
        process.terminate()
        process.communicate(timeout=10)
