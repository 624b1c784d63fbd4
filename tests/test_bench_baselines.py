"""The benchmark's own servers start and answer the benchmark's requests exactly: every case's
baseline (bare Starlette, python-multipart, the sleeping app, the simulator with its store
disabled), the bare ASGI ceiling and the simulator itself, spawned as `bench/run.py` spawns them
(not timed here); the bare apps and the callbacks receiver on granian's embedded server, as
`gateway-sim serve` configures it (uvicorn is no dependency); and the callbacks case's lean
client reads answers of either framing."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, ModuleType]:
    monkeypatch.syspath_prepend(str(BENCH))
    import cases
    import servers

    return cases, servers


@pytest.mark.parametrize("name", ["single", "hundred", "mms", "store", "latency"])
def test_each_case_baseline_and_simulator_answer_as_the_benchmark_checks(
    bench: tuple[ModuleType, ModuleType], name: str, tmp_path: Path
) -> None:
    cases, servers = bench
    case = next(c for c in cases.all_cases() if c.name == name)
    sides = [
        (True, servers.baseline_command(case.baseline)),
        (False, servers.simulator_command(case.scenario)),
    ]
    for baseline, command in sides:
        with servers.serve(name, command, tmp_path / f"{name}-{baseline}.log") as server:
            cases.verify(server.host, server.port, case, baseline=baseline)


@pytest.mark.parametrize("name", ["single", "hundred"])
def test_the_ceiling_answers_what_the_simulator_answers(
    bench: tuple[ModuleType, ModuleType], name: str, tmp_path: Path
) -> None:
    cases, servers = bench
    case = next(c for c in cases.all_cases() if c.name == name)
    command = servers.baseline_command("ceiling")
    with servers.serve(name, command, tmp_path / f"{name}-ceiling.log") as server:
        cases.verify(server.host, server.port, case, baseline=False)


@pytest.mark.usefixtures("bench")
def test_the_callbacks_receiver_counts_what_it_is_posted(tmp_path: Path) -> None:
    """bench/receiver.py, on the simulator's own server, holds a POST and counts it."""
    import callbacks
    import httpx

    with callbacks.receiver_process(tmp_path) as receiver:
        base = f"http://{receiver.host}:{receiver.port}"
        posted = httpx.post(f"{base}/status", data={"msgid": "1", "toaddr": "447700900001"})
        count = httpx.get(f"{base}/count").json()
    assert (posted.status_code, posted.text) == (200, "OK")
    assert (count["received"], count["answered"], count["distinct_toaddr"]) == (1, 1, 1)


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 23\r\n\r\n"
        b"ID:10011000000000000001",
        # WireMock's framing: chunked, here in two chunks and with a trailer
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nID:10\r\n12;ext=1\r\n011000000000000001\r\n0\r\nX-Trailer: 1\r\n\r\n",
    ],
    ids=["content-length", "chunked"],
)
@pytest.mark.usefixtures("bench")
def test_the_callbacks_lean_client_reads_one_whole_answer_at_a_time(raw: bytes) -> None:
    import asyncio

    import peers_callbacks

    async def read_twice() -> list[tuple[int, str]]:
        reader = asyncio.StreamReader()
        reader.feed_data(raw + raw.replace(b"200 OK", b"404 Not Found", 1))
        reader.feed_eof()
        return [await peers_callbacks._read_answer(reader) for _ in range(2)]

    assert asyncio.run(read_twice()) == [
        (200, "ID:10011000000000000001"),
        (404, "ID:10011000000000000001"),
    ]
