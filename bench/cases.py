"""The measured requests, their targets, and how a right answer to each looks.

- `single`: one-recipient urlencoded send (auth, number, billing, record), vs the form baseline.
- `hundred`: 100 `to` entries, 50 distinct GB mobiles each sent twice (national `07700 900xxx`
  and international `447700900xxx`); the simulator answers one line per distinct number (50).
- `mms`: the vendor's MMS shape: text fields as parts with `Content-Type: text/plain`, then three
  file parts with `filename=` and no `name=`, 300 KB in all, vs the multipart baseline.
- `store`: the `single` request, vs the same simulator with its store disabled (the `nostore`
  baseline answers real IDs, so both sides are checked alike): what journaling and storing cost.
- `latency`: the `single` request against bench/latency.yaml (every answer delayed 200 ms by an
  awaited rule) at 256 connections, vs the `sleep` baseline; its target is absolute, the
  simulator's own rate (>= 1,000 req/s of at most 256 / 0.2 s = 1,280): an awaited delay must
  not hold a worker. Both sides must take the 200 ms on the checked request.
"""

from __future__ import annotations

import http.client
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import servers

USERNAME, PASSWORD = "bench", "bench-secret"
SEND_PATH = "/smsgateway/sendmsg.aspx"
MMS_PATH = "/smsgateway/default.aspx"
BASELINE_ANSWER = "ID:10011000000000000001"
_ID = re.compile(r"ID:[0-9]{20}")
DISTINCT = [f"4477009{n:05d}" for n in range(100, 150)]
MMS_FILES = (  # filename, content type, size, Content-Transfer-Encoding
    ("a.jpg", "image/jpeg", 150 * 1024, "binary"),
    ("b.gif", "image/gif", 100 * 1024, None),
    ("c.txt", "text/plain", 50 * 1024, None),
)
BOUNDARY = "AaB03xBenchBoundary7d1"
LATENCY_SCENARIO = servers.BENCH / "latency.yaml"


def _constant(answer: str) -> str | None:
    """The bare baselines' fixed answer."""
    return None if answer == BASELINE_ANSWER else f"baseline answered {answer[:200]!r}"


@dataclass(frozen=True)
class Case:
    """One measured request and what the simulator (and the baseline) must answer to it.

    `target` is the least simulator/baseline ratio, unless `min_rate` is set: then the target is
    the simulator's own mean req/s and the ratio is only reported. `latency_ms` is the delay the
    scenario injects (and the baseline sleeps): the checked request must take at least that long.
    """

    name: str
    title: str
    path: str
    content_type: str
    body: bytes
    baseline: str
    target: float
    check: Callable[[str], str | None]
    baseline_check: Callable[[str], str | None] = _constant
    scenario: Path = servers.SCENARIO
    connections: int | None = None  # None: the run's --connections
    min_rate: float | None = None
    latency_ms: int = 0

    @property
    def max_rate(self) -> float | None:
        """The most req/s `connections` can achieve when each request waits `latency_ms`."""
        if not self.latency_ms or self.connections is None:
            return None
        return self.connections * 1000 / self.latency_ms


def single_body() -> bytes:
    fields = {
        "username": USERNAME,
        "password": PASSWORD,
        "to": "07700900123",
        "from": "447700900000",
        "text": "Your benchmark code is 123456",
    }
    return urlencode(fields).encode()


def hundred_to() -> str:
    national = ["0" + number[2:] for number in DISTINCT]
    return ",".join(national + DISTINCT)


def hundred_body() -> bytes:
    fields = {
        "username": USERNAME,
        "password": PASSWORD,
        "to": hundred_to(),
        "from": "447700900000",
        "text": "Benchmark broadcast to one hundred recipients",
    }
    return urlencode(fields).encode()


def mms_body() -> bytes:
    """A multipart body shaped like the vendor's MMS example (file parts without `name=`)."""
    rng = random.Random(5)
    parts: list[bytes] = []
    fields = {"username": USERNAME, "password": PASSWORD, "to": "07700900123", "type": "5"}
    fields["text"] = "Benchmark MMS subject"
    for name, value in fields.items():
        head = f'Content-Disposition: form-data; name="{name}"\r\nContent-Type: text/plain\r\n'
        parts.append(head.encode() + b"\r\n" + value.encode())
    for filename, content_type, size, encoding in MMS_FILES:
        head = f'Content-Disposition: form-data; filename="{filename}"\r\n'
        head += f"Content-Type: {content_type}\r\n"
        if encoding:
            head += f"Content-Transfer-Encoding: {encoding}\r\n"
        if content_type == "text/plain":
            data = bytes(rng.choice(b"abcdefghij klmnop\r\n") for _ in range(size))
        else:
            data = rng.randbytes(size)
        parts.append(head.encode() + b"\r\n" + data)
    delimiter = f"--{BOUNDARY}\r\n".encode()
    body = b"".join(delimiter + part + b"\r\n" for part in parts)
    return body + f"--{BOUNDARY}--\r\n".encode()


def _single_id(answer: str) -> str | None:
    return None if _ID.fullmatch(answer) else f"expected one ID line, got {answer[:200]!r}"


def _hundred_lines(answer: str) -> str | None:
    lines = answer.split("\r\n")
    numbers = [line.partition(",")[0] for line in lines]
    results = {line.partition(",")[2] for line in lines}
    if numbers != DISTINCT:
        return f"expected the 50 distinct numbers in order, got {numbers[:5]}... ({len(lines)})"
    if len(results) != 1 or not _ID.fullmatch(results.pop()):
        return f"expected one shared ID on every line, got {answer[:200]!r}"
    return None


def all_cases() -> list[Case]:
    form = "application/x-www-form-urlencoded"
    mms_type = f"multipart/form-data; boundary={BOUNDARY}"
    return [
        Case(
            name="single",
            title="single-recipient send",
            path=SEND_PATH,
            content_type=form,
            body=single_body(),
            baseline="form",
            target=1.0,
            check=_single_id,
        ),
        Case(
            name="hundred",
            title="100-recipient send (50 numbers twice)",
            path=SEND_PATH,
            content_type=form,
            body=hundred_body(),
            baseline="form",
            target=0.5,
            check=_hundred_lines,
        ),
        Case(
            name="mms",
            title="MMS, 3 files, 300 KB",
            path=MMS_PATH,
            content_type=mms_type,
            body=mms_body(),
            baseline="multipart",
            target=0.7,
            check=_single_id,
        ),
        Case(
            name="store",
            title="store cost: single send vs store disabled",
            path=SEND_PATH,
            content_type=form,
            body=single_body(),
            baseline="nostore",
            target=0.85,
            check=_single_id,
            baseline_check=_single_id,
        ),
        Case(
            name="latency",
            title="single send, 200 ms injected latency, 256 connections",
            path=SEND_PATH,
            content_type=form,
            body=single_body(),
            baseline="sleep",
            target=0.0,
            check=_single_id,
            scenario=LATENCY_SCENARIO,
            connections=256,
            min_rate=1000.0,
            latency_ms=200,
        ),
    ]


def post(host: str, port: int, case: Case) -> tuple[int, str]:
    """Send the case's exact request once; return the status and the body as text."""
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request("POST", case.path, case.body, {"Content-Type": case.content_type})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", errors="replace")
    finally:
        connection.close()


def verify(host: str, port: int, case: Case, *, baseline: bool) -> float:
    """Check the server's answer to the case's request; return the seconds the request took.

    Raises AssertionError on a wrong status or answer, or on one sooner than `case.latency_ms`.
    """
    start = time.perf_counter()
    status, answer = post(host, port, case)
    elapsed = time.perf_counter() - start
    if status != 200:
        raise AssertionError(f"{case.name}: HTTP {status}: {answer[:200]!r}")
    problem = case.baseline_check(answer) if baseline else case.check(answer)
    if problem:
        raise AssertionError(f"{case.name}: {problem}")
    if elapsed * 1000 < case.latency_ms:
        raise AssertionError(
            f"{case.name}: answered in {elapsed * 1000:.1f} ms, expected >= {case.latency_ms} ms"
        )
    return elapsed
