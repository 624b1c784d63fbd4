"""Memory: the RSS of `gateway-sim serve` (default retention) after 100,000 single-recipient sends.

wrk runs of a few seconds follow each other until the server has answered the wanted number of
sends (wrk's completed requests, summed, plus the checks' own); VmRSS is read from /proc/PID/status
after each run, without pausing the load. The process read is the server itself: the spawned pid,
checked to own the listening socket and to have no child process, so no wrapper is measured.

After the last run and `SETTLE` seconds for the write-behind batches, VmRSS is the figure held to
the target. Then one control API read is timed: a read first waits for every pending write, so its
time is how far the store's writer had fallen behind (the lag). RSS is read again once it answers,
and the peak (VmHWM). Last, the control API tells what was kept: messages and journal entries are
paged 1,000 at a time, and the newest sequence numbers tell how many were ever stored.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cases as cases_module
import servers
import wrk
from cases import Case

from gateway_sim.store.store import Retention

TOTAL = 100_000
EARLY = 10_000
SETTLE = 1.0
EARLY_RUN = 1
RUN = 4
PAGE = 1000
_LISTEN = "0A"


@dataclass(frozen=True)
class Sample:
    """The server's resident memory once it had answered `requests` sends."""

    requests: int
    rss_kib: int


@dataclass(frozen=True)
class Kept:
    """What the store holds afterwards, and how much it ever took in (newest sequence numbers)."""

    messages: int
    journal: int
    newest_message: int
    newest_exchange: int


@dataclass
class RssRun:
    """One server driven past `TOTAL` sends: memory along the way and what the store kept."""

    pid: int
    command: str
    retention: Retention
    start: Sample
    samples: list[Sample] = field(default_factory=list)
    runs: list[wrk.WrkResult] = field(default_factory=list)
    settled: Sample | None = None
    lag: float = 0.0
    drained_kib: int = 0
    peak_kib: int = 0
    kept: Kept | None = None
    elapsed: float = 0.0

    @property
    def requests(self) -> int:
        return self.samples[-1].requests if self.samples else self.start.requests

    @property
    def early(self) -> Sample:
        """The first sample (under load) at or past `EARLY` answered sends."""
        return next((s for s in self.samples if s.requests >= EARLY), self.final)

    @property
    def final(self) -> Sample:
        """`SETTLE` seconds after the load: the figure held to the target."""
        return self.settled or (self.samples[-1] if self.samples else self.start)

    @property
    def clean(self) -> bool:
        return all(run.clean for run in self.runs)

    def problems(self) -> list[str]:
        """What is wrong besides the memory figure: errors, lost writes, caps not held."""
        found = [] if self.clean else ["wrk saw non-2xx answers or socket errors"]
        kept, limits = self.kept, self.retention
        if kept is None:
            return [*found, "the store was not read"]
        if kept.newest_message < self.requests:
            found.append(f"{kept.newest_message:,} messages stored for {self.requests:,} sends")
        if kept.newest_exchange < self.requests:
            found.append(f"{kept.newest_exchange:,} exchanges journaled for {self.requests:,}")
        if kept.messages > limits.max_messages:
            found.append(f"{kept.messages:,} messages kept, over the {limits.max_messages:,} cap")
        if kept.journal > limits.max_journal:
            found.append(f"{kept.journal:,} journal entries kept, over {limits.max_journal:,}")
        return found


def rss_kib(pid: int) -> tuple[int, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on TCP `port` (IPv4 or IPv6)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            columns = row.split()
            if int(columns[1].rpartition(":")[2], 16) == port and columns[3] == _LISTEN:
                inodes.add(columns[9])
    return inodes


def _owns_socket(pid: int, inodes: set[str]) -> bool:
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd) in wanted:
                return True
        except OSError:
            continue
    return False


def check_process(server: servers.Server) -> str:
    """Raise unless the spawned pid is the server itself; return its command line."""
    pid = server.process.pid
    command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    found = children(pid)
    if found:
        raise AssertionError(f"rss: pid {pid} ({command}) has child processes {found}")
    if not _owns_socket(pid, _listening_inodes(server.port)):
        raise AssertionError(f"rss: pid {pid} ({command}) does not own port {server.port}")
    return command


def get_json(host: str, port: int, path: str) -> dict[str, Any]:
    """GET a control API path; raise AssertionError unless it answers 200 with a JSON object."""
    connection = http.client.HTTPConnection(host, port, timeout=60)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read().decode("utf-8", errors="replace")
    finally:
        connection.close()
    if response.status != 200:
        raise AssertionError(f"rss: GET {path}: HTTP {response.status}: {body[:200]!r}")
    data: dict[str, Any] = json.loads(body)
    return data


def _count(host: str, port: int, path: str, key: str) -> tuple[int, int]:
    """Page through `path` newest first; tell how many entries and the newest sequence number."""
    first = get_json(host, port, f"{path}?limit=1")
    newest = int(first["next_cursor"] or 0)
    count, cursor = 0, ""
    while True:
        page = get_json(host, port, f"{path}?limit={PAGE}{cursor}")
        count += len(page[key])
        if page["next_cursor"] is None:
            return count, newest
        cursor = f"&cursor={page['next_cursor']}"


def kept(host: str, port: int) -> Kept:
    messages, newest_message = _count(host, port, "/_sim/messages", "messages")
    journal, newest_exchange = _count(host, port, "/_sim/requests", "requests")
    return Kept(messages, journal, newest_message, newest_exchange)


def _sample(pid: int, requests: int) -> Sample:
    return Sample(requests, rss_kib(pid)[0])


def measure(case: Case, connections: int, threads: int, work: Path, total: int = TOTAL) -> RssRun:
    """Drive a fresh `gateway-sim serve` past `total` sends of `case`; sample its memory."""
    script = wrk.write_script(work, f"rss-{case.name}", case.body, case.content_type)
    started = time.monotonic()
    with servers.serve("simulator", servers.simulator_command(), work / "rss.log") as server:
        command = check_process(server)
        pid, url = server.process.pid, f"http://{server.host}:{server.port}{case.path}"
        cases_module.verify(server.host, server.port, case, baseline=False)
        answered = 1
        run = RssRun(pid, command, Retention(), _sample(pid, answered))
        while answered < total:
            seconds = EARLY_RUN if answered < EARLY else RUN
            result = wrk.run(url, script, wrk.Load(seconds, connections, threads))
            run.runs.append(result)
            answered += result.requests
            run.samples.append(_sample(pid, answered))
            print(
                f"  rss       {answered:9,} sends  {run.samples[-1].rss_kib / 1024:6.1f} MiB"
                f"  ({result.requests_per_second:,.0f} req/s)",
                flush=True,
            )
        time.sleep(SETTLE)
        run.settled = _sample(pid, answered)
        asked = time.monotonic()
        get_json(server.host, server.port, "/_sim/messages?limit=1")
        run.lag = time.monotonic() - asked
        run.drained_kib, run.peak_kib = rss_kib(pid)
        cases_module.verify(server.host, server.port, case, baseline=False)
        run.kept = kept(server.host, server.port)
    run.elapsed = time.monotonic() - started
    return run
