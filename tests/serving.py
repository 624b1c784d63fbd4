"""A `gateway-sim serve` process for the limit tests: started on a free port of 127.0.0.1 with
the flags a test gives, its log kept in a file, its memory read from /proc, stopped at the end."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

SCRIPT = Path(sys.executable).parent / "gateway-sim"
SEND = "/smsgateway/sendmsg.aspx?username=demo&password=demo&to=447700900123&text=hi"
BALANCE = "/smsgateway/getbalance.aspx?username=demo&password=demo"


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    log: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def rss_mb(self) -> float:
        """The server's resident memory now, in MB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def send_seconds(self, client: httpx.Client | None = None, path: str = SEND) -> float:
        """How long one ordinary request (a send, or the balance) takes to be answered, and
        that it was answered as the gateway answers it."""
        started = time.perf_counter()
        if client is None:
            answer = httpx.get(self.url + path, timeout=10)
        else:
            answer = client.get(self.url + path)
        took = time.perf_counter() - started
        assert answer.text.startswith(("ID:", "BALANCE:")), answer.text
        return took

    def logged(self) -> str:
        return self.log.read_text()


@contextmanager
def served(*flags: str, scenario: Path | None = None) -> Iterator[Served]:
    """`gateway-sim serve` with `flags` until the block ends."""
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "stderr.log"
        argv = [str(SCRIPT), "serve", "--port", "0", "--log-level", "warning", *flags]
        if scenario is not None:
            argv += ["--scenario", str(scenario)]
        with log.open("w") as errors:
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, text=True)
            try:
                assert process.stdout is not None
                first = process.stdout.readline()
                assert "listening on" in first, (first, log.read_text())
                url = first.split("listening on ", 1)[1].strip()
                yield Served(process, url, log)
            finally:
                process.terminate()
                try:
                    process.communicate(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.communicate()
