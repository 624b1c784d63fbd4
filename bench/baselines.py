"""The baselines the simulator is measured against, served on the simulator's own server.

Every bare app runs on granian's embedded server exactly as `gateway-sim serve` configures it
(`gateway_sim.server.httpserver.build`, the default limits, uvloop; bench/granian_serve.py), so
that a ratio to the simulator measures the app, not a different server.

- `form`: a bare Starlette app; its route awaits `request.form()` and answers a constant ID line.
- `multipart`: a bare ASGI app that drives python-multipart's streaming `MultipartParser` over the
  body as it arrives, keeping each part's raw headers and bytes, and answers the same line.
- `sleep`: a bare Starlette app; its route awaits `asyncio.sleep(0.2)` (as the `latency` case's
  rule delays the simulator) and answers the same line, the body left unread.
- `ceiling`: a bare ASGI app on that same server: it reads the body and answers constant bytes of
  the case's answer size (the single send's `ID:` line, or the hundred case's 50 lines when the
  body is that long). No Python app on this server can answer faster: the bound for the
  simulator.
- `nostore`: the simulator itself, started by the CLI's own code (`gateway-sim serve` through
  `cli.main`: its flags, defaults, limits and server), but with a `Store` whose `add()` and
  `record()` keep nothing: no message is stored and nothing is journaled (the request log and
  the metrics, which are not the store, still see every request).

Run as `python bench/baselines.py form|multipart|sleep|ceiling|nostore [--port N]`; like
`gateway-sim serve` it prints `listening on http://HOST:PORT` once the port accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path

import cases
import granian_serve
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway_sim.domain.records import Exchange, Message
from gateway_sim.server import cli
from gateway_sim.server import serve as serve_module
from gateway_sim.store.store import Store

SCENARIO = Path(__file__).resolve().parent / "scenario.yaml"
ANSWER = "ID:10011000000000000001"
SLEEP_SECONDS = 0.2  # the `slow` rule's latency_ms in bench/latency.yaml
PATHS = ("/smsgateway/sendmsg.aspx", "/smsgateway/default.aspx")
_ANSWER_BYTES = ANSWER.encode()
_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", str(len(_ANSWER_BYTES)).encode()),
]


async def _form_endpoint(request: Request) -> PlainTextResponse:
    await request.form()
    return PlainTextResponse(ANSWER)


def form_app() -> Starlette:
    """Starlette parsing the urlencoded body with `request.form()`."""
    return Starlette(routes=[Route(path, _form_endpoint, methods=["POST"]) for path in PATHS])


async def _sleep_endpoint(request: Request) -> PlainTextResponse:
    await asyncio.sleep(SLEEP_SECONDS)
    return PlainTextResponse(ANSWER)


def sleep_app() -> Starlette:
    """Starlette awaiting a fixed delay before the constant answer: what latency costs bare."""
    return Starlette(routes=[Route(path, _sleep_endpoint, methods=["POST"]) for path in PATHS])


class _Parts:
    """python-multipart callbacks that keep every part's raw headers and bytes."""

    def __init__(self) -> None:
        self.parts: list[tuple[list[bytes], bytes]] = []
        self._headers: list[bytes] = []
        self._data: list[bytes] = []

    def part_begin(self) -> None:
        self._headers, self._data = [], []

    def header(self, data: bytes, start: int, end: int) -> None:
        self._headers.append(data[start:end])

    def part_data(self, data: bytes, start: int, end: int) -> None:
        self._data.append(data[start:end])

    def part_end(self) -> None:
        self.parts.append((self._headers, b"".join(self._data)))


async def multipart_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Bare ASGI: stream the body through `MultipartParser`, answer the constant line."""
    if scope["type"] != "http":
        return  # the server's lifespan events: nothing to start
    content_type = b""
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value
    _, options = parse_options_header(content_type)
    parts = _Parts()
    parser = MultipartParser(
        options[b"boundary"],
        {
            "on_part_begin": parts.part_begin,
            "on_header_field": parts.header,
            "on_header_value": parts.header,
            "on_part_data": parts.part_data,
            "on_part_end": parts.part_end,
        },
    )
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        parser.write(message.get("body", b""))
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _ANSWER_BYTES})


_HUNDRED_ANSWER = "\r\n".join(f"{number},{ANSWER}" for number in cases.DISTINCT).encode()
_HUNDRED_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", str(len(_HUNDRED_ANSWER)).encode()),
]


async def ceiling_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the body; answer the case's answer, constant (see `ceiling` above)."""
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
        # the hundred case's body is over 1 KB; the single send's about 120 bytes
    hundred = size > 512
    headers = _HUNDRED_HEADERS if hundred else _HEADERS
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    body = _HUNDRED_ANSWER if hundred else _ANSWER_BYTES
    await send({"type": "http.response.body", "body": body})


class NoStore(Store):
    """A store that keeps nothing: sends are neither stored nor journaled (reads find nothing).

    What is not storing goes on as in `Store`: the request log and the metrics are still told of
    each message and exchange (batched the same way), so the `store` case measures keeping
    things, not logging them."""

    def add(self, message: Message) -> None:
        """Drop the message, once the observers have seen it."""
        if self.observers:
            self._observe_later(self._to_observe[0], message)

    def record(self, exchange: Exchange) -> None:
        """Drop the exchange, once the observers have seen it."""
        if self.observers:
            self._observe_later(self._to_observe[1], exchange)


def serve_without_store(scenario: Path, host: str, port: int) -> int:
    """`gateway-sim serve --scenario SCENARIO` through the CLI's own code, the store swapped."""
    flags = ["serve", "--scenario", str(scenario), "--host", host, "--port", str(port)]
    serve_module.Store = NoStore  # type: ignore[attr-defined]  # what `serve` opens its store with
    return cli.main(flags)


def bare_app(kind: str) -> ASGIApp:
    """The app of a `form`, `sleep`, `ceiling` or `multipart` baseline."""
    if kind == "form":
        return form_app()
    if kind == "sleep":
        return sleep_app()
    if kind == "ceiling":
        return ceiling_app
    return multipart_app


def main(argv: Sequence[str] | None = None) -> int:
    """Serve one baseline the way `gateway-sim serve` serves the simulator."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["form", "multipart", "sleep", "ceiling", "nostore"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument(
        "--scenario", type=Path, default=SCENARIO, help="nostore only (default: the bench's)"
    )
    args = parser.parse_args(argv)
    if args.kind == "nostore":
        return serve_without_store(args.scenario, args.host, args.port)
    granian_serve.run(bare_app(args.kind), f"baseline {args.kind}", args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
