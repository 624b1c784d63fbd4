"""Callbacks against the peers: 1,000 delivery reports to the slow receiver, cold and warm.

One receiver process (bench/receiver.py, 100 ms per POST) serves every side. Per side:

- `baseline`: the bare httpx client of bench/callbacks.py posts the 1,000 report forms itself,
  64 at once (two rounds; there is no server to warm);
- `gateway-sim` (and `before`, the revision before the edge change): a fresh `gateway-sim serve`
  on bench/callbacks.py's scenario (status_url = the receiver, one report per recipient at once,
  `callback_concurrency: 64`);
- `wiremock`: a fresh WireMock whose `delrpt=1` stub's webhook posts the report form to the
  receiver (bench/wiremock.py), `--webhook-threadpool-size 64`.

The servers get the same load: 1,000 single-recipient sends (07700900000..07700900999) with
`delrpt=1`, 64 keep-alive connections at once, each answer checked, sent by a lean client
(asyncio streams and a few lines reading a Content-Length or chunked answer: an httpx client
driving the sends took as much CPU as the servers, and on 2 cores slowed both). A round is timed
from just before the first send to the receiver's arrival of the 1,000th report. The cold round
runs right after the server's first answer; then wrk drives the `single` send (no `delrpt`: no
report) for `warm_after` s, and the warm round follows. Each round must bring exactly 1,000
reports for 1,000 distinct `toaddr`, and each simulator side must list 1,000 delivered attempts
for that round's message ids.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import callbacks
import cases as cases_module
import httpx
import peers_sides
import servers
import wiremock
import wrk
from callbacks import CONCURRENCY, NUMBERS, TOTAL, CallbacksRun, Recorded
from peers_sides import SIMULATOR_SIDES, wiremock_flags

_ID = re.compile(r"ID:([0-9]{20})")


def send_forms() -> list[dict[str, str]]:
    """1,000 single-recipient sends asking for a delivery report."""
    return [
        {
            "username": cases_module.USERNAME,
            "password": cases_module.PASSWORD,
            "to": number,
            "text": "Benchmark delivery report",
            "delrpt": "1",
        }
        for number in NUMBERS
    ]


def _msgid(attempt: dict[str, Any]) -> str:
    return str(attempt["fields"]["msgid"]).removeprefix("ID:")


async def _recorded(client: httpx.AsyncClient, base: str, ids: set[str]) -> Recorded:
    """The simulator's attempts for this round's message ids, polled until all are delivered."""
    started = time.monotonic()
    while True:
        found = await callbacks._count_attempts(client, base, "delivered")
        delivered = [attempt for attempt in found if _msgid(attempt) in ids]
        if len(delivered) >= TOTAL or time.monotonic() - started > callbacks.RECORD_TIMEOUT:
            break
        await asyncio.sleep(0.05)
    everything = await callbacks._count_attempts(client, base, "")
    attempts = [attempt for attempt in everything if _msgid(attempt) in ids]
    recipients = {attempt["fields"]["toaddr"] for attempt in delivered}
    return Recorded(len(attempts), len(delivered), len(recipients), time.monotonic() - started)


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, str]:
    """One whole HTTP/1.1 response (Content-Length or chunked); its status and body."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *fields = head[:-4].split(b"\r\n")
        length, chunked = 0, False
        for field in fields:
            name, _, value = field.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        if not chunked:
            body = await reader.readexactly(length)
        else:
            chunks = []
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)  # the chunk's CRLF
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers
            body = b"".join(chunks)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
        raise ConnectionError(f"the server closed the connection mid-answer: {error}") from None
    return int(status_line.split(b" ", 2)[1]), body.decode("utf-8", "replace")


def raw_requests(host: str, port: int) -> list[bytes]:
    """The 1,000 sends as whole HTTP/1.1 requests (keep-alive)."""
    head = (
        f"POST {cases_module.SEND_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\n"
    )
    bodies = [urlencode(form).encode() for form in send_forms()]
    return [head.format(length=len(body)).encode() + body for body in bodies]


async def send_all(host: str, port: int, requests: list[bytes]) -> list[tuple[int, str]]:
    """Send every request over `CONCURRENCY` keep-alive connections; the answers in order.

    A lean client (asyncio streams, `_read_answer`), so that the driver takes little of the CPU
    the server and its callbacks need: an httpx client costs about as much as the server.
    """
    answers: list[tuple[int, str]] = [(0, "")] * len(requests)
    queue = iter(enumerate(requests))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for index, request in queue:
                writer.write(request)
                answers[index] = await _read_answer(reader)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(CONCURRENCY)))
    return answers


async def _round(side: str, server: servers.Server, receiver_base: str) -> CallbacksRun:
    """1,000 sends with `delrpt=1`, 64 at once; the receiver's tally (and the simulator's)."""
    forms = send_forms()
    requests = raw_requests(server.host, server.port)
    async with httpx.AsyncClient(timeout=30) as client:
        await callbacks._reset(client, receiver_base)
        t0 = time.monotonic()
        answers = await send_all(server.host, server.port, requests)
        done = time.monotonic() - t0
        tally = await callbacks._wait_for_reports(client, receiver_base, t0)
        errors = [
            f"send to {form['to']}: HTTP {status}: {text[:100]!r}"
            for form, (status, text) in zip(forms, answers, strict=True)
            if status != 200 or not _ID.fullmatch(text)
        ]
        recorded = None
        if side in SIMULATOR_SIDES:
            ids = {found.group(1) for _, text in answers if (found := _ID.fullmatch(text))}
            recorded = await _recorded(client, _base(server), ids)
    # CallbacksRun checks the simulator's own record when its side is "simulator".
    label = "simulator" if side in SIMULATOR_SIDES else side
    return CallbacksRun(label, tally, done, recorded, errors[:5])


@contextmanager
def _server(side: str, receiver: servers.Server, work: Path) -> Iterator[servers.Server]:
    status_url = f"http://{receiver.host}:{receiver.port}{callbacks.STATUS_PATH}"
    if side in SIMULATOR_SIDES:
        with callbacks.simulator_process(
            receiver,
            work,
            time.monotonic_ns(),
            partial(peers_sides.simulator_command, side),
            peers_sides.simulator_cwd(side),
        ) as server:
            yield server
        return
    root = wiremock.write_root(work / "wiremock-callbacks", wiremock.stubs("callbacks", status_url))
    log = work / f"peers-callbacks-wiremock-{time.monotonic_ns()}.log"
    with wiremock.serve(root, log, wiremock_flags("callbacks")) as server:
        yield server


def _base(server: servers.Server) -> str:
    return f"http://{server.host}:{server.port}"


def _warm_up(server: servers.Server, seconds: int, load: wrk.Load, work: Path) -> wrk.WrkResult:
    single = next(case for case in cases_module.all_cases() if case.name == "single")
    script = wrk.write_script(work, "callbacks-warm", single.body, single.content_type)
    url = _base(server) + single.path
    return wrk.run(url, script, wrk.Load(seconds, load.connections, load.threads))


def measure(load: wrk.Load, warm_after: int, work: Path) -> dict[str, list[CallbacksRun]]:
    """A cold and a warm round per side, against one receiver; rounds by side."""
    sides = peers_sides.chosen()
    rounds: dict[str, list[CallbacksRun]] = {side: [] for side in sides}
    with callbacks.receiver_process(work) as receiver:
        receiver_base = _base(receiver)
        for side in sides:
            try:
                if side == "baseline":
                    for _ in range(2):
                        rounds[side].append(asyncio.run(callbacks._baseline(receiver_base)))
                        print(f"  callbacks {side}: {rounds[side][-1].describe()}", flush=True)
                    continue
                with _server(side, receiver, work) as server:
                    rounds[side].append(asyncio.run(_round(side, server, receiver_base)))
                    print(f"  callbacks {side} cold: {rounds[side][-1].describe()}", flush=True)
                    warm = _warm_up(server, warm_after, load, work)
                    print(
                        f"  callbacks {side}: {warm_after} s of single sends "
                        f"({warm.requests_per_second:,.0f} req/s)",
                        flush=True,
                    )
                    rounds[side].append(asyncio.run(_round(side, server, receiver_base)))
                    print(f"  callbacks {side} warm: {rounds[side][-1].describe()}", flush=True)
            except httpx.HTTPError as error:
                raise AssertionError(
                    f"callbacks {side}: {type(error).__name__}: {error}"
                ) from error
    return rounds
