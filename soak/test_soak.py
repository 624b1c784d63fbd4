"""The soak (`make soak`, not part of `make test`): 1,000,000 sends through one real
`gateway-sim serve` with default retention. Every answer must be `ID:`; the resident memory must
stay flat once warmed up; the store and the journal must end at their caps.

`SOAK_SENDS` changes the count (e.g. `SOAK_SENDS=50000 make soak` for a quick look). The load comes
from asyncio clients on keep-alive connections over loopback, bounded in count, so the run stops
by itself (about two minutes on a 2-core machine).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway_sim.store.store import Retention
from tests.test_cli import QUIET, start

SENDS = int(os.environ.get("SOAK_SENDS", "1000000"))
CONNECTIONS = 32
SAMPLES = 10
WARM = 0.2  # RSS is judged from this share of the sends on
SLACK_KIB = 16 * 1024  # allowed growth after warm-up: allocator noise, not a leak
SCENARIO = """
version: 1
accounts:
  - {username: soak, password: soak, credit: 100000000, default_sender: "447700900000"}
"""
BODY = b"username=soak&password=soak&to=07700900123,447700900124&text=soak+test+message"


def _request(host: str) -> bytes:
    return (
        b"POST /smsgateway/sendmsg.aspx HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
    )


async def _client(host: str, port: int, sends: int, errors: list[bytes]) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    request = _request(host)
    done = 0
    try:
        for _ in range(sends):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length_at = head.lower().index(b"content-length:") + 15
            length = int(head[length_at : head.index(b"\r\n", length_at)])
            body = await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200 ") or body.count(b",ID:") != 2:
                errors.append(head + body)
            done += 1
    finally:
        writer.close()
    return done


async def _drive(host: str, port: int, sends: int, errors: list[bytes]) -> int:
    share, extra = divmod(sends, CONNECTIONS)
    counts = [share + (1 if i < extra else 0) for i in range(CONNECTIONS)]
    done = await asyncio.gather(*(_client(host, port, n, errors) for n in counts))
    return sum(done)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=120) as answer:
        data: dict[str, Any] = json.load(answer)
        return data


def _count(url: str, path: str, key: str) -> int:
    count, cursor = 0, ""
    while True:
        page = _get(f"{url}{path}?limit=1000{cursor}")
        count += len(page[key])
        if page["next_cursor"] is None:
            return count
        cursor = f"&cursor={page['next_cursor']}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, str]]:
    scenario = tmp_path / "soak.yaml"
    scenario.write_text(SCENARIO)
    process, url = start(["--port", "0", "--scenario", str(scenario), *QUIET])
    yield process.pid, url
    process.terminate()
    process.communicate(timeout=10)


def test_a_million_sends_keep_memory_flat_and_the_store_at_its_caps(
    server: tuple[int, str],
) -> None:
    pid, url = server
    host, port = url.removeprefix("http://").split(":")
    errors: list[bytes] = []
    samples: list[tuple[int, int]] = []
    sent, started = 0, time.monotonic()
    step = SENDS // SAMPLES
    while sent < SENDS:
        batch = min(step, SENDS - sent)
        sent += asyncio.run(_drive(host, int(port), batch, errors))
        samples.append((sent, _rss_kib(pid)))
        print(f"soak: {sent:>9,} sends, RSS {samples[-1][1] / 1024:6.1f} MiB", flush=True)
    elapsed = time.monotonic() - started
    print(f"soak: {sent:,} sends in {elapsed:.0f} s ({sent / elapsed:,.0f}/s)", flush=True)

    assert sent == SENDS
    assert not errors, f"{len(errors)} answers were not two IDs; first: {errors[0]!r}"
    warm = [rss for count, rss in samples if count >= SENDS * WARM]
    assert max(warm) - warm[0] <= SLACK_KIB, f"RSS grew after warm-up: {samples}"

    limits = Retention()
    health = _get(f"{url}/_sim/messages?limit=1")
    assert int(health["next_cursor"]) == SENDS  # every send was stored, the newest is the last
    assert _count(url, "/_sim/messages", "messages") == min(SENDS, limits.max_messages)
    assert _count(url, "/_sim/requests", "requests") == min(SENDS, limits.max_journal)
    balance = urllib.request.urlopen(
        f"{url}/smsgateway/getbalance.aspx?username=soak&password=soak", timeout=10
    ).read()
    assert balance == f"BALANCE:{100_000_000 - 2 * SENDS}".encode()
