"""Connection faults on purpose: reset, close without an answer, hang, a truncated body, garbage
bytes, a body dribbled out slowly.

`hang`, `truncate` and `dribble` are plain ASGI. `reset`, `close` and `garbage` cannot be: ASGI
has no message that aborts or closes a connection or writes bytes that are not HTTP, and granian
sends no head before an answer's first body message (an app failing before it gets granian's
500, one ending an answer short gets the head, then a close). So these three go past the
server's documented interface, the one place the simulator does: the connection is a socket of
this very process, `Connection.of` finds it among the open files (Linux's /proc/self/fd) by the
two addresses the request's scope names, and acts on it with the operating system's own calls
(`reset` replaces granian's descriptor with /dev/null; the README's "The server" says why, and
which tests would catch a granian that took it otherwise). Where there is no socket (an
in-process test client, a system without /proc), the nearest ASGI-level equivalent is used, and
said so in the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import stat
import struct

from gateway_sim.wire.asgi import Receive, Scope, Send

GARBAGE = b"\x00\xff\xfe\x1b[2J\x89PNG\r\n\x1a\nHTTP/9.9 999 ?\r\n\x00\x00garbage\xc3\x28\r\n"
HANG_MOST_SECONDS = 300.0
TEXT = [(b"content-type", b"text/plain; charset=utf-8")]


class Connection:
    """The client's connection socket: a duplicate of the server's file descriptor (`sock`)
    and the descriptor itself (`fd`)."""

    def __init__(self, sock: socket.socket, fd: int) -> None:
        self.sock = sock
        self.fd = fd

    @classmethod
    def of(cls, scope: Scope) -> Connection | None:
        """The connection a request came on, or None when it cannot be found."""
        client, server = scope.get("client"), scope.get("server")
        if not client or not server:
            return None
        try:
            names = os.listdir("/proc/self/fd")
        except OSError:
            return None
        for name in names:
            fd = int(name)
            sock = _socket_at(fd)
            if sock is None:
                continue
            try:
                peer, local = sock.getpeername(), sock.getsockname()
            except OSError:
                sock.close()
                continue
            if _same(peer, client) and local[1] == _port(server):
                return cls(sock, fd)
            sock.close()
        return None

    def reset(self) -> None:
        """Abort with a TCP reset: the server's descriptor is swapped for /dev/null (so ours is
        the socket's last), then ours is closed with SO_LINGER 0. The server then finds its
        descriptor at end of file and closes it."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        null = os.open(os.devnull, os.O_RDWR)
        try:
            os.dup2(null, self.fd)
        finally:
            os.close(null)
        self.sock.close()

    def close(self, last: bytes = b"") -> None:
        """Write `last` (if any), then close both directions (FIN): no answer follows."""
        with contextlib.suppress(OSError):
            if last:
                self.sock.sendall(last)
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def _socket_at(fd: int) -> socket.socket | None:
    """A duplicate of descriptor `fd` when it is a TCP socket, else None."""
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            return None
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return None
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
        sock.close()
        return None
    return sock


def _port(address: tuple[object, ...] | list[object]) -> int:
    """A scope address's port (some servers give it as a string)."""
    return int(str(address[1]))


def _same(address: tuple[object, ...], wanted: tuple[object, ...] | list[object]) -> bool:
    """Whether a socket address is the scope's (host, port), IPv4-mapped IPv6 included."""
    if address[1] != _port(wanted):
        return False
    try:
        one, other = ipaddress.ip_address(str(address[0])), ipaddress.ip_address(str(wanted[0]))
    except ValueError:
        return address[0] == wanted[0]
    if isinstance(one, ipaddress.IPv6Address) and one.ipv4_mapped is not None:
        one = one.ipv4_mapped
    if isinstance(other, ipaddress.IPv6Address) and other.ipv4_mapped is not None:
        other = other.ipv4_mapped
    return one == other


async def reset(scope: Scope) -> str:
    """Abort the connection with a TCP reset."""
    connection = Connection.of(scope)
    if connection is None:
        raise ConnectionResetError("reset by rule")
    connection.reset()
    return "connection reset"


async def close(scope: Scope) -> str:
    """Close the connection without answering."""
    connection = Connection.of(scope)
    if connection is None:
        raise ConnectionAbortedError("closed by rule")
    connection.close()
    return "connection closed without an answer"


async def hang(scope: Scope, receive: Receive) -> str:
    """Answer nothing until the client gives up (or HANG_MOST_SECONDS pass)."""
    try:
        async with asyncio.timeout(HANG_MOST_SECONDS):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        await close(scope)
        return f"hung for {HANG_MOST_SECONDS:g} s, then closed"
    return "hung until the client gave up"


async def garbage(scope: Scope, send: Send) -> str:
    """Write bytes that are not HTTP, then close."""
    connection = Connection.of(scope)
    if connection is None:
        await send({"type": "http.response.start", "status": 200, "headers": TEXT})
        await send({"type": "http.response.body", "body": GARBAGE})
        return "answered garbage (no connection handle: as an HTTP body)"
    connection.close(GARBAGE)
    return "wrote garbage bytes and closed"


async def early(fault: str, scope: Scope, receive: Receive, send: Send) -> str:
    """Carry out a fault that answers nothing of the request (`reset`, `close`, `hang` or
    `garbage`); what was done, for the journal."""
    if fault == "reset":
        return await reset(scope)
    if fault == "close":
        return await close(scope)
    if fault == "hang":
        return await hang(scope, receive)
    return await garbage(scope, send)


async def truncate(send: Send, body: bytes) -> str:
    """Promise the whole body, send half of it, close (the server closes a connection whose
    answer ended short of its Content-Length)."""
    length = str(len(body)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*TEXT, (b"content-length", length)],
        }
    )
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
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
