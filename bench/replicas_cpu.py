"""Who used the CPU during a measured run: this run's own processes (wrk, the replicas, the
PostgreSQL cluster) and everything else on the machine.

On a shared machine the load average cannot tell a disturbed run from a quiet one: the run's own
wrk, replicas and PostgreSQL keep two or three processes runnable on two cores. What others used
can be told: the machine's busy time (/proc/stat) less the CPU time of the run's processes
(/proc/PID/stat). wrk is a child of this process: its time is in this process's `cutime` once it
is reaped. The cluster's backends are children of its postmaster, found by its data folder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import rss

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Snapshot:
    """CPU times in clock ticks at one moment: the machine's busy time and each watched group's."""

    at: float
    busy: int
    groups: Mapping[str, Mapping[int, int]]


@dataclass(frozen=True)
class Share:
    """Cores used on average between two snapshots, by group, and by everything else."""

    cores: Mapping[str, float]
    others: float


def busy_ticks() -> int:
    """The machine's time in user, nice, system, irq and softirq (not idle, iowait or steal)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(n) for n in fields[:7])
    return user + nice + system + irq + softirq


def process_ticks(pid: int) -> int | None:
    """utime + stime + cutime + cstime of a process (its reaped children included)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    # After the command: state (0), ppid (1), ... utime (11), stime (12), cutime (13), cstime (14).
    return sum(int(n) for n in fields[11:15])


def postmaster(data_directory: Path) -> int | None:
    """The postmaster's pid of a cluster (the first line of its postmaster.pid), if readable."""
    try:
        return int((data_directory / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def snapshot(groups: Mapping[str, Iterable[int]]) -> Snapshot:
    """Each group's processes' ticks now (a postmaster's group lists its backends too)."""
    ticks: dict[str, dict[int, int]] = {}
    for name, pids in groups.items():
        found: dict[int, int] = {}
        for pid in pids:
            for one in (pid, *rss.children(pid)) if name == "postgres" else (pid,):
                value = process_ticks(one)
                if value is not None:
                    found[one] = value
        ticks[name] = found
    return Snapshot(time.monotonic(), busy_ticks(), ticks)


def share(before: Snapshot, after: Snapshot) -> Share:
    """Cores used between the snapshots: each group's, and the rest of the machine's."""
    seconds = max(after.at - before.at, 1e-9)
    cores: dict[str, float] = {}
    for name, now in after.groups.items():
        then = before.groups.get(name, {})
        # A process that started in between counts whole; one that ended is in its parent's.
        used = sum(value - then.get(pid, 0) for pid, value in now.items())
        cores[name] = used / TICKS / seconds
    total = (after.busy - before.busy) / TICKS / seconds
    return Share(cores, max(total - sum(cores.values()), 0.0))
