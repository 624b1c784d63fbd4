"""uvicorn's HTTP protocol (httptools) sending a response's head together with its body: one
`send()` and one TCP segment, as a server that buffers its answer sends them, instead of two.

uvicorn writes the head when the app sends `http.response.start` and the body when it sends
`http.response.body`, each straight to the socket. On loopback that second system call (and the
second wake-up of the client it brings) cost about a fifth of a whole send under load
(`strace -c`: two `write`s per request; `bench/run.py --only single`: 20.7k req/s before,
25.3k after). Here the transport is wrapped: a response's head is held until its first body
write and joined to it. An app sends the body right after the head, in the same step of the
event loop; one that waits between them (an event stream) has its head sent when that step is
over (`call_soon`), or when its response completes without a body (HEAD), so no head waits for
anything but the step that made it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle


class HeadWithBody:
    """A transport that holds each response's head for the body that follows it."""

    __slots__ = ("_head", "_headed", "_loop", "_protocol", "transport")

    def __init__(self, transport: asyncio.Transport, protocol: JoinedWritesProtocol) -> None:
        self.transport = transport
        self._protocol = protocol
        self._loop = protocol.loop
        self._head: bytes | None = None
        self._headed: RequestResponseCycle | None = None  # the response whose head was seen

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:  # the body (or its first chunk) of the held head
            self._head = None
            self.transport.write(head + data)
            return
        cycle = self._protocol.cycle
        if (
            cycle is not self._headed
            and cycle is not None
            and cycle.response_started
            and not cycle.response_complete
        ):  # the first write since this response started: its head
            self._headed, self._head = cycle, bytes(data)
            self._loop.call_soon(self.flush)
            return
        self.transport.write(data)

    def flush(self) -> None:
        """Send a held head now (not if the connection is already closing)."""
        head, self._head = self._head, None
        if head is not None and not self.transport.is_closing():
            self.transport.write(head)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self._head = None
        self.transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class JoinedWritesProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through `HeadWithBody`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = HeadWithBody(transport, self)  # type: ignore[assignment]

    def on_response_complete(self) -> None:
        self.transport.flush()  # type: ignore[attr-defined]  # a head without a body
        super().on_response_complete()
