"""uvicorn's HTTP protocol (httptools) with the writes a connection makes in one step of the event
loop sent together, once that step is over: a response's head and body leave in one `send()`
(uvicorn writes each straight to the socket as the app sends it), and the answers to a burst of
requests leave as a burst.

Measured with `bench/run.py --only single` (wrk, 32 connections): 20.2k sends/s writing at
once, 20.2k holding only the head for its body (one `write` per answer instead of two, `strace
-c`), 25.3k with this, which is what the load generator sees: the event loop answers every
request it read in a step before the client is woken by the first answer.

Nothing waits longer than the step that wrote it (`call_soon`): an event stream's head leaves as
soon as the app has sent it. Before the connection closes, whether uvicorn closes it, the client
half-closes it (EOF) or the app's fault injection does, what is buffered is sent first, and once
it is closing, writes go straight through; an abort drops what is buffered, as a reset would.
"""

from __future__ import annotations

import asyncio
import contextlib
from time import perf_counter
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

RECEIVED_AT = "gateway_sim.received_at"
"""ASGI scope extension: `{"perf_counter": perf_counter()}` as the read holding the request's
first bytes reached the protocol, before it was parsed (rule latencies count from there; in a
busy step the app may start much later)."""


class StepWrites:
    """A transport whose writes in one step of the event loop go out as one, after it."""

    __slots__ = ("_loop", "_pending", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if self._pending:
            self._pending.append(data)
        elif self.transport.is_closing():  # no later step to wait for: the close may come first
            _write(self.transport, data)
        elif data:
            self._pending.append(data)
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Send what is buffered."""
        if self._pending:
            pending, self._pending = self._pending, []
            _write(self.transport, pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self._pending = []
        self.transport.abort()

    def get_write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() + sum(map(len, self._pending))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


def _write(transport: asyncio.Transport, data: bytes) -> None:
    """Write, unless the connection is gone (uvloop raises for a closed transport; asyncio's
    drops the bytes)."""
    with contextlib.suppress(RuntimeError):
        transport.write(data)


class JoinedWritesProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through `StepWrites`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = StepWrites(transport, self.loop)  # type: ignore[assignment]

    _read_at = 0.0
    """When the read being parsed reached the protocol (every request begun in it had arrived)."""

    def data_received(self, data: bytes) -> None:
        self._read_at = perf_counter()
        self.before_parsing()
        super().data_received(data)

    def before_parsing(self) -> None:
        """What a subclass does with a read once its arrival is stamped, before parsing it."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {RECEIVED_AT: {"perf_counter": self._read_at}}

    def eof_received(self) -> None:
        """The client is done sending: the transport closes itself next, so flush first."""
        self.transport.flush()  # type: ignore[attr-defined]
        return super().eof_received()
