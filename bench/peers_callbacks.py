"""Callbacks against the peers: 1,000 delivery reports to the slow receiver, cold and warm.

One receiver process (bench/receiver.py, 100 ms per POST) serves every side. Per side:

- `baseline`: the bare httpx client of bench/callbacks.py posts the 1,000 report forms itself,
  64 at once (two rounds; there is no server to warm);
- `gateway-sim`: a fresh `gateway-sim serve` on bench/callbacks.py's scenario (status_url = the
  receiver, one report per recipient at once, `callback_concurrency: 64`);
- `wiremock`: a fresh WireMock whose `delrpt=1` stub's webhook posts the report form to the
  receiver (bench/wiremock.py), `--webhook-threadpool-size 64`.

The two servers get the same load: 1,000 single-recipient sends (07700900000..07700900999) with
`delrpt=1`, 64 keep-alive connections at once, each answer checked, sent by a lean client
(asyncio streams and httptools' C parser: an httpx client driving the sends took as much CPU as
the servers, and on 2 cores slowed both). A round is timed from just before the first send to
the receiver's arrival of the 1,000th report. The cold round runs right after the server's first
answer; then wrk drives the `single` send (no `delrpt`: no report) for `warm_after` s, and the
warm round follows. Each round must bring exactly 1,000 reports for 1,000 distinct `toaddr`, and
the simulator must list 1,000 delivered attempts for that round's message ids.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import callbacks
import cases as cases_module
import httptools
import httpx
import servers
import wiremock
import wrk
from callbacks import CONCURRENCY, NUMBERS, TOTAL, CallbacksRun, Recorded
from peers_sides import SIDES, wiremock_flags

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


class _Answer:
    """httptools callbacks collecting one response's body."""

    def __init__(self) -> None:
        self.body: list[bytes] = []
        self.complete = False

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, str]:
    """One whole HTTP/1.1 response (Content-Length or chunked); its status and body."""
    answer = _Answer()
    parser = httptools.HttpResponseParser(answer)
    while not answer.complete:
        data = await reader.read(65536)
        if not data:
            raise ConnectionError("the server closed the connection mid-answer")
        parser.feed_data(data)
    return parser.get_status_code(), b"".join(answer.body).decode("utf-8", "replace")


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

    A lean client (asyncio streams, httptools' C parser), so that the driver takes little of the
    CPU the server and its callbacks need: an httpx client costs about as much as the server.
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
        if side == "gateway-sim":
            ids = {found.group(1) for _, text in answers if (found := _ID.fullmatch(text))}
            recorded = await _recorded(client, _base(server), ids)
    # CallbacksRun checks the simulator's own record when its side is "simulator".
    label = "simulator" if side == "gateway-sim" else side
    return CallbacksRun(label, tally, done, recorded, errors[:5])


@contextmanager
def _server(side: str, receiver: servers.Server, work: Path) -> Iterator[servers.Server]:
    status_url = f"http://{receiver.host}:{receiver.port}{callbacks.STATUS_PATH}"
    if side == "gateway-sim":
        with callbacks.simulator_process(receiver, work, time.monotonic_ns()) as server:
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
    rounds: dict[str, list[CallbacksRun]] = {side: [] for side in SIDES}
    with callbacks.receiver_process(work) as receiver:
        receiver_base = _base(receiver)
        for side in SIDES:
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
