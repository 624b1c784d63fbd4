"""The benchmark suite (`make bench`): the simulator against bare baselines, in the same run.

For each case it alternates baseline and simulator runs (`--rounds` of each, baseline first).
Every run gets a fresh server process (so the simulator's message store starts empty), whose
answer to the exact request is checked before a warm-up and the measured wrk run, and again
after. The `store` case sets the simulator against itself with its store disabled. The `latency`
case serves a scenario that delays every answer by 200 ms, at 256 connections, and is judged on
the simulator's own rate (the ratio to a sleeping baseline is reported). The `callbacks` case times
1,000 delivery reports from `gateway-sim serve` to a receiver that answers in 100 ms, against a
bare httpx client posting the same 1,000 forms (bench/callbacks.py). The `rss` case
drives one `gateway-sim serve` past 100,000 sends and reads its resident memory (bench/rss.py).
Then it times `gateway-sim serve` to its first answered request. The table is printed and
written to bench/out/results.md; the exit status is 0 when every target is met, 1 if not.

    .venv/bin/python bench/run.py [--duration 10] [--connections 32] [--only single --only rss]
    .venv/bin/python bench/run.py --only latency
    .venv/bin/python bench/run.py --only callbacks

On a busy machine wrk's figures swing; bench/inproc.py (the apps called in process) and
callgrind instruction counts of it are steadier ways to decide a change, confirmed here.
"""

from __future__ import annotations

import argparse
import platform
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import callbacks
import cases as cases_module
import report
import rss
import servers
import startup
import wrk
from cases import Case

CASE_NAMES = ["single", "hundred", "mms", "store", "latency", "callbacks", "rss", "startup"]
OUT = servers.BENCH / "out" / "results.md"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument(
        "--connections", type=int, default=32, help="wrk connections (unless the case sets them)"
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per side and case")
    parser.add_argument(
        "--warmup", type=int, default=2, help="seconds of load before each (0: none)"
    )
    parser.add_argument("--startup-runs", type=int, default=7, help="spawns to time")
    parser.add_argument(
        "--rss-sends",
        type=int,
        default=rss.TOTAL,
        help=f"rss: sends to drive (default {rss.TOTAL:,})",
    )
    parser.add_argument(
        "--only", action="append", choices=CASE_NAMES, help="run only this case (repeatable)"
    )
    parser.add_argument("--out", type=Path, default=OUT, help=f"report file (default {OUT})")
    return parser


def _measure(case: Case, side: str, load: wrk.Load, warmup: int, work: Path) -> wrk.WrkResult:
    """One fresh server, checked, warmed up, measured, checked again, stopped."""
    baseline = side == "baseline"
    command = (
        servers.baseline_command(case.baseline)
        if baseline
        else servers.simulator_command(case.scenario)
    )
    script = work / f"{case.name}.lua"
    log = work / f"{case.name}-{side}-{time.monotonic_ns()}.log"
    with servers.serve(side, command, log) as server:
        url = f"http://{server.host}:{server.port}{case.path}"
        took = cases_module.verify(server.host, server.port, case, baseline=baseline)
        if warmup > 0:
            wrk.run(url, script, wrk.Load(warmup, load.connections, load.threads))
        result = wrk.run(url, script, load)
        cases_module.verify(server.host, server.port, case, baseline=baseline)
    checked = f", checked request {took * 1000:.1f} ms" if case.latency_ms else ""
    print(
        f"  {case.name:8} {side:9} {result.requests_per_second:10,.1f} req/s"
        f"  ({result.requests} requests, non-2xx {result.non_2xx}, "
        f"socket errors {result.socket_errors}{report.percentiles(result)}{checked})",
        flush=True,
    )
    return result


def _run_case(case: Case, args: argparse.Namespace, work: Path) -> report.CaseResult:
    load = wrk.Load(args.duration, case.connections or args.connections, args.threads)
    wrk.write_script(work, case.name, case.body, case.content_type)
    result = report.CaseResult(case)
    for _ in range(args.rounds):
        result.baseline.append(_measure(case, "baseline", load, args.warmup, work))
        result.simulator.append(_measure(case, "simulator", load, args.warmup, work))
    if case.min_rate is None:
        print(f"  {case.name}: ratio {result.ratio:.2f}x (target {case.target}x)", flush=True)
    else:
        print(
            f"  {case.name}: simulator {result.simulator_rate:,.1f} req/s "
            f"(target >= {case.min_rate:,.0f}), ratio {result.ratio:.2f}x",
            flush=True,
        )
    return result


def _run_rss(args: argparse.Namespace, work: Path) -> report.RssResult:
    single = next(case for case in cases_module.all_cases() if case.name == "single")
    print(f"rss: gateway-sim serve, {args.rss_sends:,} single-recipient sends", flush=True)
    result = report.RssResult(
        rss.measure(single, args.connections, args.threads, work, args.rss_sends)
    )
    final = result.run.final
    print(f"  {final.rss_kib / 1024:.1f} MiB after {final.requests:,} sends", flush=True)
    return result


def _run_callbacks(args: argparse.Namespace, work: Path) -> report.CallbacksResult:
    print(
        f"callbacks: {callbacks.TOTAL:,} delivery reports to a receiver answering in "
        f"{callbacks.DELAY * 1000:.0f} ms, {args.rounds} rounds per side",
        flush=True,
    )
    result = report.CallbacksResult(*callbacks.measure(args.rounds, work))
    print(
        f"  callbacks: ratio {result.ratio:.2f}x the baseline's time "
        f"(target <= {report.CALLBACKS_TARGET_S:g} s every round)",
        flush=True,
    )
    return result


def _context(args: argparse.Namespace, argv: Sequence[str]) -> list[str]:
    all_cases = cases_module.all_cases()
    fixed = "".join(f", {c.name}: {c.connections}" for c in all_cases if c.connections)
    latency = next(case for case in all_cases if case.name == "latency")
    return [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC; host: {platform.node()}, "
        f"{platform.machine()}, Python {platform.python_version()}",
        f"- command: `{' '.join([sys.executable, *sys.argv[:1], *argv])}`",
        f"- wrk: {args.connections} connections ({fixed[2:]}), {args.threads} thread(s), "
        f"{args.duration:g} s "
        f"per run after {args.warmup:g} s warm-up; {args.rounds} rounds per side, interleaved "
        "(baseline, simulator, baseline, ...), a fresh server process per run",
        "- baselines: `form` = bare Starlette route awaiting `request.form()`; `multipart` = bare "
        "ASGI app streaming the body through python-multipart's `MultipartParser`; both answer "
        "`ID:10011000000000000001`, served on the simulator's own server (granian's embedded "
        "server as `gateway-sim serve` configures it); `sleep` = bare "
        "Starlette route awaiting `asyncio.sleep(0.2)` before that answer; `nostore` = the "
        "simulator built and served by the CLI's own code but with a `Store` whose `add()` and "
        "`record()` keep nothing (no message stored, nothing journaled; the request log and "
        "the metrics, which are not the store, still see every request)",
        f"- latency: the simulator serves {latency.scenario.name} (scenario.yaml plus a rule "
        f"without conditions: `latency_ms: {latency.latency_ms}` on every request); the target "
        f"is the simulator's mean rate, of at most {latency.connections} connections / "
        f"{latency.latency_ms} ms = {latency.max_rate or 0:,.0f} req/s; the ratio to `sleep` "
        "is reported only; p50/p99 are wrk's (`--latency`) latency percentiles, mean of the runs",
        f"- rss: one `gateway-sim serve` (default retention) driven by {rss.EARLY_RUN} s then "
        f"{rss.RUN} s wrk runs ({args.connections} connections) until it has answered "
        f"{args.rss_sends:,} sends; VmRSS from /proc/PID/status of the server process, "
        f"the target on the reading {rss.SETTLE:g} s after the load",
        f"- callbacks: one receiver process (bench/receiver.py, on granian, awaits "
        f"{callbacks.DELAY * 1000:.0f} ms per POST, counts arrivals); per round the baseline (a "
        f"bare httpx `AsyncClient`, {callbacks.CONCURRENCY} posts at once) then a fresh "
        f"`gateway-sim serve` (real clock, `report_step_seconds: 0`, `callback_concurrency: "
        f"{callbacks.CONCURRENCY}`, one report per recipient) sent {callbacks.TOTAL:,} reports "
        f"there, the simulator's after {callbacks.TOTAL // callbacks.BATCH} concurrent sends of "
        f"{callbacks.BATCH} recipients with `delrpt=1`; the figure is from the first request to "
        f"the receiver's arrival of the {callbacks.TOTAL:,}th report (time.monotonic() on both "
        f"sides); the simulator must also list {callbacks.TOTAL:,} delivered attempts in "
        "`GET /_sim/callbacks`",
    ]


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    selected = args.only or CASE_NAMES
    results: list[report.CaseResult] = []
    startup_result: report.StartupResult | None = None
    rss_result: report.RssResult | None = None
    callbacks_result: report.CallbacksResult | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="gateway-sim-bench-") as tmp:
            work = Path(tmp)
            for case in cases_module.all_cases():
                if case.name in selected:
                    print(f"{case.name}: {case.title}", flush=True)
                    results.append(_run_case(case, args, work))
            if "callbacks" in selected:
                callbacks_result = _run_callbacks(args, work)
            if "rss" in selected:
                rss_result = _run_rss(args, work)
            if "startup" in selected:
                print(f"startup: {args.startup_runs} spawns of gateway-sim serve", flush=True)
                startup_result = report.StartupResult(startup.measure(args.startup_runs))
                print(f"  median {startup_result.median:.3f} s", flush=True)
    except (AssertionError, servers.ServerError, wrk.WrkError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    text = report.render(
        results, startup_result, _context(args, argv), rss_result, callbacks_result
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print()
    print(text)
    print(f"written to {args.out}")
    passed = report.all_passed(results, startup_result, rss_result, callbacks_result)
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
