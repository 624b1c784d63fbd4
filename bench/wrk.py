"""wrk: a Lua script per request (POST, Content-Type, body read from a file so it may be binary),
one load run (`--latency`, so the report has percentiles), and the figures parsed out of it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_SCRIPT = """\
local file = assert(io.open([==[{body}]==], "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = [==[{content_type}]==]
"""
_RATE = re.compile(r"^Requests/sec:\s+([0-9.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s*([0-9]+) requests in ", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+([0-9]+)")
_SOCKET = re.compile(
    r"Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)"
)
# `--latency` percentile lines, e.g. `     99%  210.53ms`; wrk writes us, ms, s, m or h.
_PERCENTILE = re.compile(r"^\s+([0-9]+)%\s+([0-9.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_MS_PER_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


class WrkError(RuntimeError):
    """wrk failed or printed something unexpected."""


@dataclass(frozen=True)
class Load:
    """How hard and how long wrk pushes."""

    duration: int
    connections: int
    threads: int


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput and everything that went wrong."""

    requests_per_second: float
    requests: int
    non_2xx: int
    socket_errors: int
    output: str
    p50_ms: float | None = None
    p99_ms: float | None = None

    @property
    def clean(self) -> bool:
        return self.non_2xx == 0 and self.socket_errors == 0


def wrk_binary() -> str:
    found = shutil.which("wrk") or "/usr/bin/wrk"
    if not Path(found).exists():
        raise WrkError("wrk is not installed (apt-get install wrk)")
    return found


def write_script(directory: Path, name: str, body: bytes, content_type: str) -> Path:
    """Write the body and a Lua script that POSTs it; return the script's path."""
    body_path = directory / f"{name}.body"
    body_path.write_bytes(body)
    script = directory / f"{name}.lua"
    script.write_text(_SCRIPT.format(body=body_path, content_type=content_type))
    return script


def run(url: str, script: Path, load: Load) -> WrkResult:
    """One wrk run against `url`."""
    command = [
        wrk_binary(),
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{load.duration}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=load.duration + 60, check=False
    )
    if done.returncode != 0:
        raise WrkError(f"wrk exited with {done.returncode}: {done.stderr or done.stdout}")
    return parse(done.stdout)


def percentiles(output: str) -> dict[int, float]:
    """The latency percentiles of a `--latency` report, in milliseconds, by percent."""
    return {
        int(percent): float(value) * _MS_PER_UNIT[unit]
        for percent, value, unit in _PERCENTILE.findall(output)
    }


def parse(output: str) -> WrkResult:
    """The figures of a wrk report."""
    rate, total = _RATE.search(output), _TOTAL.search(output)
    if rate is None or total is None:
        raise WrkError(f"cannot read wrk's report:\n{output}")
    non_2xx = _NON_2XX.search(output)
    sockets = _SOCKET.search(output)
    latency = percentiles(output)
    return WrkResult(
        requests_per_second=float(rate.group(1)),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        output=output,
        p50_ms=latency.get(50),
        p99_ms=latency.get(99),
    )
