"""A callback receiver for the `callbacks` case: a slow customer endpoint that counts what it gets.

Every POST (any path) is read whole, counted on arrival, held for `--delay` seconds with an
awaited `asyncio.sleep` (so any number of requests wait at once, on one event loop, no threads)
and answered `200 OK`. `GET /count` tells the tally as JSON: requests received and answered, the
distinct `toaddr` values posted, the most requests held at once, and the `time.monotonic()` of the
first and last arrival and of the last answer (CLOCK_MONOTONIC is system-wide on Linux, so the
bench compares these with its own clock). `POST /reset` zeroes the tally.

Run as `python bench/receiver.py [--port N] [--delay 0.1]`; like the baselines it is served on
the simulator's own server (granian's embedded server as `gateway-sim serve` configures it,
bench/granian_serve.py) and prints `receiver listening on http://HOST:PORT` once it accepts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import granian_serve
from starlette.types import Receive, Scope, Send

DELAY = 0.1
_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
_JSON = [(b"content-type", b"application/json")]


@dataclass
class Tally:
    """What the receiver got, and when (`time.monotonic()` seconds)."""

    received: int = 0
    answered: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    first_at: float | None = None
    last_at: float | None = None
    last_answered_at: float | None = None
    recipients: set[str] = field(default_factory=set)

    def arrived(self, body: bytes) -> None:
        """Count a request whose body has been read."""
        now = time.monotonic()
        self.received += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        self.recipients.update(parse_qs(body.decode("latin-1")).get("toaddr", []))

    def answering(self) -> None:
        """Count a request about to be answered."""
        self.answered += 1
        self.in_flight -= 1
        self.last_answered_at = time.monotonic()

    def to_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "answered": self.answered,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "distinct_toaddr": len(self.recipients),
            "first_at": self.first_at,
            "last_at": self.last_at,
            "last_answered_at": self.last_answered_at,
        }


class Receiver:
    """The bare ASGI app: POST anything -> wait `delay` -> 200; GET /count; POST /reset."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.tally = Tally()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await _body(receive)
        method, path = scope["method"], scope["path"]
        if method == "GET" and path == "/count":
            await _answer(send, 200, json.dumps(self.tally.to_json()).encode(), _JSON)
        elif method == "POST" and path == "/reset":
            self.tally = Tally()
            await _answer(send, 200, b"reset", _TEXT)
        elif method == "POST":
            tally = self.tally
            tally.arrived(body)
            await asyncio.sleep(self.delay)
            tally.answering()
            await _answer(send, 200, b"OK", _TEXT)
        else:
            await _answer(send, 405, b"POST a callback, GET /count or POST /reset", _TEXT)


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    length = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + length})
    await send({"type": "http.response.body", "body": body})


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the receiver the way `gateway-sim serve` serves the simulator."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--delay", type=float, default=DELAY, help="seconds before each answer")
    args = parser.parse_args(argv)
    granian_serve.run(Receiver(args.delay), "receiver", args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
