"""The peer benchmark's report: the machine, the issue's targets, today's edge against the edge
before, then a Markdown table per case.

Every table has the sides of the run (bare Starlette, gateway-sim, gateway-sim before the edge
change when it ran, WireMock), the ratio gateway-sim / WireMock and whether gateway-sim is ahead
on that row: more requests/s, or lower latency, memory or time; with the before side, the ratio
gateway-sim / gateway-sim before too. gateway-sim is ahead on a row only if it saw no non-2xx
answer and no socket error either; a row where it is behind says `no`.

The targets (`TARGETS`, the issue's, judged for gateway-sim and for the before side alike): the
single send at least 3x WireMock's req/s cold and 0.9x warm; p99 at or below WireMock's in every
wrk case, cold and warm; RSS after the memory case's sends at most 5% of WireMock's; spawn to the
first answered send at most 0.5 s (the median). A side that saw an error on a judged figure does
not meet it. The run's exit status is 0 when gateway-sim is ahead on every row and meets every
target, 1 if not.
"""

from __future__ import annotations

import argparse
import math
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
TODAY, BEFORE, PEER = "gateway-sim", "before", "wiremock"
THROUGHPUT_CASES = ("single", "hundred", "mms")
"""The cases whose req/s the edge comparison sums up (latency's is bound by its 200 ms delay)."""


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
    """One measured quantity for the sides; None where it was not measured."""

    name: str
    values: dict[str, float | None]
    better: bool  # HIGHER or LOWER
    show: Callable[[float | None], str]
    errors: dict[str, int] = field(default_factory=dict)  # by side: what makes a figure void

    def ratio(self, side: str = TODAY, other: str = PEER) -> float | None:
        mine, theirs = self.values.get(side), self.values.get(other)
        return mine / theirs if mine is not None and theirs else None

    def clean(self, side: str) -> bool:
        return not self.errors.get(side, 0)

    @property
    def ahead(self) -> bool:
        sim, peer = self.values.get(TODAY), self.values.get(PEER)
        if sim is None or peer is None or not self.clean(TODAY):
            return False
        return sim > peer if self.better == HIGHER else sim < peer

    def line(self, sides: Sequence[str]) -> str:
        cells = [self.show(self.values.get(side)) for side in sides]
        ratio = _x(self.ratio())
        verdict = "yes" if self.ahead else "**no**"
        before = [_x(self.ratio(TODAY, BEFORE))] if BEFORE in sides else []
        return f"| {self.name} | {' | '.join([*cells, ratio, verdict, *before])} |"


def _x(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 1024:,.0f} MiB"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _table(title: str, rows: list[Row], notes: Sequence[str], sides: Sequence[str]) -> list[str]:
    head = [LABELS[side] for side in sides] + ["gateway-sim / WireMock", "gateway-sim ahead"]
    if BEFORE in sides:
        head.append("gateway-sim / before")
    return [
        f"### {title}",
        "",
        f"| | {' | '.join(head)} |",
        "|---" * (len(head) + 1) + "|",
        *(row.line(sides) for row in rows),
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
        errors = {side: sum(p.errors for p in runs) for side, runs in self.phases.items()}

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
    return text.replace("posts answered", "sends answered") if side == PEER else text


def _callback_rows(rounds: dict[str, list[CallbacksRun]]) -> list[Row]:
    def at(number: int) -> dict[str, float | None]:
        return {
            side: runs[number].seconds if len(runs) > number else None
            for side, runs in rounds.items()
        }

    failed = {side: sum(len(run.problems()) for run in runs) for side, runs in rounds.items()}
    return [
        Row("1,000th report, cold round", at(0), LOWER, _s, failed),
        Row("1,000th report, warm round", at(1), LOWER, _s, failed),
    ]


def _memory_title(memory: dict[str, MemoryRun]) -> str:
    return f"RSS past {next(iter(memory.values())).total:,} sends (1 s after the load)"


def _memory_rows(memory: dict[str, MemoryRun]) -> list[Row]:
    errors = {side: run.errors for side, run in memory.items()}
    return [
        Row(
            _memory_title(memory),
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


def _startup_row(times: dict[str, list[float]]) -> Row:
    return Row(
        "spawn to first answered send, median",
        {side: statistics.median(t) for side, t in times.items()},
        LOWER,
        _s,
    )


@dataclass
class Result:
    """Everything one run measured."""

    machine: list[str]
    sides: tuple[str, ...] = SIDES
    cases: list[CaseRows] = field(default_factory=list)
    callbacks: dict[str, list[CallbacksRun]] | None = None
    memory: dict[str, MemoryRun] | None = None
    startup: dict[str, list[float]] | None = None
    elapsed: float = 0.0

    def case(self, name: str) -> CaseRows | None:
        return next((found for found in self.cases if found.case.name == name), None)

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
            notes = [
                f"- {LABELS[side]}: " + ", ".join(f"{t:.3f}" for t in t_list) + " s"
                for side, t_list in self.startup.items()
            ]
            found.append(("startup", [_startup_row(self.startup)], notes))
        return found

    @property
    def ahead(self) -> bool:
        return all(row.ahead for _, rows, _ in self.tables() for row in rows)

    @property
    def targets_met(self) -> bool:
        """gateway-sim meets every target that was measured."""
        return all(target.judge(self, TODAY).met is not False for target in TARGETS)


@dataclass(frozen=True)
class Verdict:
    """A side's figure on a target, and whether it meets it (None: not measured in this run)."""

    figure: str
    met: bool | None

    def cell(self) -> str:
        return "-" if self.met is None else "yes" if self.met else "**no**"


NOT_MEASURED = Verdict("-", None)


@dataclass(frozen=True)
class Target:
    """One of the issue's targets: its wording and how a side's figures are judged on it."""

    name: str
    judge: Callable[[Result, str], Verdict]


def _case_row(result: Result, case: str, name: str) -> Row | None:
    found = result.case(case)
    return None if found is None else next(row for row in found.rows() if row.name == name)


def _errors(count: int) -> str:
    return f"; {count:,} non-2xx + socket errors" if count else ""


def _single_rate(phase: str, least: float) -> Callable[[Result, str], Verdict]:
    def judge(result: Result, side: str) -> Verdict:
        row = _case_row(result, "single", f"req/s, {phase}")
        ratio = None if row is None else row.ratio(side, PEER)
        if row is None or ratio is None:
            return NOT_MEASURED
        figure = f"{ratio:.2f}x ({_rate(row.values[side])} vs {_rate(row.values[PEER])} req/s)"
        return Verdict(
            figure + _errors(row.errors.get(side, 0)), ratio >= least and row.clean(side)
        )

    return judge


def _p99(result: Result, side: str) -> Verdict:
    compared, above, errors = 0, [], 0
    for found in result.cases:
        rows = found.rows()
        errors += rows[0].errors.get(side, 0)
        for row in rows:
            mine, peer = row.values.get(side), row.values.get(PEER)
            if not row.name.startswith("p99") or mine is None or peer is None:
                continue
            compared += 1
            if mine > peer:
                phase = row.name.partition(", ")[2]
                above.append(f"{found.case.name} {phase} {_ms(mine)} vs {_ms(peer)}")
    if not compared:
        return NOT_MEASURED
    figure = f"{compared - len(above)} of {compared} rows at or below"
    figure += f"; above: {', '.join(above)}" if above else ""
    return Verdict(figure + _errors(errors), not above and not errors)


def _memory(result: Result, side: str) -> Verdict:
    memory = result.memory or {}
    if side not in memory or PEER not in memory:
        return NOT_MEASURED
    mine, peer = memory[side].settled_kib, memory[PEER].settled_kib
    share = mine / peer
    figure = f"{share:.1%} ({_mib(mine)} vs {_mib(peer)}; {memory[side].answered:,} sends)"
    errors = memory[side].errors
    return Verdict(figure + _errors(errors), share <= 0.05 and not errors)


def _startup(result: Result, side: str) -> Verdict:
    times = (result.startup or {}).get(side)
    if not times:
        return NOT_MEASURED
    median = statistics.median(times)
    figure = f"{median:.3f} s, the median of {len(times)} (slowest {max(times):.3f} s)"
    return Verdict(figure, median <= 0.5)


TARGETS = (
    Target("single send, req/s cold: at least 3x WireMock's", _single_rate("cold", 3.0)),
    Target("single send, req/s warm: at least 0.9x WireMock's", _single_rate("warm", 0.9)),
    Target("p99 at or below WireMock's in every case, cold and warm", _p99),
    Target("RSS after 500,000 sends: at most 5% of WireMock's", _memory),
    Target("spawn to the first answered send: at most 0.5 s", _startup),
)


def _targets(result: Result) -> list[str]:
    judged = [side for side in (TODAY, BEFORE) if side in result.sides]
    head = " | ".join(f"{LABELS[side]} | met" for side in judged)
    lines = [
        "## The issue's targets (against WireMock, journal on)",
        "",
        f"| target | {head} |",
        "|---" * (1 + 2 * len(judged)) + "|",
    ]
    for target in TARGETS:
        verdicts = [target.judge(result, side) for side in judged]
        cells = " | ".join(f"{v.figure} | {v.cell()}" for v in verdicts)
        lines.append(f"| {target.name} | {cells} |")
    return [*lines, ""]


def _change(row: Row) -> str:
    """The change from the edge before to today's, and whether it is for the better."""
    ratio = row.ratio(TODAY, BEFORE)
    if ratio is None:
        return "-"
    if ratio == 1:
        return "0%"
    better = ratio > 1 if row.better == HIGHER else ratio < 1
    return f"{ratio - 1:+.0%} ({'better' if better else 'worse'})"


def _edge(result: Result) -> list[str]:
    """Today's edge against the one before: the rows that tell, and throughput summed up."""
    if BEFORE not in result.sides:
        return []
    compared: list[tuple[str, Row]] = []
    rates: list[tuple[str, float]] = []
    for found in result.cases:
        for row in found.rows():
            if row.name.startswith(("req/s", "p99")):
                compared.append((f"{found.case.name}, {row.name}", row))
                ratio = row.ratio(TODAY, BEFORE)
                if found.case.name in THROUGHPUT_CASES and row.name.startswith("req/s") and ratio:
                    rates.append((f"{found.case.name} {row.name.partition(', ')[2]}", ratio))
    if result.callbacks is not None:
        compared += [(f"callbacks, {row.name}", row) for row in _callback_rows(result.callbacks)]
    if result.memory is not None:
        compared += [(f"memory, {row.name}", row) for row in _memory_rows(result.memory)]
    if result.startup is not None:
        compared.append(("startup, median", _startup_row(result.startup)))
    lines = ["## Today's edge against the edge before", ""]
    if rates:
        mean = math.exp(statistics.fmean(math.log(ratio) for _, ratio in rates))
        verb = "gains" if mean >= 1 else "costs"
        lines += [
            f"Throughput: today's edge {verb} **{abs(mean - 1):.0%}** against the edge before "
            f"(gateway-sim / gateway-sim before, the geometric mean of the req/s ratios of "
            f"{len(rates)} rows: "
            + ", ".join(f"{name} {ratio:.2f}x" for name, ratio in rates)
            + "; the latency case's req/s is bound by its 200 ms delay and left out).",
            "",
        ]
    lines += [
        f"| | {LABELS[TODAY]} | {LABELS[BEFORE]} | gateway-sim / before | change |",
        "|---|---|---|---|---|",
        *(
            f"| {name} | {row.show(row.values.get(TODAY))} | {row.show(row.values.get(BEFORE))} "
            f"| {_x(row.ratio(TODAY, BEFORE))} | {_change(row)} |"
            for name, row in compared
        ),
        "",
    ]
    return lines


def first_line(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return "?"
    return ((done.stdout or done.stderr).splitlines() or ["?"])[0].strip()


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "?"


def ram() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "?"


def os_release() -> str:
    try:
        release = platform.freedesktop_os_release()["PRETTY_NAME"]
    except OSError:
        release = platform.system()
    return f"{release}, Linux {platform.release()}"


def load_average() -> str:
    return ", ".join(f"{n:.2f}" for n in os.getloadavg())


def machine(
    args: argparse.Namespace, argv: Sequence[str], jar: Path, simulators: Sequence[str]
) -> list[str]:
    """What the run ran on, how, and with what (`simulators`: a line on each simulator side)."""
    command = shlex.join([".venv/bin/python", "bench/peers.py", *argv])
    return [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average at the start "
        f"{load_average()}",
        f"- machine: {cpu_model()}, {os.cpu_count()} cores, {ram()} RAM; {os_release()}",
        f"- Python {platform.python_version()}; {wiremock.java_version()}; WireMock "
        f"{wiremock.version(jar)} (npm `{wiremock.PACKAGE}`); {first_line(['wrk', '-v'])}",
        f"- command: `{command}`",
        f"- load: wrk, {args.connections} connections (latency: 256), {args.threads} thread, "
        f"`--latency`, the same for every side; per case and side a fresh server, its answer "
        f"checked, then the cold run ({args.cold} s from its first answer), load until "
        f"{args.warm_after} s, the warm run ({args.warm} s); sides take turns, "
        f"{args.rounds} round(s) per case; callbacks, memory and start-up: see their tables",
        "- sides: bare Starlette = bench/baselines.py (`form` for sends, `multipart` for MMS, "
        "`sleep` for latency) on granian's embedded server as `gateway-sim serve` configures it; "
        "gateway-sim (and gateway-sim before) = `gateway-sim serve` on bench/scenario.yaml "
        "(latency: bench/latency.yaml); WireMock = its standalone jar on Java, the stubs of "
        f"bench/wiremock.py. {WIREMOCK_FLAGS_NOTE}",
        *(f"- {line}" for line in simulators),
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
    before = BEFORE in result.sides
    lines = [
        "# gateway-sim against bare Starlette, "
        + ("its edge before the change, " if before else "")
        + "and WireMock",
        "",
        *result.machine,
        f"- the run took {result.elapsed / 60:.1f} min; load average at the end {load_average()}",
        "",
        *_targets(result),
        *_edge(result),
        "## Against WireMock, case by case",
        "",
        "| case | gateway-sim ahead of WireMock on every row |",
        "|---|---|",
        *summary,
        "",
        "Reading the tables: each figure is the mean of the rounds (listed under each table); "
        "cold is the first run after the server's first answer, warm the run after "
        "`--warm-after` s of load; `gateway-sim / WireMock` is the plain quotient (above 1 is "
        "better for req/s, below 1 for latency, memory and time)"
        + (", and so is `gateway-sim / before`" if before else "")
        + "; `ahead` is strict: a difference of any size counts, so rows near a floor (the "
        "200 ms delay, the callbacks' ~1.5 s) can go either way by noise.",
        "",
    ]
    for title, rows, notes in tables:
        lines += _table(title, rows, notes, result.sides)
    return "\n".join(lines)
