"""The peer benchmark (`make bench-peers`): gateway-sim against bare Starlette, its edge before
the change, and WireMock.

One run, one load generator (wrk, the same connections and threads for every side), four sides:
the case's bare baseline (bench/baselines.py, on the simulator's own server), `gateway-sim serve`
of this checkout (or of `--today-rev REV`), `gateway-sim serve` of the revision before the edge
change (`--before-rev`, by default 31de8e6: uvicorn 0.54 and its fast lane, in place of granian;
exported and installed in a venv of its own under bench/out/ by bench/snapshot.py; `--no-before`
leaves it out), and WireMock's standalone jar serving a stub of the same send with its request
journal on (bench/wiremock.py; the jar comes from npm into bench/out/ when missing). Cases:
`single`, `hundred`, `mms`, `latency` (bench/cases.py; each side's answer is checked before and
after the load), then `callbacks` (1,000 delivery reports to a receiver answering in 100 ms,
bench/peers_callbacks.py), `memory` (RSS after 500,000 sends) and `startup` (spawn to first
answered send; bench/peers_process.py).

Per case and side, a fresh server: its first answer is checked, then wrk runs at once for
`--cold` s (the cold figure: what a CI job sees), keeps loading until `--warm-after` s of load,
and runs `--warm` s more (the warm figure); the process tree's RSS is read then, and the answer
checked again. Sides take turns per case (baseline, gateway-sim, before, WireMock). The report
(Markdown, `--out`) judges the issue's targets for gateway-sim and the before side, sums up what
today's edge gains or costs against the one before, and has a table per case (`--rounds`: the
mean of that many rounds, sides still taking turns) with the ratio gateway-sim / WireMock and
whether gateway-sim is ahead; the exit status is 0 when it is ahead on every row and meets every
target, 1 if not, 2 on a broken run.

    .venv/bin/python bench/peers.py [--out bench/RESULTS.md]       # the full run, ~25 min
    .venv/bin/python bench/peers.py --cold 2 --warm-after 4 --warm 2 --memory-sends 20000 \\
        --startup-runs 1 --only single --only callbacks --no-before   # a quick try
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import cases as cases_module
import peers_callbacks
import peers_process
import peers_report
import peers_sides
import servers
import snapshot
import wiremock
import wrk
from cases import Case
from peers_report import Phases

CASE_NAMES = ["single", "hundred", "mms", "latency", "callbacks", "memory", "startup"]
OUT = servers.BENCH / "out" / "peers.md"
MEMORY_SENDS = 500_000
BEFORE_REV = "31de8e6"
"""main just before the edge change (1c638c9: granian's embedded server in place of uvicorn and
the fast lane on its private internals)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cold", type=int, default=5, help="seconds of the cold run (default 5)")
    parser.add_argument(
        "--warm-after", type=int, default=30, help="seconds of load before the warm run"
    )
    parser.add_argument("--warm", type=int, default=10, help="seconds of the warm run")
    parser.add_argument(
        "--connections", type=int, default=32, help="wrk connections (unless the case sets them)"
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds per case of the wrk cases (default 1)"
    )
    parser.add_argument(
        "--memory-sends", type=int, default=MEMORY_SENDS, help="sends before the RSS reading"
    )
    parser.add_argument("--startup-runs", type=int, default=5, help="spawns per side to time")
    parser.add_argument(
        "--only", action="append", choices=CASE_NAMES, help="run only this case (repeatable)"
    )
    parser.add_argument("--out", type=Path, default=OUT, help=f"report file (default {OUT})")
    parser.add_argument("--note", default="", help="a line on the run's conditions, for the report")
    parser.add_argument(
        "--before-rev",
        default=BEFORE_REV,
        metavar="REV",
        help=f"the revision of the `before` side (default {BEFORE_REV}: main before the edge "
        "change), installed under bench/out/ on first use",
    )
    parser.add_argument(
        "--no-before", action="store_true", help="leave the `before` side out (skips its install)"
    )
    parser.add_argument(
        "--today-rev",
        metavar="REV",
        help="measure REV's gateway-sim (installed like the before side) in place of this "
        "checkout's: a working tree under edit cannot change under the run",
    )
    return parser


def _phases(
    side: str,
    case: Case,
    args: argparse.Namespace,
    work: Path,
    flags: tuple[str, ...] | None = None,
) -> Phases:
    """One fresh server: checked, cold run, load until warm, warm run, RSS, checked again."""
    connections = case.connections or args.connections
    script = work / f"{case.name}.lua"
    with peers_sides.start(side, case, work, flags) as server:
        url = f"http://{server.host}:{server.port}{case.path}"
        peers_sides.verify(side, server, case)
        cold = wrk.run(url, script, wrk.Load(args.cold, connections, args.threads))
        between = args.warm_after - args.cold
        if between > 0:
            wrk.run(url, script, wrk.Load(between, connections, args.threads))
        warm = wrk.run(url, script, wrk.Load(args.warm, connections, args.threads))
        rss_kib = peers_sides.tree_rss_kib(server.process.pid)
        peers_sides.verify(side, server, case)
    phases = Phases(side, cold, warm, rss_kib)
    print(f"  {case.name:8} {side:11} {phases.describe()}", flush=True)
    return phases


def _run_case(case: Case, args: argparse.Namespace, work: Path) -> peers_report.CaseRows:
    wrk.write_script(work, case.name, case.body, case.content_type)
    sides = peers_sides.chosen()
    phases: dict[str, list[Phases]] = {side: [] for side in sides}
    for _ in range(args.rounds):
        for side in sides:
            phases[side].append(_phases(side, case, args, work))
    result = peers_report.CaseRows(case, phases)
    if case.name == "latency":
        print("  latency: WireMock once more, with its defaults only", flush=True)
        result.wiremock_defaults = _phases("wiremock", case, args, work, flags=())
    return result


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _single() -> Case:
    return next(case for case in cases_module.all_cases() if case.name == "single")


def _run(args: argparse.Namespace, work: Path, result: peers_report.Result) -> None:
    selected = args.only or CASE_NAMES
    load = wrk.Load(args.warm, args.connections, args.threads)
    for case in cases_module.all_cases():
        if case.name in selected:
            print(f"{case.name}: {case.title}", flush=True)
            result.cases.append(_run_case(case, args, work))
    if "callbacks" in selected:
        print("callbacks: 1,000 delivery reports to a receiver answering in 100 ms", flush=True)
        result.callbacks = peers_callbacks.measure(load, args.warm_after, work)
    if "memory" in selected:
        print(f"memory: RSS after {args.memory_sends:,} single sends", flush=True)
        result.memory = {
            side: peers_process.memory(side, _single(), load, work, args.memory_sends)
            for side in peers_sides.chosen()
        }
    if "startup" in selected:
        print(f"startup: {args.startup_runs} spawns per side", flush=True)
        result.startup = peers_process.startup(_single(), work, args.startup_runs)


def _simulators(args: argparse.Namespace) -> list[str]:
    """Install the revisions the simulator sides run (if any); a report line on each side."""
    sides = peers_sides.SIMULATORS
    if args.today_rev:
        sides.today = snapshot.prepare(args.today_rev)
        today = f"`gateway-sim serve` of {sides.today.describe()}, in {sides.today.venv}"
    else:
        found = snapshot.versions(sys.executable)
        today = f"this checkout's `gateway-sim serve` ({snapshot.checkout()}; {found})"
    lines = [f"gateway-sim = {today}"]
    if not args.no_before:
        sides.before = snapshot.prepare(args.before_rev)
        lines.append(
            f"gateway-sim before = `gateway-sim serve` of {sides.before.describe()}: the edge "
            f"before the change, installed from its own pyproject into {sides.before.venv} "
            "(the packages both need at the checkout venv's versions), run in its own tree"
        )
    for side in peers_sides.SIMULATOR_SIDES:
        if side in peers_sides.chosen():
            print(f"{side}: {' '.join(peers_sides.simulator_command(side))}", flush=True)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    started = time.monotonic()
    try:
        simulators = _simulators(args)
        jar = wiremock.jar()
        machine = peers_report.machine(args, argv, jar, simulators)
        result = peers_report.Result(machine, peers_sides.chosen())
        with tempfile.TemporaryDirectory(prefix="gateway-sim-peers-") as tmp:
            _run(args, Path(tmp), result)
    except (
        AssertionError,
        servers.ServerError,
        snapshot.SnapshotError,
        wrk.WrkError,
        wiremock.WiremockError,
    ) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    result.elapsed = time.monotonic() - started
    text = peers_report.render(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print()
    print(text)
    print(f"written to {args.out}")
    return 0 if result.ahead and result.targets_met else 1


if __name__ == "__main__":
    raise SystemExit(main())
