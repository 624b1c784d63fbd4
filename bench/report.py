"""The results: per-case figures, pass/fail against the targets, and the markdown report.

A case passes when the mean simulator rate over its rounds is at least `target` times the mean
baseline rate, and no run saw a non-2xx answer or a socket error.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from cases import Case
from wrk import WrkResult

STARTUP_TARGET = 0.5


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
        return self.clean and self.ratio >= self.case.target

    def row(self) -> str:
        base, sim = self.baseline, self.simulator
        verdict = "PASS" if self.passed else ("FAIL (errors)" if not self.clean else "FAIL")
        return (
            f"| {self.case.title} | {self._mean(base):,.0f} (best {self._best(base):,.0f}) "
            f"| {self._mean(sim):,.0f} (best {self._best(sim):,.0f}) "
            f"| {self.ratio:.2f}x (best/best {self.best_ratio:.2f}x) "
            f"| >= {self.case.target:.1f}x | {verdict} |"
        )

    def details(self) -> list[str]:
        lines = []
        for side, runs in (("baseline", self.baseline), ("simulator", self.simulator)):
            for number, run in enumerate(runs, 1):
                lines.append(
                    f"- {self.case.name} {side} run {number}: {run.requests_per_second:,.1f} "
                    f"req/s, {run.requests} requests, non-2xx {run.non_2xx}, "
                    f"socket errors {run.socket_errors}"
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


def render(cases: list[CaseResult], startup: StartupResult | None, context: list[str]) -> str:
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
    if startup is not None:
        lines.append(startup.row())
    details = [line for result in cases for line in result.details()]
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


def all_passed(cases: list[CaseResult], startup: StartupResult | None) -> bool:
    return all(result.passed for result in cases) and (startup is None or startup.passed)
