"""The server's fast lane: uvicorn's HTTP protocol (with joined writes) answering a request to an
emulated gateway path itself, as soon as its body is in, when the app can answer it without
awaiting anything but time (no rule fault or HTTP status, no database commit): no ASGI task, no
receive or send messages, the answer written from the parser's callback, or, for a rule's
latency, from a timer callback at its deadline (`Delayed`: the connection is busy until then, so
uvicorn queues what comes next on it).

The app says which requests it takes (`takes_at_once(scope)`, at the end of the headers) and
answers them (`answer_at_once(scope, body, ticket)`); it may still hand one back (None), and the
request then goes the ASGI way as if the lane had not been there: uvicorn's callbacks for its
headers, body and end are made then, in order. Requests behind one that is under way on the ASGI
path (pipelining), an `Expect: 100-continue`, a body over `LANE_BODY_BYTES` (a chunked one
included: it is handed over once it grows past) and a connection whose writes are paused go the
ASGI way too.

Measured with wrk (32 connections, a quiet 2-core machine) and the server's CPU time per request
(/proc): single sends cost 42.8 us (23.3k/s) on the ASGI path and 31-32 us (30-32k/s) on the
lane; the server's own share is 17.2 us on the ASGI path (a bare ASGI app answering constant
bytes), 12.5 us on the lane (the lane answering constant bytes), 7.1 us for a bare httptools
protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol
from urllib.parse import unquote

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from gateway_sim import deadlines
from gateway_sim.joined_writes import JoinedWritesProtocol
from gateway_sim.types import Scope

LANE_BODY_BYTES = 65_536
"""Bodies up to this size are gathered on the lane (uvicorn pauses reading at this size too)."""

Headers = list[tuple[bytes, bytes]]
_SERVER_ERROR_HEADERS = (
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", b"21"),
    (b"connection", b"close"),
)
"""uvicorn's own answer to an exception in the app (HTTP 500, then the connection closes)."""
Answer = tuple[int, Headers, bytes]
"""An answer the app made at once: status, headers (the server adds its defaults), body."""


class Delayed(NamedTuple):
    """An answer made at once that may leave only at `not_before` (on the perf_counter clock,
    a rule's latency); `sent()` is called once it has left (or its client has gone)."""

    not_before: float
    answer: Answer
    sent: Callable[[], None]


class _NoEvent:
    def set(self) -> None:
        """uvicorn tells a request's cycle that its connection is lost: nothing to wake."""


class _Waiting:
    """A delayed answer as uvicorn sees it while it waits: a request under way on the
    connection, so what comes next on it is queued behind (uvicorn's pipelining)."""

    __slots__ = ("disconnected", "keep_alive", "response_complete")
    message_event = _NoEvent()

    def __init__(self, keep_alive: bool) -> None:
        self.keep_alive = keep_alive  # uvicorn's shutdown sets it False
        self.disconnected = False  # uvicorn's connection_lost sets it True
        self.response_complete = False


class LaneApp(Protocol):
    """What an app offers the fast lane."""

    def takes_at_once(self, scope: Scope) -> str | None: ...

    def answer_at_once(self, scope: Scope, body: bytes, ticket: str) -> Answer | Delayed | None: ...


class FastLaneProtocol(JoinedWritesProtocol):
    """uvicorn's httptools protocol with the fast lane in front of its ASGI path."""

    _ticket: str | None = None
    """The app's ticket for the request being read on the lane (None: not on the lane)."""
    _close_after = False
    """The server is shutting down: close once the request on the lane is answered."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._lane: LaneApp | None = self.app if hasattr(self.app, "takes_at_once") else None
        self._lane_body: list[bytes] = []
        """The lane's request body so far, in the pieces it came in (mostly one)."""
        self._lane_size = 0

    def before_parsing(self) -> None:
        """Answers whose time has come leave before the read is parsed (it is stamped already:
        its requests' latencies count from its arrival, not from after them)."""
        deadlines.run_due(self.loop)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._ticket = None

    def on_headers_complete(self) -> None:
        if self._lane is not None and self._may_take():
            parser = self.parser
            method = parser.get_method()
            parsed_url = httptools.parse_url(self.url)
            raw_path = parsed_url.path
            path = raw_path.decode("ascii")
            if "%" in path:  # as uvicorn does: the app sees the decoded path
                path = unquote(path)
            scope: Scope = self.scope  # type: ignore[assignment]  # uvicorn's TypedDict
            scope["method"] = method.decode("ascii")
            http_version = parser.get_http_version()
            if http_version != "1.1":
                scope["http_version"] = http_version
            scope["path"] = self.root_path + path
            scope["raw_path"] = self.root_path.encode("ascii") + raw_path
            scope["query_string"] = parsed_url.query or b""
            self._ticket = self._lane.takes_at_once(scope)
            if self._ticket is not None:
                self._lane_body, self._lane_size = [], 0
                return
        super().on_headers_complete()

    def _may_take(self) -> bool:
        """Whether the connection is free for the lane: no request under way or queued on the
        ASGI path, writes not paused, no upgrade or 100-continue asked for."""
        cycle = self.cycle
        return (
            (cycle is None or cycle.response_complete)
            and not self.pipeline
            and not self.expect_100_continue
            and not self.flow.write_paused
            and not self.parser.should_upgrade()
        )

    def on_body(self, body: bytes) -> None:
        if self._ticket is None:
            super().on_body(body)
            return
        self._lane_body.append(body)
        self._lane_size += len(body)
        if self._lane_size > LANE_BODY_BYTES:
            self._hand_over()

    def on_message_complete(self) -> None:
        ticket = self._ticket
        if ticket is None:
            super().on_message_complete()
            return
        self._ticket = None
        assert self._lane is not None  # a ticket comes from the lane
        scope: Scope = self.scope  # type: ignore[assignment]
        try:
            answer = self._lane.answer_at_once(scope, self._gathered(), ticket)
        except Exception as exc:  # a bug: answered as uvicorn answers an app's exception
            self.logger.error("Exception in the fast lane", exc_info=exc)
            answer = (500, [*_SERVER_ERROR_HEADERS], b"Internal Server Error")
        if answer is None:
            self._hand_over()
            super().on_message_complete()
            return
        self._lane_body = []
        if isinstance(answer, Delayed):
            self._delay(answer)
            return
        kept_open = self._write_answer(*answer, keep_alive=self._keep_alive())
        self.server_state.total_requests += 1
        if kept_open:
            self._idle_from_now()

    def _keep_alive(self) -> bool:
        parser = self.parser
        return (
            parser.get_http_version() != "1.0"
            and parser.should_keep_alive()
            and not self._close_after
        )

    def _delay(self, delayed: Delayed) -> None:
        """Send a delayed answer when its time comes; the connection is busy until then."""
        waiting = _Waiting(self._keep_alive())
        self.cycle = waiting  # type: ignore[assignment]  # as uvicorn's own cycles are

        def send() -> None:
            open_ = not waiting.disconnected and not self.transport.is_closing()
            if open_ and self._write_answer(*delayed.answer, keep_alive=waiting.keep_alive):
                self.transport.flush()  # type: ignore[attr-defined]  # now, not after the step
                waiting.response_complete = True
                self.on_response_complete()  # uvicorn's: the next queued request, or idle
            else:
                waiting.response_complete = True
                self.server_state.total_requests += 1
            delayed.sent()

        deadlines.call_at(delayed.not_before, send)

    def shutdown(self) -> None:
        """The server is stopping: a request on the lane whose body is still coming is answered
        first, then the connection closes (as uvicorn lets a request under way finish)."""
        if self._ticket is not None:
            self._close_after = True
            return
        super().shutdown()

    def _gathered(self) -> bytes:
        pieces = self._lane_body
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _hand_over(self) -> None:
        """Send the request the ASGI way: uvicorn's callbacks for the headers and the body
        gathered so far, as they would have been made."""
        self._ticket = None
        super().on_headers_complete()
        if self._lane_body:
            super().on_body(self._gathered())
            self._lane_body = []

    def _write_answer(
        self, status: int, headers: Headers, body: bytes, *, keep_alive: bool
    ) -> bool:
        """Write an answer as uvicorn's ASGI path would (its default headers, then the app's;
        `connection: close` when the connection is not kept alive, and then closed); whether
        the connection stays open."""
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content += (name, b": ", value, b"\r\n")
        closing = False  # the app says `connection: close`
        for name, value in headers:
            content += (name, b": ", value, b"\r\n")
            closing = closing or (name == b"connection" and value == b"close")
        if not keep_alive and not closing:
            content.append(b"connection: close\r\n")
        content += (b"\r\n", body)
        self.transport.write(b"".join(content))
        if keep_alive and not closing:
            return True
        self.transport.close()
        return False

    # Keep-alive: uvicorn cancels the idle timer at every read and makes a new one after every
    # answer (two timer operations a request). Here one timer per connection stays armed; a
    # read marks the connection busy, an answer marks it idle from then, and the timer, when it
    # fires, closes the connection only if it has been idle for the whole timeout (else it is
    # set again for when it would have been).

    _idle_since: float | None = None
    _idle_timer: asyncio.TimerHandle | None = None

    def _unset_keepalive_if_required(self) -> None:
        """uvicorn's hook for "a request is coming in or was answered": busy."""
        self._idle_since = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        uvicorns = self.timeout_keep_alive_task
        if uvicorns is not None:  # it armed its own timer: idle, on ours instead
            uvicorns.cancel()
            self.timeout_keep_alive_task = None
            self._idle_from_now()

    def _idle_from_now(self) -> None:
        self._idle_since = self.loop.time()
        if self._idle_timer is None:
            self._idle_timer = self.loop.call_later(self.timeout_keep_alive, self._idle_check)

    def _idle_check(self) -> None:
        self._idle_timer = None
        if self._idle_since is None:  # busy: its answer marks it idle and sets the timer again
            return
        due = self._idle_since + self.timeout_keep_alive
        if due > self.loop.time():
            self._idle_timer = self.loop.call_at(due, self._idle_check)
            return
        self.timeout_keep_alive_handler()
