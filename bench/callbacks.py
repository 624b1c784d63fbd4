"""Callbacks: 1,000 delivery reports to a receiver that takes 100 ms to answer, timed end to end.

A real receiver process (bench/receiver.py: on granian, an awaited 100 ms sleep per request, no
Python threads) counts what it gets. Per round, against that same receiver:

- baseline: a bare asyncio httpx client (an `AsyncClient` like the simulator's, an
  `asyncio.Semaphore(CONCURRENCY)`) posts 1,000 report forms (`msgid`, `status`, `toaddr`) to it;
- simulator: a fresh `gateway-sim serve` (real clock) on a scenario written into the run's temp
  dir: one account with unbounded credit whose `status_url` is the receiver,
  `report_step_seconds: 0`, `callback_concurrency: CONCURRENCY`, and a rule without conditions
  `{delivery: {final: 4, steps: []}}`, so each recipient makes exactly one report. After one
  warm-up send without `delrpt`, 10 sends of 100 distinct recipients (07700900000..07700900999,
  the reserved drama range) with `delrpt=1` go out at once; each answer must carry 100 ID lines.

Each side's figure is the time from t0 (just before its first request) to the receiver's arrival
of the 1,000th report; both clocks are `time.monotonic()` (CLOCK_MONOTONIC, system-wide on Linux).
Reported too: the first arrival, the last answer, the most requests the receiver held at once and
the distinct `toaddr` values it got. Then the simulator's control API must list 1,000 attempts
(`GET /_sim/callbacks`, 1,000 a page), all `delivered`, for 1,000 distinct recipients. The floor
at 64 at once is ceil(1,000 / 64) = 16 waves of 100 ms: the 1,000th arrives at ~1.5 s and is
answered at ~1.6 s.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cases as cases_module
import httpx
import receiver as receiver_app
import servers

TOTAL = 1000
BATCH = 100
CONCURRENCY = 64
DELAY = receiver_app.DELAY
TIMEOUT = 30.0  # seconds from t0 for the receiver to get every report
RECORD_TIMEOUT = 10.0  # seconds more for the simulator to list every attempt
POLL = 0.05  # the receiver stamps arrivals itself: polling slowly costs no precision
PAGE = 1000
STATUS_PATH = "/status"
FIRST_ID = 10011000000000000001
NUMBERS = [f"077009{n:05d}" for n in range(TOTAL)]  # 07700900000 .. 07700900999

_SCENARIO = """\
# The callbacks benchmark scenario (bench/callbacks.py), written per run: the receiver's port
# is only known once it listens. One report per recipient, at once, 64 callbacks in flight.
version: 1
settings:
  id_start: {first_id}
  line_ending: crlf
  trailing_newline: false
  default_country: GB
  report_step_seconds: 0
  callback_concurrency: {concurrency}
prices: {{sms_part: 1, unicode_part: 1, binary: 1, wap_push: 1, voice_part: 1, mms: 5}}
accounts:
  - username: {username}
    password: {password}
    credit: 1000000000000
    default_sender: "447700900000"
    status_url: "{status_url}"
rules:
  - {{name: one-step, action: {{delivery: {{final: 4, steps: []}}}}}}
"""


@dataclass(frozen=True)
class Tally:
    """The receiver's `GET /count`, its times made relative to the side's t0 (seconds)."""

    received: int
    answered: int
    peak_in_flight: int
    distinct: int
    first: float | None
    last: float | None
    last_answered: float | None

    @classmethod
    def from_json(cls, data: dict[str, Any], t0: float) -> Tally:
        def since(key: str) -> float | None:
            value = data[key]
            return None if value is None else float(value) - t0

        return cls(
            received=int(data["received"]),
            answered=int(data["answered"]),
            peak_in_flight=int(data["peak_in_flight"]),
            distinct=int(data["distinct_toaddr"]),
            first=since("first_at"),
            last=since("last_at"),
            last_answered=since("last_answered_at"),
        )


@dataclass(frozen=True)
class Recorded:
    """What the simulator's control API lists: attempts, delivered ones, distinct recipients."""

    attempts: int
    delivered: int
    distinct: int
    waited: float  # from the receiver's last answer (seen) until the simulator listed them all


@dataclass
class CallbacksRun:
    """One side's 1,000 reports: the receiver's tally and, for the simulator, its own record."""

    side: str
    tally: Tally
    requests_done: float  # t0 until the side's own requests were answered (sends or posts)
    recorded: Recorded | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float | None:
        """t0 to the 1,000th report's arrival, or None if fewer arrived in time."""
        return self.tally.last if self.tally.received >= TOTAL else None

    def describe(self) -> str:
        """One line of figures, then the problems if any."""
        tally, recorded = self.tally, self.recorded
        seconds = f"not within {TIMEOUT:g} s" if self.seconds is None else f"at {_s(self.seconds)}"
        listed = (
            f", simulator lists {recorded.delivered:,} delivered of {recorded.attempts:,} "
            f"attempts ({recorded.distinct:,} recipients; listed {recorded.waited:.2f} s later)"
            if recorded
            else ""
        )
        own = "sends answered" if self.side == "simulator" else "posts answered"
        problems = "; ".join(self.problems())
        return (
            f"{self.side} run: 1,000th report {seconds} (first {_s(tally.first)}, last "
            f"answered {_s(tally.last_answered)}; {own} {_s(self.requests_done)}); receiver got "
            f"{tally.received:,} ({tally.distinct:,} distinct toaddr), at most "
            f"{tally.peak_in_flight} at once{listed}"
            + (f"; PROBLEMS: {problems}" if problems else "")
        )

    def problems(self) -> list[str]:
        """Everything that is wrong besides the time."""
        found = list(self.errors)
        tally = self.tally
        if tally.received != TOTAL:
            found.append(f"receiver got {tally.received:,} reports, expected {TOTAL:,}")
        if tally.distinct != TOTAL:
            found.append(f"receiver got {tally.distinct:,} distinct toaddr, expected {TOTAL:,}")
        recorded = self.recorded
        if self.side == "simulator":
            if recorded is None:
                found.append("the simulator's attempts were not read")
            elif (recorded.attempts, recorded.delivered, recorded.distinct) != (TOTAL,) * 3:
                found.append(
                    f"simulator lists {recorded.attempts:,} attempts, {recorded.delivered:,} "
                    f"delivered, for {recorded.distinct:,} recipients (expected {TOTAL:,} each)"
                )
        return found


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.3f} s"


def scenario_text(status_url: str) -> str:
    return _SCENARIO.format(
        first_id=FIRST_ID,
        concurrency=CONCURRENCY,
        username=cases_module.USERNAME,
        password=cases_module.PASSWORD,
        status_url=status_url,
    )


def send_forms() -> list[dict[str, str]]:
    """The 10 sends of 100 recipients each, all with `delrpt=1`."""
    return [
        {
            "username": cases_module.USERNAME,
            "password": cases_module.PASSWORD,
            "to": ",".join(NUMBERS[start : start + BATCH]),
            "text": "Benchmark delivery report",
            "delrpt": "1",
        }
        for start in range(0, TOTAL, BATCH)
    ]


def report_forms() -> list[dict[str, str]]:
    """What the simulator will post, one form per recipient: the baseline posts these."""
    return [
        {"msgid": str(FIRST_ID + 1 + n // BATCH), "status": "4", "toaddr": "44" + number[1:]}
        for n, number in enumerate(NUMBERS)
    ]


def _send_problem(status: int, answer: str, numbers: list[str]) -> str | None:
    lines = answer.split("\r\n")
    shown = ["0" + line.partition(",")[0][2:] for line in lines]
    ids = {line.partition(",")[2] for line in lines}
    if status != 200 or shown != numbers or len(ids) != 1 or not ids.pop().startswith("ID:"):
        return f"send to {numbers[0]}..: HTTP {status}: {answer[:200]!r}"
    return None


async def _get_json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await client.get(url)
    if response.status_code != 200:
        raise AssertionError(f"callbacks: GET {url}: HTTP {response.status_code}")
    data: dict[str, Any] = json.loads(response.text)
    return data


async def _reset(client: httpx.AsyncClient, base: str) -> None:
    """Zero the receiver's tally; it must hold no request."""
    data = await _get_json(client, f"{base}/count")
    if data["in_flight"]:
        raise AssertionError(f"callbacks: the receiver still holds {data['in_flight']} requests")
    response = await client.post(f"{base}/reset")
    if response.status_code != 200:
        raise AssertionError(f"callbacks: POST {base}/reset: HTTP {response.status_code}")


async def _wait_for_reports(client: httpx.AsyncClient, base: str, t0: float) -> Tally:
    """Poll the receiver until it has answered `TOTAL` reports, or `TIMEOUT` after t0."""
    while True:
        tally = Tally.from_json(await _get_json(client, f"{base}/count"), t0)
        done = tally.received >= TOTAL and tally.answered >= tally.received
        if done or time.monotonic() - t0 > TIMEOUT:
            return tally
        await asyncio.sleep(POLL)


async def _count_attempts(client: httpx.AsyncClient, base: str, outcome: str) -> list[Any]:
    """Every attempt the simulator lists (of `outcome`, if given), 1,000 a page."""
    found: list[Any] = []
    cursor = ""
    query = f"outcome={outcome}&" if outcome else ""
    while True:
        page = await _get_json(client, f"{base}/_sim/callbacks?{query}limit={PAGE}{cursor}")
        found += page["callbacks"]
        if page["next_cursor"] is None:
            return found
        cursor = f"&cursor={page['next_cursor']}"


async def _recorded(client: httpx.AsyncClient, base: str) -> Recorded:
    """The simulator's own record, polled until it lists every attempt delivered (or 10 s)."""
    started = time.monotonic()
    while True:
        delivered = await _count_attempts(client, base, "delivered")
        if len(delivered) >= TOTAL or time.monotonic() - started > RECORD_TIMEOUT:
            break
        await asyncio.sleep(0.05)
    attempts = await _count_attempts(client, base, "")
    recipients = {attempt["fields"]["toaddr"] for attempt in delivered}
    return Recorded(len(attempts), len(delivered), len(recipients), time.monotonic() - started)


async def _baseline(receiver_base: str) -> CallbacksRun:
    """A bare httpx client posts the 1,000 report forms, `CONCURRENCY` at once."""
    forms = report_forms()
    slots = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(timeout=10) as control:
        await _reset(control, receiver_base)
        async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:

            async def post(form: dict[str, str]) -> int:
                async with slots:
                    response = await client.post(receiver_base + STATUS_PATH, data=form)
                    return response.status_code

            t0 = time.monotonic()
            statuses = await asyncio.gather(*(post(form) for form in forms))
            done = time.monotonic() - t0
        tally = await _wait_for_reports(control, receiver_base, t0)
    errors = [] if set(statuses) == {200} else [f"baseline posts answered {set(statuses)}"]
    return CallbacksRun("baseline", tally, done, errors=errors)


async def _simulator(simulator_base: str, receiver_base: str) -> CallbacksRun:
    """10 sends of 100 with `delrpt=1`, all at once; then wait for the receiver and the record."""
    send_url = simulator_base + cases_module.SEND_PATH
    forms = send_forms()
    async with httpx.AsyncClient(timeout=30) as client:
        await _reset(client, receiver_base)
        warm = {**forms[0], "to": NUMBERS[0], "delrpt": "0"}
        response = await client.post(send_url, data=warm)
        if response.status_code != 200 or not response.text.startswith("ID:"):
            raise AssertionError(f"callbacks: warm-up send: HTTP {response.status_code}")
        t0 = time.monotonic()
        answers = await asyncio.gather(*(client.post(send_url, data=form) for form in forms))
        done = time.monotonic() - t0
        tally = await _wait_for_reports(client, receiver_base, t0)
        recorded = await _recorded(client, simulator_base)
    errors = [
        problem
        for form, answer in zip(forms, answers, strict=True)
        if (problem := _send_problem(answer.status_code, answer.text, form["to"].split(",")))
    ]
    return CallbacksRun("simulator", tally, done, recorded, errors)


def _base(server: servers.Server) -> str:
    return f"http://{server.host}:{server.port}"


@contextmanager
def simulator_process(
    receiver: servers.Server,
    work: Path,
    number: int,
    command: Callable[[Path], list[str]] = servers.simulator_command,
    cwd: Path = servers.ROOT,
) -> Iterator[servers.Server]:
    """A fresh `gateway-sim serve` on a scenario (written into `work`) calling back `receiver`;
    `command(scenario)` is its command line (by default this checkout's), run in `cwd`."""
    scenario = work / f"callbacks-{number}.yaml"
    scenario.write_text(scenario_text(_base(receiver) + STATUS_PATH))
    log = work / f"callbacks-simulator-{number}.log"
    with servers.serve("simulator", command(scenario), log, cwd=cwd) as server:
        yield server


def deliver(server: servers.Server, receiver: servers.Server) -> CallbacksRun:
    """The simulator's side of a round: the sends, the receiver's tally, the simulator's record."""
    return asyncio.run(_simulator(_base(server), _base(receiver)))


def receiver_command() -> list[str]:
    return [sys.executable, str(servers.BENCH / "receiver.py"), "--port", "0"]


@contextmanager
def receiver_process(work: Path) -> Iterator[servers.Server]:
    """The receiver process (bench/receiver.py), stopped afterwards."""
    with servers.serve("receiver", receiver_command(), work / "receiver.log") as server:
        yield server


def measure(rounds: int, work: Path) -> tuple[list[CallbacksRun], list[CallbacksRun]]:
    """`rounds` of baseline then simulator, all against one receiver; (baseline, simulator)."""
    baseline: list[CallbacksRun] = []
    simulator: list[CallbacksRun] = []
    with receiver_process(work) as receiver:
        for number in range(1, rounds + 1):
            try:
                baseline.append(asyncio.run(_baseline(_base(receiver))))
                print(f"  callbacks {baseline[-1].describe()}", flush=True)
                with simulator_process(receiver, work, number) as server:
                    simulator.append(deliver(server, receiver))
                print(f"  callbacks {simulator[-1].describe()}", flush=True)
            except httpx.HTTPError as error:
                raise AssertionError(f"callbacks: {type(error).__name__}: {error}") from error
    return baseline, simulator
