"""`gateway-sim` run as real processes, for the tests of the command line and of real servers:
starting `serve` and reading its URL, stopping it, running a command to its end, and waiting for
what a process does. tests/conftest.py marks a test module that uses this module `slow`."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable

from tests.conftest import start_serve
from tests.serving import SCRIPT

QUIET = ("--log-level", "warning")
"""For servers under load whose request log nobody reads (its pipe would fill and block)."""


def start(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """`gateway-sim serve` with `args` (and `env` added to the environment), and its URL."""
    return start_serve([str(SCRIPT), "serve", *args], env)


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    """Send `sig` and wait for the process to end (which also closes its pipes)."""
    process.send_signal(sig)
    process.communicate(timeout=10)


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `gateway-sim` with `args` to its end (within `timeout` seconds), output captured."""
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


def wait_until(check: Callable[[], object], seconds: float = 10) -> None:
    """Poll `check` until it is true, failing the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
