"""Serve one of the bench's own ASGI apps (a bare baseline, the callbacks receiver) on the server
`gateway-sim serve` runs: granian's embedded server as
`gateway_sim.server.httpserver.build` configures it (HTTP/1.1, the default `Limits`, the same
backlog and header timeout), on uvloop, in this
process. The bare apps thus pay the simulator's own server costs, no more and no less.

Like `gateway-sim serve`, it finds the port first (`--port 0`: any free one), prints
`NAME listening on http://HOST:PORT` only once the port accepts connections, and stops cleanly on
SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import uvloop

from gateway_sim.domain.limits import DEFAULT_LIMITS, Limits
from gateway_sim.server import httpserver


def run(
    app: Any, name: str, host: str = "127.0.0.1", port: int = 0, limits: Limits = DEFAULT_LIMITS
) -> None:
    """Serve `app` on host:port until SIGTERM or SIGINT."""
    # granian warns that embedding is experimental, on every start: `serve` configures its
    # loggers; here only errors are worth the log file
    logging.getLogger("_granian").setLevel(logging.ERROR)
    problem = httpserver.raise_file_limit(limits)
    if problem is not None:
        raise SystemExit(f"{name}: {problem}")
    chosen = httpserver.pick_port(host, port)
    server = httpserver.build(app, host, chosen, limits)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, server.stop)
        serving = asyncio.create_task(server.serve())
        await httpserver.accepting(host, chosen)
        print(f"{name} listening on http://{host}:{chosen}", flush=True)
        await serving

    uvloop.run(main())
