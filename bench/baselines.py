"""The baselines the simulator is measured against, served by uvicorn with the CLI's settings.

- `form`: a bare Starlette app; its route awaits `request.form()` and answers a constant ID line.
- `multipart`: a bare ASGI app that drives python-multipart's streaming `MultipartParser` over the
  body as it arrives, keeping each part's raw headers and bytes, and answers the same line.

Run as `python bench/baselines.py form|multipart [--port N]`; like `gateway-sim serve` it binds
first, prints `listening on http://HOST:PORT` and then runs uvicorn on that socket.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Sequence

import uvicorn
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

ANSWER = "ID:10011000000000000001"
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


def main(argv: Sequence[str] | None = None) -> int:
    """Serve one baseline the way `gateway-sim serve` serves the simulator."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["form", "multipart"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    args = parser.parse_args(argv)
    app: ASGIApp = form_app() if args.kind == "form" else multipart_app
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.set_inheritable(True)
    host, port = sock.getsockname()[:2]
    print(f"baseline {args.kind} listening on http://{host}:{port}", flush=True)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        date_header=True,
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
