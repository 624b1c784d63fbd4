"""Profile the simulator under one case's load: py-spy samples it while wrk pushes.

    .venv/bin/pip install py-spy   # once, into the venv
    .venv/bin/python bench/hotspots.py mms [--duration 10] [--top 25] [--baseline] [--gil]
    .venv/bin/python bench/hotspots.py callbacks [--top 25] [--gil]

Writes py-spy's raw (collapsed-stack) output to bench/out/profile-CASE-SIDE.txt (load it into
speedscope or flamegraph.pl) and prints the functions with the most self and total samples.
With `--gil` only the thread holding the GIL is sampled (profile-CASE-SIDE-gil.txt): where the
one Python core goes when a second thread (the store's writer) competes with the event loop.
The `callbacks` case is no wrk load: py-spy samples one simulator round of bench/callbacks.py
(10 sends of 100 with `delrpt=1`, 1,000 reports to the 100 ms receiver), from just before the
sends until the simulator lists every attempt.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import callbacks
import cases as cases_module
import servers
import wrk

OUT = servers.BENCH / "out"


def _frames(stack: str) -> list[str]:
    """The Python frames of one collapsed stack, outermost first, paths made repo-relative."""
    frames = [frame for frame in stack.split(";") if "(" in frame and ".py:" in frame]
    return [frame.replace(f"{servers.ROOT}/", "") for frame in frames]


def summarize(raw: str, top: int) -> str:
    """Top functions by self samples (leaf frame) and by total samples (anywhere on the stack)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _frames(stack)
        samples += count
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    lines = [f"{samples} samples", "", "self %   function (file:line)"]
    lines += [f"{100 * n / samples:5.1f}   {frame}" for frame, n in own.most_common(top)]
    lines += ["", "total %  function (file:line)"]
    lines += [f"{100 * n / samples:5.1f}   {frame}" for frame, n in total.most_common(top)]
    return "\n".join(lines)


def _record(py_spy: Path, pid: int, rate: int, output: Path, gil: bool) -> list[str]:
    """py-spy's command line; without `--duration` it records until SIGINT."""
    record = [str(py_spy), "record", "--pid", str(pid), "--format", "raw"]
    record += ["--rate", str(rate), "--output", str(output)]
    return record + (["--gil"] if gil else [])


def _profile_callbacks(py_spy: Path, rate: int, raw_path: Path, gil: bool) -> str:
    """Sample the simulator through one round of the callbacks case; return its figures."""
    with tempfile.TemporaryDirectory(prefix="gateway-sim-profile-") as tmp:
        work = Path(tmp)
        with (
            callbacks.receiver_process(work) as receiver,
            callbacks.simulator_process(receiver, work, 1) as server,
        ):
            record = _record(py_spy, server.process.pid, rate, raw_path, gil)
            with subprocess.Popen(record, stdout=subprocess.DEVNULL) as spy:
                time.sleep(1.0)  # let py-spy attach before the sends
                run = callbacks.deliver(server, receiver)
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=30)
    return f"callbacks simulator: {run.describe()}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [case.name for case in cases_module.all_cases()]
    parser.add_argument("case", choices=[*names, "callbacks"])
    parser.add_argument("--duration", type=int, default=10, help="seconds sampled under load")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--baseline", action="store_true", help="profile the baseline instead")
    parser.add_argument("--gil", action="store_true", help="sample only the GIL holder")
    args = parser.parse_args(argv)
    py_spy = servers.BIN / "py-spy"
    if not py_spy.exists():
        print("py-spy is missing: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    side = "baseline" if args.baseline else "simulator"
    raw_path = OUT / f"profile-{args.case}-{side}{'-gil' if args.gil else ''}.txt"
    if args.case == "callbacks":
        if args.baseline:
            print("callbacks: only the simulator is profiled", file=sys.stderr)
            return 2
        print(_profile_callbacks(py_spy, args.rate, raw_path, args.gil))
        print(summarize(raw_path.read_text(), args.top))
        print(f"\nraw stacks: {raw_path}")
        return 0
    case = next(case for case in cases_module.all_cases() if case.name == args.case)
    with tempfile.TemporaryDirectory(prefix="gateway-sim-profile-") as tmp:
        work = Path(tmp)
        script = wrk.write_script(work, case.name, case.body, case.content_type)
        command = (
            servers.baseline_command(case.baseline)
            if args.baseline
            else servers.simulator_command(case.scenario)
        )
        with servers.serve(side, command, work / f"{side}.log") as server:
            cases_module.verify(server.host, server.port, case, baseline=args.baseline)
            url = f"http://{server.host}:{server.port}{case.path}"
            wrk.run(url, script, wrk.Load(2, args.connections, args.threads))
            record = [str(py_spy), "record", "--pid", str(server.process.pid), "--format"]
            record += ["raw", "--rate", str(args.rate), "--duration", str(args.duration)]
            record += ["--output", str(raw_path), *(["--gil"] if args.gil else [])]
            with subprocess.Popen(record, stdout=subprocess.DEVNULL) as spy:
                load = wrk.Load(args.duration + 1, args.connections, args.threads)
                result = wrk.run(url, script, load)
                spy.wait(timeout=args.duration + 30)
    print(f"{case.name} {side}: {result.requests_per_second:,.1f} req/s while sampled")
    print(summarize(raw_path.read_text(), args.top))
    print(f"\nraw stacks: {raw_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
