"""Server processes: the simulator through its real CLI, the baselines through bench/baselines.py.

Each binds a free 127.0.0.1 port (`--port 0`) and announces `listening on http://HOST:PORT`, read
from its log (never a pipe that could fill up) and then polled until it accepts connections.
`serve()` always stops the process, also when the block raises.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SCENARIO = BENCH / "scenario.yaml"
# The venv's bin directory (not resolved: .venv/bin/python is a symlink to the base interpreter).
BIN = Path(sys.executable).parent
_LISTENING = re.compile(r"listening on http://([0-9.]+):([0-9]+)")


class ServerError(RuntimeError):
    """A server did not come up; the message carries the end of its log."""


@dataclass(frozen=True)
class Server:
    """A running server process and where it listens."""

    name: str
    process: subprocess.Popen[bytes]
    host: str
    port: int
    log: Path


def gateway_sim() -> str:
    """The `gateway-sim` console script next to this interpreter."""
    return str(BIN / "gateway-sim")


def simulator_command(scenario: Path = SCENARIO, port: int = 0) -> list[str]:
    return [gateway_sim(), "serve", "--scenario", str(scenario), "--port", str(port)]


def baseline_command(kind: str) -> list[str]:
    return [sys.executable, str(BENCH / "baselines.py"), kind, "--port", "0"]


def clean_env() -> Mapping[str, str]:
    """The environment without `GATEWAY_SIM_*` twins, so only the given flags apply."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_SIM_")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 5 s; reaps the process."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def log_tail(log: Path, lines: int = 20) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@contextmanager
def serve(
    name: str, command: list[str], log: Path, timeout: float = 20.0, cwd: Path = ROOT
) -> Iterator[Server]:
    """Start `command` in `cwd`, wait for its announcement, yield the server, stop it afterwards."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=clean_env(),
        )
    try:
        host, port = _announced(process, log, timeout)
        _accepting(process, host, port, log, timeout)
        yield Server(name, process, host, port, log)
    finally:
        stop(process)


def _announced(process: subprocess.Popen[bytes], log: Path, timeout: float) -> tuple[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _LISTENING.search(log.read_text(errors="replace"))
        if found:
            return found.group(1), int(found.group(2))
        if process.poll() is not None:
            raise ServerError(f"exited with {process.returncode}:\n{log_tail(log)}")
        time.sleep(0.01)
    raise ServerError(f"no 'listening on' line within {timeout} s:\n{log_tail(log)}")


def _accepting(
    process: subprocess.Popen[bytes], host: str, port: int, log: Path, timeout: float
) -> None:
    """Wait until the port takes connections (`gateway-sim serve` announces only once it
    accepts; a server of another revision, or a baseline, may announce before)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if process.poll() is not None:
                raise ServerError(f"exited with {process.returncode}:\n{log_tail(log)}") from None
            time.sleep(0.01)
    raise ServerError(f"not accepting connections within {timeout} s:\n{log_tail(log)}")
