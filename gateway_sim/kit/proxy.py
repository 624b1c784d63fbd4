"""`gateway-sim record`: a recording proxy. A client pointed at it reaches the upstream gateway
through it, unchanged (status, headers, exact bytes), and each exchange is appended, redacted,
to a recording (`recording.py`). One request is one upstream request: no retries, no redirects
followed. Only the gateway's paths are forwarded; any other is answered 404 here.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter

import httpx

from gateway_sim.domain.limits import DEFAULT_LIMITS
from gateway_sim.kit.capture import Sent, exchange_of, redactor_for, request_of
from gateway_sim.kit.command import DEFAULT_MAX_BODY
from gateway_sim.kit.recording import Exchange, Redactor, append
from gateway_sim.server import httpserver
from gateway_sim.wire.asgi import Receive, Scope, Send

GATEWAY_PATHS = frozenset(
    {
        "/smsgateway/sendmsg.aspx",
        "/smsgateway/default.aspx",
        "/smsgateway/getbalance.aspx",
        "/smsgateway/getbalance/default.aspx",
        "/smsgateway/retrievemms.aspx",
        "/smsgateway/createsubacc.aspx",
        "/api/https/sendmsg.aspx",
        "/api/https/getbalance.aspx",
        "/api/json/sendmsg.aspx",
        "/api/json/getbalance.aspx",
    }
)
"""The emulated paths (PROTOCOL.md section 2), lower case: ASP.NET paths ignore case."""
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
"""Headers of one connection, not of the message (and Content-Length, set again for the bytes
actually forwarded)."""
"""The gateway's own cap is 10 MiB (`settings.max_body_bytes`); a little over it lets the
upstream refuse a large body in its own words."""


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where requests go, and the HTTP client that takes them there."""

    url: str
    client: httpx.AsyncClient


def upstream_client(ca: str | None, timeout: float) -> httpx.AsyncClient:
    """A client that verifies certificates (`ca` trusted as well), never retries and never
    follows a redirect."""
    context = ssl.create_default_context()
    if ca:
        context.load_verify_locations(ca)
    return httpx.AsyncClient(
        follow_redirects=False,
        timeout=httpx.Timeout(timeout),
        transport=httpx.AsyncHTTPTransport(verify=context, retries=0),
    )


async def forward(
    upstream: Upstream, redactor: Redactor, sent: Sent, max_answer_bytes: int = DEFAULT_MAX_BODY
) -> tuple[Exchange, int, list[tuple[str, str]], bytes]:
    """Send one request upstream and record it: the exchange, and the status, headers and
    exact bytes to give the client (502 and the reason when the upstream gave no answer)."""
    scheme = "https" if upstream.url.lower().startswith("https://") else "http"
    request = request_of(redactor, sent).model_copy(update={"scheme": scheme})
    headers = [(name, value) for name, value in sent.headers if name.lower() not in HOP_BY_HOP]
    query = sent.query.decode("latin-1")
    url = upstream.url.rstrip("/") + sent.path + ("?" + query if query else "")
    at = datetime.now(UTC)
    started = perf_counter()
    error = None
    try:
        status, answer_headers, data = await _send(
            upstream.client, sent.method, url, headers, sent.body, limit=max_answer_bytes
        )
    except (httpx.HTTPError, ValueError) as failed:
        error = f"{type(failed).__name__}: {failed}".rstrip(": ")
        answer_headers = [("content-type", "text/plain; charset=utf-8")]
        status, data = 502, f"upstream failed: {error}\n".encode()
    exchange = exchange_of(
        request,
        redactor,
        at=at,
        latency_ms=(perf_counter() - started) * 1000,
        status=None if error else status,
        headers=answer_headers,
        body=data,
        error=redactor.redact_text(error) if error else None,
    )
    return exchange, status, answer_headers, data


async def _send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    limit: int,
) -> tuple[int, list[tuple[str, str]], bytes]:
    request = client.build_request(method, url, headers=headers, content=body)
    response = await client.send(request, stream=True)
    try:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_raw():  # raw: Content-Encoding passes through
            size += len(chunk)
            if size > limit:
                raise ValueError(f"the upstream's answer is over {limit} bytes")
            chunks.append(chunk)
    finally:
        await response.aclose()
    kept = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in response.headers.raw
        if name.decode("latin-1").lower() not in HOP_BY_HOP
    ]
    return response.status_code, kept, b"".join(chunks)


class RecordingProxy:
    """The proxy as a plain ASGI app: forward, answer, then append the exchange to `out`."""

    def __init__(
        self, upstream: Upstream, out: Path, redactor: Redactor, max_body_bytes: int
    ) -> None:
        self.upstream = upstream
        self.out = out
        self.redactor = redactor
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"].lower() not in GATEWAY_PATHS:
            await _answer(send, 404, [], b"not a gateway path: not forwarded\n")
            return
        body = await _body(scope, receive, self.max_body_bytes)
        if body is None:
            await _answer(send, 413, [], b"request body over --max-body-bytes\n")
            return
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        path = scope["raw_path"].decode("latin-1") if scope.get("raw_path") else scope["path"]
        sent = Sent(scope["method"], path, scope["query_string"], headers, body)
        exchange, status, answer_headers, data = await forward(
            self.upstream, self.redactor, sent, self.max_body_bytes
        )
        append(self.out, exchange)  # before the answer: a client that has it finds it recorded
        await _answer(send, status, answer_headers, data)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The request body, or None past `limit` bytes (refused before the rest is read when
    Content-Length says so)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw.append((b"content-length", str(len(body)).encode()))
    if not headers:
        raw.append((b"content-type", b"text/plain; charset=utf-8"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def run(args: argparse.Namespace) -> int:
    """Serve the proxy until SIGTERM or SIGINT."""
    try:
        port = httpserver.pick_port(args.host, args.port)
    except OSError as error:
        print(f"gateway-sim: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    asyncio.run(_serve(args, port))
    return 0


async def _serve(args: argparse.Namespace, port: int) -> None:
    client = upstream_client(args.upstream_ca, args.upstream_timeout)
    proxy = RecordingProxy(
        Upstream(args.upstream, client),
        args.out,
        redactor_for(args.redact_usernames),
        args.max_body_bytes,
    )
    server = httpserver.build(proxy, args.host, port, DEFAULT_LIMITS)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.stop)
    serving = asyncio.create_task(server.serve())
    await httpserver.accepting(args.host, port)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"gateway-sim record: recording to {args.out}, forwarding to {args.upstream}, "
        f"listening on http://{shown}:{port}",
        flush=True,
    )
    try:
        await serving
    finally:
        await client.aclose()
