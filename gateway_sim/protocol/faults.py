"""Connection faults on purpose: reset, close without an answer, hang, a truncated body, garbage
bytes, a body dribbled out slowly.

ASGI gives no handle on the connection, so the transport is reached through the server's
receive callable (uvicorn's request cycle keeps it as `.transport`). Where there is none (an
in-process test client), the nearest ASGI-level equivalent is used, and said so in the journal.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

from gateway_sim.types import Receive, Send

GARBAGE = b"\x00\xff\xfe\x1b[2J\x89PNG\r\n\x1a\nHTTP/9.9 999 ?\r\n\x00\x00garbage\xc3\x28\r\n"
HANG_MOST_SECONDS = 300.0
TEXT = [(b"content-type", b"text/plain; charset=utf-8")]


def _cycle(receive: Receive) -> Any:
    return getattr(receive, "__self__", None)


def _transport(receive: Receive) -> Any:
    """The connection's transport (asyncio's or uvloop's, which is not a subclass), or None."""
    transport = getattr(_cycle(receive), "transport", None)
    return transport if hasattr(transport, "abort") and hasattr(transport, "write") else None


def _forget(receive: Receive) -> None:
    """Tell the server the connection is gone, so it does not try to answer on it."""
    cycle = _cycle(receive)
    if cycle is not None and hasattr(cycle, "disconnected"):
        cycle.disconnected = True


async def reset(receive: Receive) -> str:
    """Abort the connection with a TCP reset (SO_LINGER 0)."""
    transport = _transport(receive)
    if transport is None:
        raise ConnectionResetError("reset by rule")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    _forget(receive)
    return "connection reset"


async def close(receive: Receive) -> str:
    """Close the connection without answering."""
    transport = _transport(receive)
    if transport is None:
        raise ConnectionAbortedError("closed by rule")
    transport.close()
    _forget(receive)
    return "connection closed without an answer"


async def hang(receive: Receive) -> str:
    """Answer nothing until the client gives up (or HANG_MOST_SECONDS pass)."""
    try:
        async with asyncio.timeout(HANG_MOST_SECONDS):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        await close(receive)
        return f"hung for {HANG_MOST_SECONDS:g} s, then closed"
    return "hung until the client gave up"


async def garbage(receive: Receive, send: Send) -> str:
    """Write bytes that are not HTTP, then close."""
    transport = _transport(receive)
    if transport is None:
        await send({"type": "http.response.start", "status": 200, "headers": TEXT})
        await send({"type": "http.response.body", "body": GARBAGE})
        return "answered garbage (no connection handle: as an HTTP body)"
    transport.write(GARBAGE)
    transport.close()
    _forget(receive)
    return "wrote garbage bytes and closed"


async def truncate(receive: Receive, send: Send, body: bytes) -> str:
    """Promise the whole body, send half of it, close."""
    length = str(len(body)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*TEXT, (b"content-length", length)],
        }
    )
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    transport = _transport(receive)
    if transport is not None:
        transport.close()
        _forget(receive)
    return f"sent {len(body) // 2} of {len(body)} bytes, then closed"


async def dribble(send: Send, body: bytes, interval: float) -> str:
    """Send the answer one byte at a time, `interval` seconds between bytes."""
    length = str(len(body)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*TEXT, (b"content-length", length)],
        }
    )
    for index in range(len(body)):
        if index:
            await asyncio.sleep(interval)
        await send(
            {"type": "http.response.body", "body": body[index : index + 1], "more_body": True}
        )
    await send({"type": "http.response.body", "body": b""})
    return f"dribbled {len(body)} bytes, one every {interval * 1000:g} ms"
