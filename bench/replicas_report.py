"""What bench/replicas.py measured, as the Markdown section "Replicas on PostgreSQL (issue 20)":
the machine and the PostgreSQL server it ran on, a table of the cases with their ratios, and each
attempt's figures side by side.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import peers_report
import psycopg
import replicas_cpu
import servers
import wrk

TITLE = "## Replicas on PostgreSQL (issue 20)"
BASE = "memory"
SETTINGS = ("synchronous_commit", "fsync", "wal_sync_method", "shared_buffers", "max_connections")


@dataclass(frozen=True)
class Context:
    """What every case shares: the PostgreSQL server, the work folder, the scenario."""

    postgres: str
    work: Path
    scenario: Path
    postmaster: int | None
    server: str  # the server's version and settings, for the report


@dataclass(frozen=True)
class Attempt:
    """One measured run of a case: each replica's wrk side and what the run's counts say."""

    sides: list[wrk.WrkResult]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    cpu: replicas_cpu.Share
    outcomes: dict[str, int]
    spent: Decimal
    waited: float  # s waited for a quiet machine before; negative: it never was
    waits: str  # PostgreSQL cases: the replicas' connections during the measured run

    @property
    def rate(self) -> float:
        return sum(side.requests_per_second for side in self.sides)

    @property
    def p50(self) -> float:
        return max(side.p50_ms or 0.0 for side in self.sides)

    @property
    def p99(self) -> float:
        return max(side.p99_ms or 0.0 for side in self.sides)

    @property
    def accepted(self) -> int:
        return self.outcomes.get("accepted", 0)

    @property
    def not_id(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome != "accepted")

    @property
    def wrk_errors(self) -> int:
        return sum(side.non_2xx + side.socket_errors for side in self.sides)

    @property
    def clean(self) -> bool:
        return self.not_id == 0 and self.wrk_errors == 0 and self.spent == self.accepted

    def describe(self) -> str:
        sides = "; ".join(
            f"{s.requests_per_second:,.0f} req/s p50 {s.p50_ms or 0:.1f} ms "
            f"p99 {s.p99_ms or 0:.1f} ms ({s.requests:,} requests)"
            for s in self.sides
        )
        cores = ", ".join(f"{name} {n:.2f}" for name, n in self.cpu.cores.items())
        quiet = (
            f"started after {self.waited:.0f} s of waiting for a quiet machine"
            if self.waited >= 0
            else f"started on a busy machine after {-self.waited:.0f} s of waiting"
        )
        waits = f"; the replicas' connections: {self.waits}" if self.waits else ""
        return (
            f"{quiet}; {sides}; {self.accepted:,} sends answered ID: in the case, "
            f"{self.not_id} not, credit spent {self.spent:,}, wrk errors {self.wrk_errors}; "
            f"load average {_load(self.load_before)} before, {_load(self.load_after)} after; "
            f"cores used: {cores}, others {self.cpu.others:.2f}{waits}"
        )


@dataclass
class Case:
    """A setup and its accounts, run once or again when others disturbed it."""

    setup: str
    setup_title: str
    accounts: str
    accounts_title: str
    attempts: list[Attempt]

    @property
    def name(self) -> str:
        return f"{self.setup}-{self.accounts}"

    @property
    def chosen(self) -> Attempt:
        """The quietest attempt: the least CPU used by others during it."""
        return min(self.attempts, key=lambda one: one.cpu.others)


@dataclass
class Report:
    machine: list[str]
    cases: list[Case]
    elapsed: float = 0.0

    @property
    def clean(self) -> bool:
        return all(case.chosen.clean for case in self.cases)

    def case(self, setup: str, accounts: str) -> Case | None:
        return next((c for c in self.cases if (c.setup, c.accounts) == (setup, accounts)), None)


def _load(load: tuple[float, float, float]) -> str:
    return "/".join(f"{n:.2f}" for n in load)


def context(url: str, work: Path, scenario: Path) -> Context:
    """Ask the server for its version, settings and data folder (its postmaster's pid)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as connection:

        def show(name: str) -> str:
            row = connection.execute(f"SHOW {name}").fetchone()
            return str(row[0]) if row else "?"

        version = show("server_version")
        settings = ", ".join(f"{name} {show(name)}" for name in SETTINGS)
        data = Path(show("data_directory"))
    server = f"PostgreSQL {version} ({settings}; data on {_file_system(data)})"
    return Context(url, work, scenario, replicas_cpu.postmaster(data), server)


def _file_system(path: Path) -> str:
    """The type and device of the mount that holds `path`, from /proc/mounts."""
    best = ("", "?", "?")
    for line in Path("/proc/mounts").read_text().splitlines():
        device, mount, kind, *_ = line.split()
        inside = str(path).startswith(mount.rstrip("/") + "/") or str(path) == mount
        if inside and len(mount) >= len(best[0]):
            best = (mount, kind, device)
    return f"{best[1]} on {best[2]}"


def _revision() -> str:
    def git(*words: str) -> str:
        done = subprocess.run(
            ["git", *words], cwd=servers.ROOT, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    dirty = " with uncommitted changes" if git("status", "--porcelain", "--", "gateway_sim") else ""
    return f"{git('rev-parse', '--short', 'HEAD')}{dirty}"


def machine(args: argparse.Namespace, argv: Sequence[str], context: Context) -> list[str]:
    """What the run ran on, how, and with what."""
    command = shlex.join([".venv/bin/python", "bench/replicas.py", *argv])
    half = args.connections // 2
    return [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average at the start "
        f"{peers_report.load_average()}",
        f"- machine: {peers_report.cpu_model()}, `nproc` {os.cpu_count()}, "
        f"{peers_report.ram()} RAM; {peers_report.os_release()}; shared with other engineers' "
        "test runs",
        f"- {context.server}; a throwaway cluster of `.ci/postgres start` unless `--postgres`",
        f"- Python {platform.python_version()}; {peers_report.first_line(['wrk', '-v'])}; "
        f"gateway-sim at {_revision()}; SQLite files on {_file_system(context.work)}",
        f"- command: `{command}`",
        f"- load: wrk `--latency`, 1 thread, {args.connections} connections in all: 1 replica "
        f"gets them all, 2 replicas {half} each from two wrk processes at once; per case fresh "
        f"replicas (`gateway-sim serve --log-level warning`) and a fresh database, each "
        f"replica's answer checked, {args.warmup} s of warm-up, then {args.duration} s measured; "
        "each request a single-recipient urlencoded send (bench/cases.py's `single`) by the "
        "case's account, or by the next of the 100 in turn",
        f"- a case runs again (at most {args.attempts} times) when others used more than "
        f"{args.others_max} cores during its measured run; the quietest attempt is in the table",
        *([f"- conditions: {args.note}"] if args.note else []),
    ]


def _ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}x" if base else ""


def _rows(report: Report) -> list[str]:
    rows = []
    for case in report.cases:
        one = case.chosen
        base = report.case(BASE, case.accounts)
        cores = "/".join(f"{case_cores:.2f}" for case_cores in one.cpu.cores.values())
        rows.append(
            f"| {case.setup_title} | {case.accounts_title} | {one.rate:,.0f} | "
            f"{_ratio(one.rate, base.chosen.rate if base else None)} | {one.p50:.1f} ms | "
            f"{one.p99:.1f} ms | {one.not_id} of {one.accepted + one.not_id:,} | "
            f"{one.load_before[0]:.2f} → {one.load_after[0]:.2f} | {one.cpu.others:.2f} | "
            f"{cores} | {len(case.attempts)} |"
        )
    return rows


def _comparisons(report: Report) -> list[str]:
    lines = []
    for accounts in ("hot", "spread"):
        one, two = report.case("pg1", accounts), report.case("pg2", accounts)
        if one and two:
            lines.append(
                f"- {accounts}: 2 replicas / 1 replica on PostgreSQL "
                f"{_ratio(two.chosen.rate, one.chosen.rate)} req/s"
            )
    for setup in ("memory", "file", "pg1", "pg2"):
        hot, spread = report.case(setup, "hot"), report.case(setup, "spread")
        if hot and spread:
            lines.append(
                f"- {hot.setup_title}: one hot account / 100 accounts "
                f"{_ratio(hot.chosen.rate, spread.chosen.rate)} req/s"
            )
    return lines


def render(report: Report) -> str:
    lines = [
        TITLE,
        "",
        *report.machine,
        f"- the run took {report.elapsed / 60:.1f} min; load average at the end "
        f"{peers_report.load_average()}",
        "",
        "| setup | accounts | req/s | / SQLite in memory | p50 | p99 | sends not `ID:` | "
        "load (1 min) before → after | others' cores | cores: wrk/replicas/PostgreSQL | runs |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *_rows(report),
        "",
        *_comparisons(report),
        "",
        "Reading the table: req/s is the sum of the wrk sides (2 replicas: two), p50 and p99 "
        "the worse side's; sends not `ID:` are the replicas' own counts (/metrics) over the "
        "whole case (check, warm-up and measured run), and the credit spent (/_sim/accounts) "
        "equals the sends answered `ID:` in every case unless said below; the load average is "
        "the machine's, this run's own wrk, replicas and PostgreSQL included (two or three "
        "processes runnable on two cores), so others' cores (busy time less this run's CPU "
        "time) tell a disturbed run; cores: the run's own use, in cores, during the measured "
        "run.",
        "",
    ]
    for case in report.cases:
        lines.append(f"- {case.name}:")
        lines += [f"  - attempt {n}: {one.describe()}" for n, one in enumerate(case.attempts, 1)]
    unclean = [case.name for case in report.cases if not case.chosen.clean]
    if unclean:
        lines += ["", f"**Not clean** (refusals, wrk errors or credit off): {', '.join(unclean)}"]
    return "\n".join([*lines, ""])


def write_section(path: Path, section: str) -> None:
    """Put `section` in `path` in place of its section of the same title, or at the end."""
    text = path.read_text() if path.exists() else ""
    lines = text.splitlines()
    try:
        start = lines.index(TITLE)
    except ValueError:
        path.write_text(text.rstrip("\n") + "\n\n" + section)
        return
    end = next((n for n in range(start + 1, len(lines)) if lines[n].startswith("## ")), len(lines))
    kept = [*lines[:start], *section.rstrip("\n").splitlines(), *([""] if end < len(lines) else [])]
    path.write_text("\n".join([*kept, *lines[end:]]) + "\n")
