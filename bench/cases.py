"""The measured requests, their targets, and how a right answer to each looks.

- `single`: one-recipient urlencoded send (auth, number, billing, record), vs the form baseline.
- `hundred`: 100 `to` entries, 50 distinct GB mobiles each sent twice (national `07700 900xxx`
  and international `447700900xxx`); the simulator answers one line per distinct number (50).
- `mms`: the vendor's MMS shape: text fields as parts with `Content-Type: text/plain`, then three
  file parts with `filename=` and no `name=`, 300 KB in all, vs the multipart baseline.
- `store`: the `single` request, vs the same simulator with its store disabled (the `nostore`
  baseline answers real IDs, so both sides are checked alike): what journaling and storing cost.
"""

from __future__ import annotations

import http.client
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

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


def _constant(answer: str) -> str | None:
    """The bare baselines' fixed answer."""
    return None if answer == BASELINE_ANSWER else f"baseline answered {answer[:200]!r}"


@dataclass(frozen=True)
class Case:
    """One measured request and what the simulator (and the baseline) must answer to it."""

    name: str
    title: str
    path: str
    content_type: str
    body: bytes
    baseline: str
    target: float
    check: Callable[[str], str | None]
    baseline_check: Callable[[str], str | None] = _constant


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


def verify(host: str, port: int, case: Case, *, baseline: bool) -> None:
    """Raise AssertionError unless the server answers the case's request as it should."""
    status, answer = post(host, port, case)
    if status != 200:
        raise AssertionError(f"{case.name}: HTTP {status}: {answer[:200]!r}")
    problem = case.baseline_check(answer) if baseline else case.check(answer)
    if problem:
        raise AssertionError(f"{case.name}: {problem}")
