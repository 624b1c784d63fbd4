"""The HTTP server under the app: granian (hyper and tokio underneath), embedded in our own event
loop through its documented `granian.server.embed.Server`, configured only through its documented
settings from `Limits`.

Why granian: measured on 127.0.0.1 (see bench/RESULTS.md), it alone of the servers tried held
every attack flat out of the box: it buffers at most `max_head_bytes` of a head and refuses the
rest as it arrives, reads a connection's next pipelined request only once the last answer is
written, closes a connection that has not sent a whole head in time (idle keep-alive ones
included), and caps the connections it serves (`max_connections`; past it a new
connection waits unaccepted in the listen backlog until one closes). uvicorn's documented settings
have no head timeout and leave an idle connection open forever.

The head timeout and the idle keep-alive timeout are one timer in granian (hyper's
`header_read_timeout`, its only documented HTTP/1 timeout: it runs from a connection's opening or
its last answer until a whole head has come), so it is set to the smaller of `head_timeout` and
`keep_alive_timeout`. The two cannot be told apart from the app either: between two requests ASGI
gives it nothing of the connection, so it cannot close one that idles.

It also owns finding the port (`--port 0`) and waiting until the server accepts, so that the
"listening on" line is true when it is printed, and `ServerThread`: the same server in a thread of
its own, for the pytest plugin and the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from granian.constants import HTTPModes, Interfaces, SSLProtocols
from granian.http import HTTP1Settings
from granian.server.embed import Server

from gateway_sim.domain.limits import DEFAULT_LIMITS, Limits

log = logging.getLogger("gateway_sim")
BACKLOG = 2048
"""Connections the kernel may hold unaccepted: those waiting past `max_connections` wait here."""
FD_RESERVE = 64
"""File descriptors kept free of client connections: the store, logs, callbacks' own sockets."""


@dataclass(frozen=True, slots=True)
class Tls:
    cert: Path
    key: Path


def build(app: Any, host: str, port: int, limits: Limits, tls: Tls | None = None) -> Server:
    """granian's embedded server for `app` on host:port, bounded by `limits`."""
    return Server(
        app,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        websockets=False,
        backlog=BACKLOG,
        backpressure=limits.max_connections,
        http1_settings=HTTP1Settings(
            header_read_timeout=max(1, round(head_timer(limits) * 1000)),
            keep_alive=True,
            # granian's floor; the app refuses heads past the scenario's lower limit itself
            max_buffer_size=max(8192, limits.max_head_bytes),
        ),
        log_enabled=False,  # logs.configure has set the loggers up
        ssl_cert=tls.cert if tls else None,
        ssl_key=tls.key if tls else None,
        ssl_protocol_min=SSLProtocols.tls12,  # older clients (Java 8's SDK) speak TLS 1.2
    )


def head_timer(limits: Limits) -> float:
    """Seconds granian's one head timer runs: a head must be whole, and an idle connection
    sends one, within both `head_timeout` and `keep_alive_timeout`."""
    return min(limits.head_timeout, limits.keep_alive_timeout)


def pick_port(host: str, port: int) -> int:
    """The port to serve on: `port`, or a free one for 0. Binding it here first also turns a
    port in use (or a host not on this machine) into an OSError before anything is announced."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        chosen: int = sock.getsockname()[1]
        return chosen


async def accepting(host: str, port: int, within: float = 10.0) -> None:
    """Return once host:port accepts a connection (the server is serving)."""
    target = "127.0.0.1" if host in ("", "0.0.0.0") else "::1" if host in ("::", "[::]") else host
    deadline = time.monotonic() + within
    while True:
        try:
            _, writer = await asyncio.open_connection(target, port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.005)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return


def waiting_connections(port: int) -> int | None:
    """Connections the kernel holds unaccepted on `port` (the accept queues of its listening
    sockets, as Linux's /proc/net/tcp shows them), or None where that cannot be read."""
    waiting = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if (
                len(fields) > 4
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                waiting = (waiting or 0) + int(fields[4].split(":")[1], 16)
    return waiting


async def watch_cap(port: int, limits: Limits, every: float = 1.0) -> None:
    """Log when connections wait past `max_connections`: the server stops accepting at the cap,
    so a connection past it waits in the listen backlog, where only the kernel sees it. Waiting
    at two looks in a row (not the instant between a connection and its acceptance) is logged,
    at most once a minute."""
    seen = 0.0
    before = 0
    while True:
        await asyncio.sleep(every)
        waiting = waiting_connections(port)
        if waiting is None:
            return  # not Linux: nothing to watch
        if waiting and before and time.monotonic() - seen > 60:
            seen = time.monotonic()
            log.warning(
                "%d connections wait unaccepted: the simulator serves --max-connections %d at once "
                "(an idle one is closed after %g s)",
                waiting,
                limits.max_connections,
                head_timer(limits),
            )
        before = waiting


def raise_file_limit(limits: Limits, ports: int = 1) -> str | None:
    """Raise the soft open-file limit to the hard one, so that `max_connections` clients on each
    of `ports` ports fit; a problem to print when they cannot (the caps are then above what the
    process may open). granian's extension raises it too as it is imported, but does not say so
    in its documentation: this does not count on it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    clients = limits.max_connections * ports
    if soft != resource.RLIM_INFINITY and clients + FD_RESERVE > soft:
        each = f" on each of {ports} ports" if ports > 1 else ""
        return (
            f"--max-connections {limits.max_connections}{each} does not fit the open-file limit "
            f"of {soft} (less {FD_RESERVE} kept for the simulator itself); lower it, or raise "
            f"the limit (ulimit -n)"
        )
    return None


class ServerThread:
    """The app served on 127.0.0.1 by the same server, in a daemon thread with its own event
    loop: for the pytest plugin's in-process mode and the tests. `stop()` ends it."""

    def __init__(
        self,
        app: Any,
        *,
        limits: Limits = DEFAULT_LIMITS,
        before_stop: Callable[[], Awaitable[None]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.port = pick_port(host, port)
        self.url = f"http://{host}:{self.port}"
        self._server = build(app, host, self.port, limits)
        self._before_stop = before_stop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="gateway-sim", daemon=True)
        self._thread.start()
        if not self._started.wait(15):
            raise RuntimeError(f"the server on {self.url} did not start")
        if self._failed is not None:
            raise RuntimeError(f"the server on {self.url} did not start") from self._failed

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.create_task(self._server.serve())
        try:
            await accepting("127.0.0.1", self.port)
        except OSError as error:
            self._failed = error
        self._started.set()
        await task

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (after `before_stop`) and wait for the thread to end."""
        loop = self._loop
        if loop is not None and self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._stop(), loop)
        self._thread.join(timeout)

    async def _stop(self) -> None:
        if self._before_stop is not None:
            await self._before_stop()
        self._server.stop()  # type: ignore[no-untyped-call]
