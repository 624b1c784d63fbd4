"""The sides of the peer benchmark and how each is started, loaded and weighed.

- `baseline`: the case's bare Starlette/ASGI app (bench/baselines.py), on the simulator's server;
- `gateway-sim`: `gateway-sim serve` on the case's scenario (the real CLI): this checkout's, or
  a revision's in a venv of its own (`--today-rev`, bench/snapshot.py);
- `before`: `gateway-sim serve` of the revision before the edge change (`--before-rev`, by default
  31de8e6: uvicorn 0.54 and its fast lane), in a venv of its own (bench/snapshot.py), on the same
  scenario files; left out with `--no-before`;
- `wiremock`: WireMock's standalone jar serving the case's stub (bench/wiremock.py), journal on.

Every run gets a fresh process. Resident memory is the sum of VmRSS over the spawned process and
its descendants (/proc/PID/status), so a wrapper or a child (none today: java, granian's embedded
server and uvicorn each run as one process, granian's Rust threads included) would be counted too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cases as cases_module
import rss
import servers
import wiremock
from cases import Case
from snapshot import Snapshot

SIDES = ("baseline", "gateway-sim", "before", "wiremock")
"""Every side, in the order they take turns."""
SIMULATOR_SIDES = ("gateway-sim", "before")
LABELS = {
    "baseline": "bare Starlette",
    "gateway-sim": "gateway-sim",
    "before": "gateway-sim before",
    "wiremock": "WireMock",
}


@dataclass
class Simulators:
    """Which `gateway-sim` each simulator side runs (set once, at the start of a run)."""

    today: Snapshot | None = None  # None: this checkout's, next to this interpreter
    before: Snapshot | None = None  # None: no `before` side


SIMULATORS = Simulators()


def chosen() -> tuple[str, ...]:
    """The sides of this run, in turn order."""
    return tuple(side for side in SIDES if side != "before" or SIMULATORS.before is not None)


def _snapshot(side: str) -> Snapshot | None:
    if side not in SIMULATOR_SIDES:
        raise ValueError(f"{side!r} is no simulator side")
    return SIMULATORS.today if side == "gateway-sim" else SIMULATORS.before


def simulator_command(side: str, scenario: Path = servers.SCENARIO, port: int = 0) -> list[str]:
    """`gateway-sim serve` of a simulator side on `scenario` and `port`."""
    snapshot = _snapshot(side)
    if snapshot is None:
        return servers.simulator_command(scenario, port)
    return snapshot.command(scenario, port)


def simulator_cwd(side: str) -> Path:
    """Where a simulator side's server runs: its own tree."""
    snapshot = _snapshot(side)
    return servers.ROOT if snapshot is None else snapshot.root


def wiremock_flags(case: str) -> tuple[str, ...]:
    """WireMock's flags beyond its defaults for a case (see `WIREMOCK_FLAGS_NOTE`)."""
    if case == "callbacks":
        return ("--webhook-threadpool-size", "64")
    if case == "latency":
        return ("--async-response-enabled", "true")
    return ()


WIREMOCK_FLAGS_NOTE = (
    "WireMock runs with its defaults (journal on and unbounded, Jetty's default threads, chunked "
    "answers) but for two flags: in the latency case `--async-response-enabled true`, WireMock's "
    "own setting for delayed stubs (without it each delayed answer holds one of Jetty's threads "
    "for 200 ms and 256 connections queue; the latency table's notes show a run with its "
    "defaults only), and in the callbacks case `--webhook-threadpool-size 64`, as the simulator's "
    "`callback_concurrency: 64` and the bare client's 64 at once (its default, 10, caps it at "
    "100 reports/s against a 100 ms receiver)"
)


@contextmanager
def start(
    side: str, case: Case, work: Path, flags: tuple[str, ...] | None = None
) -> Iterator[servers.Server]:
    """A fresh server of `side` for `case`, stopped afterwards (`flags`: WireMock's, if given)."""
    log = work / f"peers-{case.name}-{side}-{time.monotonic_ns()}.log"
    if side == "baseline":
        with servers.serve(side, servers.baseline_command(case.baseline), log) as server:
            yield server
    elif side in SIMULATOR_SIDES:
        command = simulator_command(side, case.scenario)
        with servers.serve(side, command, log, cwd=simulator_cwd(side)) as server:
            yield server
    elif side == "wiremock":
        root = wiremock.write_root(work / f"wiremock-{case.name}", wiremock.stubs(case.name))
        given = wiremock_flags(case.name) if flags is None else flags
        with wiremock.serve(root, log, given) as server:
            yield server
    else:
        raise ValueError(f"unknown side {side!r}")


def verify(side: str, server: servers.Server, case: Case) -> float:
    """Check the side's answer to the case's exact request; the seconds it took."""
    return cases_module.verify(server.host, server.port, case, baseline=side == "baseline")


def descendants(pid: int) -> list[int]:
    found = []
    for child in rss.children(pid):
        found += [child, *descendants(child)]
    return found


def tree_rss_kib(pid: int) -> int:
    """VmRSS of `pid` and all its descendants, in KiB."""
    total = 0
    for member in [pid, *descendants(pid)]:
        try:
            total += rss.rss_kib(member)[0]
        except (OSError, KeyError):
            continue  # gone meanwhile, or a zombie without VmRSS
    return total
