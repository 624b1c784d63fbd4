"""Serving: what `gateway-sim serve` does once its flags are parsed. Load the scenario, open the
store, bind the socket (before announcing it, so "listening on" is already true), make or check
the TLS certificate, and run uvicorn on the app until SIGTERM or SIGINT stops it cleanly.

Heavy imports (uvicorn, the app) happen inside the functions: `validate` and `--help` stay fast.
"""

from __future__ import annotations

import argparse
import gc
import signal
import socket
import sqlite3
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gateway_sim import __version__, logs
from gateway_sim.cli import WILDCARDS
from gateway_sim.scenario import Scenario, ScenarioError, load_scenario
from gateway_sim.store import Retention, Store
from gateway_sim.tls import TlsError

if TYPE_CHECKING:
    import uvicorn

    from gateway_sim.tls import TlsFiles

GRACE_SECONDS = 0.6
"""On SIGTERM or SIGINT, requests under way (a long-poll, a held answer) get this long to finish
before they are cancelled, so that the whole stop takes well under 2 seconds."""


def serve(args: argparse.Namespace) -> int:
    """`gateway-sim serve`: load, bind, announce, run until stopped; the exit code."""
    request_log = logs.configure(args.log_level, args.log_format)
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as error:
        print(error, file=sys.stderr)
        return 1
    retention = Retention(
        args.max_messages,
        args.max_journal,
        args.max_content_bytes,
        max_journal_bytes=args.max_journal_bytes,
        max_journal_body_bytes=args.max_journal_body_bytes,
    )
    try:
        store = Store(args.db, retention)
    except sqlite3.Error as error:
        print(f"gateway-sim: cannot open the database {args.db}: {error}", file=sys.stderr)
        return 1
    try:
        tls = tls_files(args)
        sock = bind(args.host, args.port)
    except TlsError as error:
        store.close()
        print(f"gateway-sim: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        store.close()
        print(f"gateway-sim: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    # until uvicorn takes the signals over (and after it gives them back), a stop is clean too
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    try:
        announce(scenario, args.scenario, sock, tls)
        store.observers.append(request_log.observe)
        run(scenario, sock, store, args, tls)
    finally:
        store.close()
        if tls is not None:
            tls.remove_generated()
    return 0


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def tls_files(args: argparse.Namespace) -> TlsFiles | None:
    """The certificate to serve HTTPS with: none without --tls, the user's, or one made now."""
    if not (args.tls or args.tls_cert or args.tls_key):
        return None
    from gateway_sim import tls

    if args.tls_cert or args.tls_key:
        return tls.given(args.tls_cert, args.tls_key)
    names = tls.server_names(args.host, args.tls_hostnames.split(","))
    return tls.generate(names, Path(args.tls_ca_file) if args.tls_ca_file else None)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)  # accept into the backlog at once: "listening on" is then already true
    sock.set_inheritable(True)
    return sock


def tune_garbage_collector() -> None:
    """Move what start-up made out of the collector's way, and collect young objects less often:
    each request makes many short-lived objects, and the store holds a batch of them for 20 ms."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def announce(scenario: Scenario, source: str, sock: socket.socket, tls: TlsFiles | None) -> None:
    """Where it listens (first line: scripts read it), the scenario, the accounts, the inbox."""
    host, port = sock.getsockname()[:2]
    scheme = "https" if tls else "http"
    shown = f"[{host}]" if ":" in host else host
    local = "127.0.0.1" if host in WILDCARDS else shown
    accounts = ", ".join(account.username for account in scenario.accounts) or "(none)"
    lines = [
        f"gateway-sim {__version__} listening on {scheme}://{shown}:{port}",
        f"  scenario: {source}",
        f"  accounts: {accounts}",
        f"  inbox:    {scheme}://{local}:{port}/",
        f"  metrics:  {scheme}://{local}:{port}/metrics",
    ]
    if tls is not None:
        lines.append(f"  TLS certificate: {tls.cert}")
        if tls.ca is not None:
            lines.append(f"  TLS CA (trust it in your client): {tls.ca}")
    print("\n".join(lines), flush=True)


def run(
    scenario: Scenario,
    sock: socket.socket,
    store: Store,
    args: argparse.Namespace,
    tls: TlsFiles | None,
) -> None:
    import random

    import uvicorn

    from gateway_sim.app import create_app
    from gateway_sim.clock import ManualClock, SystemClock
    from gateway_sim.fast_lane import FastLaneProtocol

    seed = args.seed if args.seed is not None else scenario.settings.seed
    clock = ManualClock(datetime.now(UTC)) if args.clock == "manual" else SystemClock()
    app = create_app(
        scenario,
        clock=clock,
        rng=random.Random(seed),
        store=store,
        control_token=args.control_token,
        trust_proxy=args.trust_proxy,
    )
    config = uvicorn.Config(
        app,
        proxy_headers=False,  # the app alone decides whether to trust X-Forwarded-Proto
        log_config=None,  # logs.configure has set uvicorn's loggers up
        log_level="debug" if args.log_level == "debug" else "warning",
        access_log=False,
        lifespan="on",
        server_header=False,
        date_header=True,
        timeout_graceful_shutdown=GRACE_SECONDS,  # type: ignore[arg-type]  # asyncio.wait_for's
        ssl_certfile=tls.cert if tls else None,
        ssl_keyfile=tls.key if tls else None,
        http=FastLaneProtocol,
    )
    tune_garbage_collector()
    try:
        server(config, app.feed.close).run(sockets=[sock])
    finally:
        app.close()


def server(config: uvicorn.Config, end_streams: Callable[[], None]) -> uvicorn.Server:
    """A uvicorn server that stops cleanly: it ends the open event streams when it starts
    shutting down (it waits for every connection to close, and an inbox page's stream would
    otherwise never close), and, stopped by SIGTERM or SIGINT, exits with status 0 once it has
    shut down (uvicorn raises the signal again afterwards, which ends the process with 143 or
    130)."""
    import contextlib

    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            end_streams()
            await super().shutdown(sockets)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                self._captured_signals.clear()

    return Server(config)
