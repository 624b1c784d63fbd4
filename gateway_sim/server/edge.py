"""The app's own edge: the bounds on request bodies that no server setting gives, and the requests
under way, so that a stop can let them finish for a moment and then end them.

Every HTTP request passes `Edge.handle` before the app proper sees it:
- a body is refused (413) before it is read when its Content-Length is over its path's cap
  (`max_control_body_bytes` under `/_sim`, `max_scenario_bytes` for `PUT /_sim/scenario`,
  `max_other_body_bytes` on paths that take no body; the gateway paths answer their own,
  scenario-set 413 as IIS does), and when a chunked body grows past that cap;
- the bytes received of bodies not yet complete are counted across all connections as they
  arrive (what a Content-Length announces is not held, so it is not counted): a body whose bytes
  would take the count past `max_pending_body_bytes` is refused with 503 and its connection
  closed;
- a body that stalls (no bytes for `body_timeout` seconds), or is not all in `whole_body_timeout`
  seconds after its head, is refused with 408: a body cannot hold a connection and its bytes by
  trickling in;
- a body the app left unread is read (within those bounds) and dropped before its answer.

A refusal is JSON `{"error", "detail"}` under `/_sim`, plain text elsewhere; the edge tells its
`refused` hook of each (the app journals those of the emulated paths).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, PlainTextResponse, Response

from gateway_sim.domain.limits import Limits
from gateway_sim.wire.asgi import Message, Receive, Scope, Send

log = logging.getLogger("gateway_sim")
Dispatch = Callable[[Scope, Receive, Send], Awaitable[None]]
Emulated = Callable[[str], bool]
"""Whether a path is an emulated gateway path (which caps its own bodies)."""
Refused = Callable[[Scope, int, str, int], None]
"""Told of each refusal the edge answers: the request, the status, why, and the body bytes
that had arrived."""
DRAIN_MOST_BYTES = 1024 * 1024
"""The most of an unread body read (and dropped) to keep its connection; past it, it closes."""
CLOSE = (b"connection", b"close")


class BodyRefused(Exception):
    """A body over a bound: the status and the reason. The app renders it (`refusal`) under
    `/_sim`, the edge elsewhere."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


def refusal(path: str, refused: BodyRefused) -> Response:
    """The answer to a refused body, with `Connection: close`: the rest of the body is not read,
    so the connection cannot carry another request."""
    headers = {"connection": "close"}
    if path.startswith("/_sim"):
        content = {"error": refused.error, "detail": refused.detail}
        return JSONResponse(content, status_code=refused.status, headers=headers)
    return PlainTextResponse(refused.detail, status_code=refused.status, headers=headers)


class Edge:
    """Bounds request bodies and keeps the requests under way."""

    def __init__(
        self, limits: Limits, refused: Refused | None = None, emulated: Emulated | None = None
    ) -> None:
        self.limits = limits
        self.refused = refused
        self.emulated = emulated
        self.pending_body_bytes = 0
        """Bytes received of bodies that are still arriving."""
        self.under_way: set[asyncio.Task[object]] = set()

    def body_cap(self, scope: Scope) -> tuple[int, str] | None:
        """The body cap of a request's path and the flag that sets it, or None where the app
        applies its own."""
        path: str = scope["path"]
        if not path.startswith("/_sim"):
            if self.emulated is not None and self.emulated(path):
                return None
            return self.limits.max_other_body_bytes, "--max-other-body-bytes"
        if path.rstrip("/") == "/_sim/scenario" and scope["method"] == "PUT":
            return self.limits.max_scenario_bytes, "--max-scenario-bytes"
        return self.limits.max_control_body_bytes, "--max-control-body-bytes"

    async def handle(self, scope: Scope, receive: Receive, send: Send, dispatch: Dispatch) -> None:
        """Run `dispatch` on a request, with its body bounded; refuse it if a bound is passed.

        A bound passed before the app runs is answered at once. One passed while the app reads
        the body is answered by the edge there and then, and the app is told the client has
        gone (`http.disconnect`): whatever it sends afterwards is dropped."""
        task = asyncio.current_task()
        if task is not None:
            self.under_way.add(task)
        exchange = _Exchange(self, scope, receive, send)
        try:
            exchange.admit()
        except BodyRefused as refused:
            await exchange.refuse(refused)
        else:
            try:
                await dispatch(scope, exchange.receive, exchange.send)
            except ClientDisconnect:
                log.info("the client went away mid-request: %s %s", scope["method"], scope["path"])
            except Exception:
                if not exchange.refused:
                    raise
                # the app's own complaint that its client went: the edge answered already
        finally:
            exchange.release()
            if task is not None:
                self.under_way.discard(task)

    async def finish(self, grace: float) -> None:
        """Let the requests under way finish for up to `grace` seconds, then cancel the rest
        (a long-poll, a held or slowed answer), so that a stop stays quick."""
        current = asyncio.current_task()
        waiting = {task for task in self.under_way if task is not current}
        if waiting:
            _, left = await asyncio.wait(waiting, timeout=grace)
            for task in left:
                task.cancel()
            if left:
                log.info("stopped %d requests still under way after %.1f s", len(left), grace)


class _Exchange:
    """One request as the edge sees it: its body as it arrives (counted, capped, timed), and
    whether its answer has begun."""

    def __init__(self, edge: Edge, scope: Scope, receive: Receive, send: Send) -> None:
        self.edge = edge
        self.scope = scope
        self.inner = receive
        self.outer_send = send
        self.started = False
        self.refused = False
        self.cap = edge.body_cap(scope)
        self.held = 0
        self.read = 0
        self.deadline = asyncio.get_running_loop().time() + edge.limits.whole_body_timeout
        self.announced = _content_length(scope)
        self.done = self.announced == 0 or (self.announced is None and not _chunked(scope))
        """No more body to come (none was announced, or it has all arrived)."""

    def admit(self) -> None:
        """Refuse at once what the Content-Length already says is too much."""
        if self.announced is None or self.done:
            return
        if self.cap is not None and self.announced > self.cap[0]:
            raise _too_large(self.announced, self.cap)

    def _reserve(self, size: int) -> None:
        limit = self.edge.limits.max_pending_body_bytes
        if self.edge.pending_body_bytes + size > limit:
            raise BodyRefused(
                503,
                "busy",
                f"request bodies under way would hold over {limit} bytes (--max-pending-body-bytes)"
                "; try again later",
            )
        self.edge.pending_body_bytes += size
        self.held += size

    def release(self) -> None:
        self.edge.pending_body_bytes -= self.held
        self.held = 0

    async def send(self, message: Message) -> None:
        if self.refused:
            return  # the edge has answered; the app's answer would come too late
        if not self.started:
            self.started = True
            # A body the app did not read is read and dropped before the answer goes, to keep
            # the connection (one closed with bytes unread is reset under the client's feet);
            # past DRAIN_MOST_BYTES, the answer closes the connection instead. An answer that
            # closes the connection anyway is not held up for a body that may never end.
            closing = CLOSE in message.get("headers", [])
            if not closing and not await self.drain():
                message = {**message, "headers": [*message["headers"], CLOSE]}
        await self.outer_send(message)

    async def refuse(self, refused: BodyRefused) -> None:
        """Answer with the refusal (unless an answer has begun), once."""
        if self.refused:
            return
        self.refused = True
        if not self.started:
            self.started = True
            response = refusal(self.scope["path"], refused)
            await response(self.scope, self.inner, self.outer_send)
        if self.edge.refused is not None:
            self.edge.refused(self.scope, refused.status, refused.detail, self.read)

    async def drain(self) -> bool:
        """Read what is left of the body and drop it: whether it all came, within the body's
        bounds and DRAIN_MOST_BYTES."""
        drained = 0
        try:
            while not self.done and drained <= DRAIN_MOST_BYTES:
                message = await self._receive()
                if message["type"] != "http.request":
                    return True
                drained += len(message.get("body", b""))
        except BodyRefused:
            return False
        return self.done

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        try:
            return await self._receive()
        except BodyRefused as refused:
            await self.refuse(refused)
            return {"type": "http.disconnect"}

    async def _receive(self) -> Message:
        if self.done:
            return await self.inner()
        limits = self.edge.limits
        stall = asyncio.get_running_loop().time() + limits.body_timeout
        try:
            async with asyncio.timeout_at(min(stall, self.deadline)):
                message = await self.inner()
        except TimeoutError:
            if stall <= self.deadline:
                detail = f"no body bytes arrived for {limits.body_timeout:g} s (--body-timeout)"
            else:
                detail = (
                    f"the body was not all in within {limits.whole_body_timeout:g} s of its head "
                    "(--whole-body-timeout)"
                )
            raise BodyRefused(408, "body_timeout", detail) from None
        if message["type"] != "http.request":
            self.done = True
            return message
        size = len(message.get("body", b""))
        self.read += size
        if self.cap is not None and self.read > self.cap[0]:
            raise _too_large(self.read, self.cap)
        self._reserve(size)  # held (by the app, reading it whole) until the body is all in
        if not message.get("more_body", False):
            self.done = True
            self.release()  # the body is in: it is the app's now, no longer arriving
        return message


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            with contextlib.suppress(ValueError):
                return max(0, int(value))
    return None


def _chunked(scope: Scope) -> bool:
    return any(name == b"transfer-encoding" for name, _ in scope["headers"])


def _too_large(size: int, cap: tuple[int, str]) -> BodyRefused:
    limit, flag = cap
    return BodyRefused(
        413,
        "body_too_large",
        f"the body is {size} bytes or more, over the limit of {limit} ({flag})",
    )
