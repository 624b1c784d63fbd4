"""In-process microbenchmark: call an app's ASGI entry N times, no sockets, no load generator.

    .venv/bin/python bench/inproc.py [--requests 50000] [--rounds 5] [--case single]
        [--side simulator --side nostore --side baseline]

Each side is the app the corresponding `bench/run.py` server serves (the simulator through
`create_app` on bench/scenario.yaml, `nostore` the same with `baselines.NoStore`, `baseline` the
bare Starlette `form` app), driven on uvloop by an ASGI client that hands over the case's body in
one message and swallows the answer. Every `--batch` requests it yields to the loop once (as a
server does between reads), so the store's 20 ms write timer fires as it would under load. The
sides alternate per round; the figure is microseconds per request (best and median of the
rounds). Only the app is timed: the server's HTTP work (granian's, in Rust) is the same on
every side.

Quieter than wrk on a busy machine, and what decides a change; `bench/run.py` confirms it.
Instruction counts are steadier still (the same under any load): run one side twice under
callgrind with different `--requests` and divide the difference of the totals by theirs. Warm the
simulator past the journal's cap, or the figure includes the store's growth (more collector
work while the queues fill: about 227k instructions a send instead of 171k), e.g.

    valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python bench/inproc.py \
        --side simulator --rounds 1 --warmup 56000 --requests 2000   # then --requests 6000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import baselines
import cases as cases_module
import uvloop

from gateway_sim.domain.scenario import load_scenario
from gateway_sim.server.app import create_app
from gateway_sim.store.store import Retention, Store

App = Callable[..., Any]


def build(side: str, retention: Retention) -> App:
    if side == "baseline":
        return baselines.form_app()
    store: Store = (baselines.NoStore if side == "nostore" else Store)(":memory:", retention)
    return create_app(load_scenario(baselines.SCENARIO), store=store)


async def drive(app: App, case: cases_module.Case, requests: int, batch: int) -> float:
    """Seconds for `requests` calls of `app` with the case's request."""
    path, raw = case.path.encode(), case.path
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 40000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": raw,
        "raw_path": path,
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"content-type", case.content_type.encode()),
            (b"content-length", str(len(case.body)).encode()),
        ],
        "state": {},
    }
    message = {"type": "http.request", "body": case.body, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(event: dict[str, Any]) -> None:
        pass

    start = time.perf_counter()
    for n in range(requests):
        await app(dict(scope), receive, send)
        if n % batch == 0:
            await asyncio.sleep(0)
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32, help="requests between loop yields")
    parser.add_argument("--case", default="single", choices=["single", "hundred"])
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="requests before the timed rounds (default: the journal's cap and 5,000 more for "
        "the simulator, 5,000 for the others)",
    )
    parser.add_argument(
        "--side", action="append", choices=["simulator", "nostore", "baseline"], default=None
    )
    args = parser.parse_args(argv)
    sides = args.side or ["baseline", "simulator", "nostore"]
    case = next(c for c in cases_module.all_cases() if c.name == args.case)
    retention = Retention()
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    apps = {side: build(side, retention) for side in sides}
    timings: dict[str, list[float]] = {side: [] for side in sides}
    # warm-up: past the journal's retention cap, so retention deletes as fast as it inserts
    for side in sides:
        warm = retention.max_journal + 5_000 if side == "simulator" else 5_000
        warm = warm if args.warmup is None else args.warmup
        loop.run_until_complete(drive(apps[side], case, warm, args.batch))
    for _ in range(args.rounds):
        for side in sides:
            gc.collect()
            took = loop.run_until_complete(drive(apps[side], case, args.requests, args.batch))
            timings[side].append(took / args.requests * 1e6)
    for side in sides:
        best, median = min(timings[side]), statistics.median(timings[side])
        print(f"{side:10} best {best:6.2f} us  median {median:6.2f} us  per request")
    if "baseline" in timings:
        base = statistics.median(timings["baseline"])
        for side in sides:
            if side != "baseline":
                ratio = base / statistics.median(timings[side])
                print(f"{side} vs baseline: {ratio:.2f}x the rate (app only)")
    if "nostore" in timings and "simulator" in timings:
        ratio = statistics.median(timings["nostore"]) / statistics.median(timings["simulator"])
        print(f"simulator vs nostore: {ratio:.2f}x the rate (app only)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
