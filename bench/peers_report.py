"""The peer benchmark's report: the machine, then a Markdown table per case.

Every table has the three sides, the ratio gateway-sim / WireMock and whether gateway-sim is
ahead on that row: more requests/s, or lower latency, memory or time. gateway-sim is ahead on a
row only if it saw no non-2xx answer and no socket error either; a row where it is behind says
`no`, and the run's exit status is 1.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import wiremock
import wrk
from callbacks import CONCURRENCY, TOTAL, CallbacksRun
from cases import Case
from peers_process import RUN, MemoryRun
from peers_sides import LABELS, SIDES, WIREMOCK_FLAGS_NOTE

HIGHER, LOWER = True, False


@dataclass(frozen=True)
class Phases:
    """One fresh server of one side: its cold and warm wrk runs, and its RSS after them."""

    side: str
    cold: wrk.WrkResult
    warm: wrk.WrkResult
    rss_kib: int

    @property
    def errors(self) -> int:
        return sum(run.non_2xx + run.socket_errors for run in (self.cold, self.warm))

    def describe(self) -> str:
        def one(run: wrk.WrkResult) -> str:
            return (
                f"{run.requests_per_second:9,.0f} req/s p50 {_ms(run.p50_ms)} p99 {_ms(run.p99_ms)}"
            )

        return (
            f"cold {one(self.cold)}; warm {one(self.warm)}; {self.rss_kib / 1024:.0f} MiB; "
            f"non-2xx + socket errors {self.errors}"
        )


@dataclass(frozen=True)
class Row:
    """One measured quantity for the three sides; None where it was not measured."""

    name: str
    values: dict[str, float | None]
    better: bool  # HIGHER or LOWER
    show: Callable[[float | None], str]
    sim_errors: int = 0

    @property
    def ratio(self) -> float | None:
        sim, peer = self.values.get("gateway-sim"), self.values.get("wiremock")
        return sim / peer if sim is not None and peer else None

    @property
    def ahead(self) -> bool:
        sim, peer = self.values.get("gateway-sim"), self.values.get("wiremock")
        if sim is None or peer is None or self.sim_errors:
            return False
        return sim > peer if self.better == HIGHER else sim < peer

    def line(self) -> str:
        cells = [self.show(self.values.get(side)) for side in SIDES]
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}x"
        verdict = "yes" if self.ahead else "**no**"
        return f"| {self.name} | {' | '.join(cells)} | {ratio} | {verdict} |"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 1024:,.0f} MiB"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _table(title: str, rows: list[Row], notes: Sequence[str] = ()) -> list[str]:
    head = " | ".join(LABELS[side] for side in SIDES)
    return [
        f"### {title}",
        "",
        f"| | {head} | gateway-sim / WireMock | gateway-sim ahead |",
        "|---|---|---|---|---|---|",
        *(row.line() for row in rows),
        *([""] if notes else []),
        *notes,
        "",
    ]


def _mean(values: list[float | None]) -> float | None:
    found = [value for value in values if value is not None]
    return statistics.fmean(found) if found else None


@dataclass
class CaseRows:
    """A wrk case's phases, by side: one per round (a fresh server each)."""

    case: Case
    phases: dict[str, list[Phases]]
    wiremock_defaults: Phases | None = None  # latency: WireMock without its async responses

    def rows(self) -> list[Row]:
        errors = sum(p.errors for p in self.phases.get("gateway-sim", []))

        def row(
            name: str,
            read: Callable[[Phases], float | None],
            better: bool,
            show: Callable[[float | None], str],
        ) -> Row:
            values = {side: _mean([read(p) for p in runs]) for side, runs in self.phases.items()}
            return Row(name, values, better, show, errors)

        return [
            row("req/s, cold", lambda p: p.cold.requests_per_second, HIGHER, _rate),
            row("p50, cold", lambda p: p.cold.p50_ms, LOWER, _ms),
            row("p99, cold", lambda p: p.cold.p99_ms, LOWER, _ms),
            row("req/s, warm", lambda p: p.warm.requests_per_second, HIGHER, _rate),
            row("p50, warm", lambda p: p.warm.p50_ms, LOWER, _ms),
            row("p99, warm", lambda p: p.warm.p99_ms, LOWER, _ms),
            row("RSS after the warm run", lambda p: p.rss_kib, LOWER, _mib),
        ]

    def notes(self) -> list[str]:
        lines = []
        for side, runs in self.phases.items():
            for number, phases in enumerate(runs, 1):
                lines.append(
                    f"- {LABELS[side]} round {number}: {phases.describe()} "
                    f"({phases.cold.requests:,} + {phases.warm.requests:,} requests)"
                )
        if self.wiremock_defaults is not None:
            lines.append(
                "- WireMock with its defaults only (no `--async-response-enabled`), not in the "
                f"table: {self.wiremock_defaults.describe()}"
            )
        return lines


def _described(side: str, run: CallbacksRun) -> str:
    """The run's line; WireMock, like the simulator, answered sends (not report posts)."""
    text = run.describe()
    return text.replace("posts answered", "sends answered") if side == "wiremock" else text


def _callback_rows(rounds: dict[str, list[CallbacksRun]]) -> list[Row]:
    def at(number: int) -> dict[str, float | None]:
        return {
            side: runs[number].seconds if len(runs) > number else None
            for side, runs in rounds.items()
        }

    failed = sum(len(run.problems()) for run in rounds.get("gateway-sim", []))
    return [
        Row("1,000th report, cold round", at(0), LOWER, _s, failed),
        Row("1,000th report, warm round", at(1), LOWER, _s, failed),
    ]


def _memory_rows(memory: dict[str, MemoryRun]) -> list[Row]:
    sim = memory.get("gateway-sim")
    errors = sim.errors if sim else 0
    return [
        Row(
            f"RSS past {next(iter(memory.values())).total:,} sends (1 s after the load)",
            {side: run.settled_kib for side, run in memory.items()},
            LOWER,
            _mib,
            errors,
        ),
        Row(
            "mean req/s while driving them",
            {side: run.rate for side, run in memory.items()},
            HIGHER,
            _rate,
            errors,
        ),
    ]


@dataclass
class Result:
    """Everything one run measured."""

    machine: list[str]
    cases: list[CaseRows] = field(default_factory=list)
    callbacks: dict[str, list[CallbacksRun]] | None = None
    memory: dict[str, MemoryRun] | None = None
    startup: dict[str, list[float]] | None = None
    elapsed: float = 0.0

    def tables(self) -> list[tuple[str, list[Row], list[str]]]:
        found = [(f"{c.case.name}: {c.case.title}", c.rows(), c.notes()) for c in self.cases]
        if self.callbacks is not None:
            notes = [
                f"- {LABELS[side]} round {n}: {_described(side, run)}"
                for side, runs in self.callbacks.items()
                for n, run in enumerate(runs, 1)
            ]
            notes.append(
                f"- floor: 1,000 reports {CONCURRENCY} at a time take ceil(1,000 / "
                f"{CONCURRENCY}) = {-(-TOTAL // CONCURRENCY)} waves of 100 ms: the 1,000th "
                "arrives at ~1.5 s"
            )
            title = "callbacks: 1,000 delivery reports to a receiver answering in 100 ms"
            found.append((title, _callback_rows(self.callbacks), notes))
        if self.memory is not None:
            notes = [
                f"- {LABELS[side]}: idle {_mib(run.idle_kib)}; "
                + ", ".join(f"{n:,}: {_mib(kib)}" for n, kib in run.curve)
                + f"; {len(run.runs)} wrk runs of {RUN} s in {run.elapsed:.0f} s, "
                f"non-2xx + socket errors {run.errors}"
                for side, run in self.memory.items()
            ]
            found.append(("memory: RSS after the sends", _memory_rows(self.memory), notes))
        if self.startup is not None:
            times = self.startup
            row = Row(
                "spawn to first answered send, median",
                {side: statistics.median(t) for side, t in times.items()},
                LOWER,
                _s,
            )
            notes = [
                f"- {LABELS[side]}: " + ", ".join(f"{t:.3f}" for t in t_list) + " s"
                for side, t_list in times.items()
            ]
            found.append(("startup", [row], notes))
        return found

    @property
    def ahead(self) -> bool:
        return all(row.ahead for _, rows, _ in self.tables() for row in rows)


def _first_line(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return "?"
    return ((done.stdout or done.stderr).splitlines() or ["?"])[0].strip()


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "?"


def _ram() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "?"


def _os() -> str:
    try:
        release = platform.freedesktop_os_release()["PRETTY_NAME"]
    except OSError:
        release = platform.system()
    return f"{release}, Linux {platform.release()}"


def _load() -> str:
    return ", ".join(f"{n:.2f}" for n in os.getloadavg())


def machine(args: argparse.Namespace, argv: Sequence[str], jar: Path) -> list[str]:
    """What the run ran on, how, and with what."""
    command = shlex.join([".venv/bin/python", "bench/peers.py", *argv])
    return [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average at the start {_load()}",
        f"- machine: {_cpu()}, {os.cpu_count()} cores, {_ram()} RAM; {_os()}",
        f"- Python {platform.python_version()}; {wiremock.java_version()}; WireMock "
        f"{wiremock.version(jar)} (npm `{wiremock.PACKAGE}`); {_first_line(['wrk', '-v'])}",
        f"- command: `{command}`",
        f"- load: wrk, {args.connections} connections (latency: 256), {args.threads} thread, "
        f"`--latency`, the same for every side; per case and side a fresh server, its answer "
        f"checked, then the cold run ({args.cold} s from its first answer), load until "
        f"{args.warm_after} s, the warm run ({args.warm} s); sides take turns, "
        f"{args.rounds} round(s) per case; callbacks, memory and start-up: see their tables",
        f"- sides: bare Starlette = bench/baselines.py (`form` for sends, `multipart` for MMS, "
        f"`sleep` for latency); gateway-sim = `gateway-sim serve` on bench/scenario.yaml "
        f"(latency: bench/latency.yaml); WireMock = its standalone jar on Java, the stubs of "
        f"bench/wiremock.py. {WIREMOCK_FLAGS_NOTE}",
        "- RSS: VmRSS of the server process and its descendants (/proc/PID/status)",
        *([f"- conditions: {args.note}"] if args.note else []),
    ]


def render(result: Result) -> str:
    """The whole report as Markdown."""
    tables = result.tables()
    summary = [
        f"| {title.partition(':')[0]} | "
        + (
            "yes"
            if all(r.ahead for r in rows)
            else "**no**: " + ", ".join(r.name for r in rows if not r.ahead)
        )
        + " |"
        for title, rows, _ in tables
    ]
    lines = [
        "# gateway-sim against bare Starlette and WireMock",
        "",
        *result.machine,
        f"- the run took {result.elapsed / 60:.1f} min; load average at the end {_load()}",
        "",
        "| case | gateway-sim ahead of WireMock on every row |",
        "|---|---|",
        *summary,
        "",
        "Reading the tables: each figure is the mean of the rounds (listed under each table); "
        "cold is the first run after the server's first answer, warm the run after "
        "`--warm-after` s of load; `gateway-sim / WireMock` is the plain quotient (above 1 is "
        "better for req/s, below 1 for latency, memory and time); `ahead` is strict: a "
        "difference of any size counts, so rows near a floor (the 200 ms delay, the callbacks' "
        "~1.5 s) can go either way by noise.",
        "",
    ]
    for title, rows, notes in tables:
        lines += _table(title, rows, notes)
    return "\n".join(lines)
