"""The peer benchmark's process figures: memory after 500,000 sends, and start-up time.

- Memory: a fresh server of each side is checked, then driven by wrk runs of `RUN` seconds (the
  `single` request, the run's connections) until it has answered `total` sends (wrk's completed
  requests, summed, plus the checks'); VmRSS of its process tree is read after each run, again
  `SETTLE` s after the load, and its answer is checked once more at the end.
- Start-up: the side is spawned on a known free port and the `single` request is sent every 2 ms
  until a 200 with the right answer comes back; the figure is spawn to that answer. Sides take
  turns (baseline, gateway-sim, gateway-sim before, WireMock, baseline, ...); the median is
  reported.
"""

from __future__ import annotations

import http.client
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cases as cases_module
import peers_sides
import servers
import wiremock
import wrk
from cases import Case

RUN = 10
SETTLE = 1.0
_POLL = 0.002


@dataclass
class MemoryRun:
    """One server driven past `total` sends: its RSS along the way."""

    side: str
    total: int
    idle_kib: int = 0
    curve: list[tuple[int, int]] = field(default_factory=list)  # (answered, KiB)
    runs: list[wrk.WrkResult] = field(default_factory=list)
    settled_kib: int = 0
    elapsed: float = 0.0

    @property
    def answered(self) -> int:
        return self.curve[-1][0] if self.curve else 1

    @property
    def errors(self) -> int:
        return sum(run.non_2xx + run.socket_errors for run in self.runs)

    @property
    def rate(self) -> float:
        seconds = sum(RUN for _ in self.runs)
        return sum(run.requests for run in self.runs) / seconds if seconds else 0.0


def memory(side: str, case: Case, load: wrk.Load, work: Path, total: int) -> MemoryRun:
    """Drive a fresh `side` server past `total` sends of `case`; sample its RSS."""
    script = wrk.write_script(work, f"memory-{case.name}", case.body, case.content_type)
    started = time.monotonic()
    run = MemoryRun(side, total)
    with peers_sides.start(side, case, work) as server:
        pid, url = server.process.pid, f"http://{server.host}:{server.port}{case.path}"
        peers_sides.verify(side, server, case)
        answered = 1
        run.idle_kib = peers_sides.tree_rss_kib(pid)
        while answered < total:
            result = wrk.run(url, script, wrk.Load(RUN, load.connections, load.threads))
            run.runs.append(result)
            answered += result.requests
            run.curve.append((answered, peers_sides.tree_rss_kib(pid)))
            print(
                f"  memory {side:11} {answered:9,} sends {run.curve[-1][1] / 1024:8.1f} MiB"
                f"  ({result.requests_per_second:,.0f} req/s)",
                flush=True,
            )
        time.sleep(SETTLE)
        run.settled_kib = peers_sides.tree_rss_kib(pid)
        peers_sides.verify(side, server, case)
    run.elapsed = time.monotonic() - started
    return run


def _command(side: str, case: Case, port: int, work: Path) -> tuple[list[str], Path]:
    """The side's command on `port`, and the directory to run it in."""
    if side == "baseline":
        script = str(servers.BENCH / "baselines.py")
        return [sys.executable, script, case.baseline, "--port", str(port)], servers.ROOT
    if side in peers_sides.SIMULATOR_SIDES:
        command = peers_sides.simulator_command(side, case.scenario, port)
        return command, peers_sides.simulator_cwd(side)
    root = wiremock.write_root(work / "wiremock-startup", wiremock.stubs(case.name))
    return wiremock.command(root, port), root


def _answered(port: int, case: Case) -> tuple[int, str] | None:
    """The case's request, answered; None while nothing listens yet."""
    try:
        return cases_module.post("127.0.0.1", port, case)
    except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected):
        return None


def startup_once(side: str, case: Case, work: Path, timeout: float = 60.0) -> float:
    """Seconds from spawn to the first right answer to the case's request."""
    port = servers.free_port()
    command, cwd = _command(side, case, port, work)
    log = work / f"startup-{side}-{time.monotonic_ns()}.log"
    check = case.baseline_check if side == "baseline" else case.check
    with log.open("wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=servers.clean_env(),
        )
    try:
        while time.perf_counter() - start < timeout:
            answer = _answered(port, case)
            if answer is not None and answer[0] == 200:
                elapsed = time.perf_counter() - start
                problem = check(answer[1])
                if problem:
                    raise AssertionError(f"startup {side}: {problem}")
                return elapsed
            if process.poll() is not None:
                raise servers.ServerError(
                    f"startup {side}: exited with {process.returncode}\n{servers.log_tail(log)}"
                )
            time.sleep(_POLL)
        raise servers.ServerError(f"startup {side}: no answer within {timeout} s")
    finally:
        servers.stop(process)


def startup(case: Case, work: Path, runs: int) -> dict[str, list[float]]:
    """`runs` start-ups of each side, taking turns; seconds by side."""
    sides = peers_sides.chosen()
    times: dict[str, list[float]] = {side: [] for side in sides}
    for _ in range(runs):
        for side in sides:
            times[side].append(startup_once(side, case, work))
    for side in sides:
        print(f"  startup {side:11} median {statistics.median(times[side]):.3f} s", flush=True)
    return times
