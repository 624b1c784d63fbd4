"""Plain helpers shared by test modules that stay in process: the demo login, the gateway's
paths, small scenarios, messages made by hand, and MMS bodies built byte by byte. Fixtures live
in tests/conftest.py; callbacks, real processes, the browser and database files have their own
tests/helpers_*.py."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
from starlette.testclient import TestClient

from gateway_sim.domain.records import Message
from tests.conftest import MMS, SEND, START

LOGIN = {"username": "demo", "password": "demo"}
"""The default scenario's demo account, as form fields."""

GATEWAY_PATHS = [
    "/smsgateway/sendmsg.aspx",
    "/smsgateway/default.aspx",
    "/smsgateway/getbalance.aspx",
    "/smsgateway/getbalance/default.aspx",
    "/smsgateway/createsubacc.aspx",
    "/smsgateway/retrievemms.aspx",
    "/api/https/sendmsg.aspx",
    "/api/https/getbalance.aspx",
    "/api/json/sendmsg.aspx",
    "/api/json/getbalance.aspx",
]
"""Every gateway endpoint (the /api/json ones last)."""

SMALL_BODY_SCENARIO = """
version: 1
settings: {max_body_bytes: 1000}
accounts:
  - {username: demo, password: demo, credit: 100, default_sender: "447700900000"}
"""
"""A demo account behind a body limit of 1,000 bytes."""


def message(n: int, **changes: Any) -> Message:
    """Message `n`: a plain text send from the demo account, with `changes` made."""
    made = Message(
        id=f"{n:020d}",
        account="demo",
        endpoint=SEND,
        type=1,
        kind="text",
        sender="447700900000",
        recipients=("447700900123",),
        rejected=(),
        text=str(n),
        encoding="gsm7",
        parts=1,
        cost=Decimal(1),
        truncated=False,
        created_at=START,
    )
    return dataclasses.replace(made, **changes)


def mms_body(
    parts: list[tuple[str, str, bytes]], *, text: str | None = None, boundary: bytes = b"XyZ"
) -> bytes:
    """A multipart MMS send from the demo account to 07700900123 (with `text` as its subject
    when given): one file field a part, given as (filename, content type, data)."""
    fields = [*LOGIN.items(), ("to", "07700900123"), ("type", "5")]
    if text is not None:
        fields.append(("text", text))
    lines = [b"--" + boundary]
    for name, value in fields:
        lines += [f'Content-Disposition: form-data; name="{name}"'.encode(), b"", value.encode()]
        lines.append(b"--" + boundary)
    for filename, kind, data in parts:
        lines += [
            f'Content-Disposition: form-data; filename="{filename}"'.encode(),
            f"Content-Type: {kind}".encode(),
            b"",
            data,
            b"--" + boundary,
        ]
    return b"\r\n".join(lines) + b"--\r\n"


def post_mms(
    client: TestClient, parts: list[tuple[str, str, bytes]], *, text: str | None = None
) -> str:
    """Send `mms_body(parts, text=text)` to the MMS endpoint; the answer's text."""
    headers = {"content-type": "multipart/form-data; boundary=XyZ"}
    return client.post(MMS, content=mms_body(parts, text=text), headers=headers).text


def read_events(stream: httpx.Response) -> Iterator[tuple[str, dict[str, object]]]:
    """(name, data) for each event of a text/event-stream, as they come."""
    name, data = "", ""
    for line in stream.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif not line and name:
            yield name, json.loads(data)
            name, data = "", ""


def next_event(events: Iterator[tuple[str, dict[str, object]]], name: str) -> dict[str, object]:
    for found, data in events:
        if found == name:
            return data
    raise AssertionError(f"the stream ended before a {name!r} event")
