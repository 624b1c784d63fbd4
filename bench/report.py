"""The results: per-case figures, pass/fail against the targets, and the markdown report.

A case passes when the mean simulator rate over its rounds is at least `target` times the mean
baseline rate (for a case with `min_rate`: at least that many req/s, the ratio only reported),
and no run saw a non-2xx answer or a socket error. The memory case passes when the
server's RSS after its sends is at most `RSS_TARGET_MIB`, no run saw an error, every send was
stored and journaled, and the store kept no more than its caps. The callbacks case passes when in
every simulator round the receiver got all 1,000 reports, the 1,000th within
`CALLBACKS_TARGET_S` of the first send, and the simulator lists 1,000 attempts, all delivered.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from callbacks import TOTAL, CallbacksRun
from cases import Case
from rss import SETTLE, RssRun
from wrk import WrkResult

STARTUP_TARGET = 0.5
RSS_TARGET_MIB = 150
CALLBACKS_TARGET_S = 3.0
CALLBACKS_FLOOR_S = 1.5  # 1,000 at 64 at once: the 1,000th arrives with the 16th 100 ms wave


def _times(target: float) -> str:
    """A ratio target as shown: 1.0x, 0.5x, 0.85x."""
    return f"{target:.1f}x" if round(target, 1) == target else f"{target:.2f}x"


def percentiles(run: WrkResult) -> str:
    """`, p50 201.2 ms, p99 209.8 ms`, or nothing if wrk printed no percentiles."""
    if run.p50_ms is None or run.p99_ms is None:
        return ""
    return f", p50 {run.p50_ms:.1f} ms, p99 {run.p99_ms:.1f} ms"


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


@dataclass
class CaseResult:
    """The interleaved runs of one case."""

    case: Case
    baseline: list[WrkResult] = field(default_factory=list)
    simulator: list[WrkResult] = field(default_factory=list)

    @staticmethod
    def _mean(runs: list[WrkResult]) -> float:
        return statistics.fmean(run.requests_per_second for run in runs) if runs else 0.0

    @staticmethod
    def _best(runs: list[WrkResult]) -> float:
        return max((run.requests_per_second for run in runs), default=0.0)

    @staticmethod
    def _latency(runs: list[WrkResult]) -> str:
        """Mean p50 and p99 of the runs, as `; p50 201 ms, p99 212 ms`, if wrk gave them."""
        p50 = [run.p50_ms for run in runs if run.p50_ms is not None]
        p99 = [run.p99_ms for run in runs if run.p99_ms is not None]
        if not p50 or not p99:
            return ""
        return f"; p50 {statistics.fmean(p50):,.0f} ms, p99 {statistics.fmean(p99):,.0f} ms"

    @property
    def simulator_rate(self) -> float:
        return self._mean(self.simulator)

    @property
    def ratio(self) -> float:
        base = self._mean(self.baseline)
        return self._mean(self.simulator) / base if base else 0.0

    @property
    def best_ratio(self) -> float:
        base = self._best(self.baseline)
        return self._best(self.simulator) / base if base else 0.0

    @property
    def clean(self) -> bool:
        return all(run.clean for run in self.baseline + self.simulator)

    @property
    def passed(self) -> bool:
        if self.case.min_rate is not None:
            return self.clean and self.simulator_rate >= self.case.min_rate
        return self.clean and self.ratio >= self.case.target

    def _target(self) -> str:
        """The target cell: a ratio, or an absolute simulator rate (with its ceiling)."""
        case = self.case
        if case.min_rate is None:
            return f">= {_times(case.target)}"
        ceiling = f" of max {case.max_rate:,.0f}" if case.max_rate else ""
        return f"simulator >= {case.min_rate:,.0f} req/s{ceiling} (ratio not judged)"

    def row(self) -> str:
        base, sim = self.baseline, self.simulator
        verdict = "PASS" if self.passed else ("FAIL (errors)" if not self.clean else "FAIL")
        base_ms, sim_ms = (
            (self._latency(base), self._latency(sim)) if self.case.latency_ms else ("", "")
        )
        return (
            f"| {self.case.title} | {self._mean(base):,.0f} (best {self._best(base):,.0f}"
            f"{base_ms}) | {self._mean(sim):,.0f} (best {self._best(sim):,.0f}{sim_ms}) "
            f"| {self.ratio:.2f}x (best/best {self.best_ratio:.2f}x) "
            f"| {self._target()} | {verdict} |"
        )

    def details(self) -> list[str]:
        lines = []
        for side, runs in (("baseline", self.baseline), ("simulator", self.simulator)):
            for number, run in enumerate(runs, 1):
                lines.append(
                    f"- {self.case.name} {side} run {number}: {run.requests_per_second:,.1f} "
                    f"req/s, {run.requests} requests, non-2xx {run.non_2xx}, "
                    f"socket errors {run.socket_errors}{percentiles(run)}"
                )
        return lines


@dataclass
class StartupResult:
    """Spawn-to-first-answer times of `gateway-sim serve`."""

    times: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def passed(self) -> bool:
        return self.median <= STARTUP_TARGET

    def row(self) -> str:
        spread = f"min {min(self.times):.3f} s, max {max(self.times):.3f} s, n={len(self.times)}"
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"| `gateway-sim serve` to first answer | - | median {self.median:.3f} s ({spread}) "
            f"| - | <= {STARTUP_TARGET} s | {verdict} |"
        )


@dataclass
class RssResult:
    """Memory of `gateway-sim serve` along 100,000 sends, and what its store kept."""

    run: RssRun

    @property
    def passed(self) -> bool:
        return self.run.final.rss_kib <= RSS_TARGET_MIB * 1024 and not self.run.problems()

    def row(self) -> str:
        run, early, final = self.run, self.run.early, self.run.final
        problems = run.problems()
        verdict = (
            "PASS"
            if self.passed
            else ("FAIL (" + "; ".join(problems) + ")" if problems else "FAIL")
        )
        return (
            f"| RSS after {final.requests:,} single sends (default retention) | - "
            f"| {_mib(final.rss_kib)} (after {early.requests:,}: {_mib(early.rss_kib)}; "
            f"idle {_mib(run.start.rss_kib)}; peak {_mib(run.peak_kib)}; "
            f"store writes {run.lag:.1f} s behind) "
            f"| - | <= {RSS_TARGET_MIB} MiB | {verdict} |"
        )

    def details(self) -> list[str]:
        run, kept, limits = self.run, self.run.kept, self.run.retention
        curve = ", ".join(f"{s.requests:,}: {_mib(s.rss_kib)}" for s in [run.start, *run.samples])
        rates = ", ".join(f"{r.requests_per_second:,.0f}" for r in run.runs)
        errors = sum(r.non_2xx + r.socket_errors for r in run.runs)
        lines = [
            f"- rss: server pid {run.pid} (`{run.command}`), owns the listening socket, "
            f"no child process",
            f"- rss by sends answered (under load, right after each wrk run): {curve}",
            f"- rss {SETTLE:g} s after the load: {_mib(run.final.rss_kib)}; the first control "
            f"read then waited {run.lag:.1f} s for the pending store writes; RSS once written "
            f"{_mib(run.drained_kib)}, peak (VmHWM) {_mib(run.peak_kib)}",
            f"- rss: {len(run.runs)} wrk runs in {run.elapsed:.0f} s (req/s: {rates}); "
            f"non-2xx + socket errors {errors}",
        ]
        if kept is not None:
            lines.append(
                f"- rss store: {kept.messages:,} messages kept (cap {limits.max_messages:,}; "
                f"{kept.newest_message:,} stored in all), {kept.journal:,} journal entries kept "
                f"(cap {limits.max_journal:,}; {kept.newest_exchange:,} journaled in all)"
            )
        return lines


@dataclass
class CallbacksResult:
    """Rounds of 1,000 reports to the slow receiver: the bare client's and the simulator's."""

    baseline: list[CallbacksRun] = field(default_factory=list)
    simulator: list[CallbacksRun] = field(default_factory=list)

    @staticmethod
    def _seconds(runs: list[CallbacksRun]) -> list[float]:
        return [run.seconds for run in runs if run.seconds is not None]

    @property
    def clean(self) -> bool:
        return all(not run.problems() for run in self.baseline + self.simulator)

    @property
    def passed(self) -> bool:
        times = self._seconds(self.simulator)
        return (
            self.clean
            and len(times) == len(self.simulator) > 0
            and max(times) <= CALLBACKS_TARGET_S
        )

    @property
    def ratio(self) -> float:
        """Mean simulator time over mean baseline time (above 1: the simulator is slower)."""
        base, sim = self._seconds(self.baseline), self._seconds(self.simulator)
        return statistics.fmean(sim) / statistics.fmean(base) if base and sim else 0.0

    def _cell(self, runs: list[CallbacksRun]) -> str:
        times = self._seconds(runs)
        if not times:
            return "no round got all reports"
        late = len(runs) - len(times)
        missing = f"; {late} round(s) short" if late else ""
        answered = [r.tally.last_answered for r in runs if r.tally.last_answered is not None]
        return (
            f"1,000th report at {statistics.fmean(times):.2f} s mean (best {min(times):.2f}, "
            f"worst {max(times):.2f} s; {TOTAL / statistics.fmean(times):,.0f} reports/s; last "
            f"answered {statistics.fmean(answered):.2f} s{missing})"
        )

    def row(self) -> str:
        verdict = "PASS" if self.passed else ("FAIL" if self.clean else "FAIL (see the runs)")
        ratio = f"{self.ratio:.2f}x the baseline's time" if self.ratio else "-"
        return (
            f"| 1,000 delivery reports, receiver answering in 100 ms, 64 at once "
            f"| {self._cell(self.baseline)} | {self._cell(self.simulator)} | {ratio} "
            f"| every round <= {CALLBACKS_TARGET_S:g} s to the 1,000th "
            f"(floor ~{CALLBACKS_FLOOR_S:g} s) | {verdict} |"
        )

    def details(self) -> list[str]:
        runs = [run for pair in zip(self.baseline, self.simulator, strict=True) for run in pair]
        return [f"- callbacks {run.describe()}" for run in runs]


def render(
    cases: list[CaseResult],
    startup: StartupResult | None,
    context: list[str],
    rss: RssResult | None = None,
    callbacks: CallbacksResult | None = None,
) -> str:
    """The whole report as markdown."""
    lines = [
        "# gateway-sim benchmark",
        "",
        *context,
        "",
        "| Case | Baseline req/s | Simulator req/s | Ratio (mean/mean) | Target | Result |",
        "|---|---|---|---|---|---|",
        *(result.row() for result in cases),
    ]
    if callbacks is not None:
        lines.append(callbacks.row())
    if rss is not None:
        lines.append(rss.row())
    if startup is not None:
        lines.append(startup.row())
    details = [line for result in cases for line in result.details()]
    if callbacks is not None:
        details += callbacks.details()
    if rss is not None:
        details += rss.details()
    if startup is not None:
        details.append("- startup times (s): " + ", ".join(f"{t:.3f}" for t in startup.times))
    if details:
        lines += [
            "",
            "Every run (per case the sides alternated: baseline, simulator, baseline, ...):",
            "",
            *details,
        ]
    return "\n".join(lines) + "\n"


def all_passed(
    cases: list[CaseResult],
    startup: StartupResult | None,
    rss: RssResult | None = None,
    callbacks: CallbacksResult | None = None,
) -> bool:
    return (
        all(result.passed for result in cases)
        and (startup is None or startup.passed)
        and (rss is None or rss.passed)
        and (callbacks is None or callbacks.passed)
    )
