"""Serving: what `gateway-sim serve` does once its flags are parsed. Load the scenario, open the
store (a --db file that cannot be used, of another schema or a newer version, stops the start
with one line; one of an older version is migrated and the migration told in one line), check
the ports and the TLS certificate, serve the app (`httpserver`, one server per port, all on one
simulator) and announce it once every port accepts connections (so "listening on" is true when
printed), until SIGTERM or SIGINT stops it cleanly.

Heavy imports (the server, the app) happen inside the functions: `validate` and `--help` stay fast.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gateway_sim import __version__
from gateway_sim.domain.limits import LIMITS, Limits
from gateway_sim.domain.scenario import Scenario, ScenarioError, load_scenario
from gateway_sim.observe import logs
from gateway_sim.server.guard import WILDCARDS
from gateway_sim.server.tls import TlsError
from gateway_sim.store.repository import VERSION, Repository, Retention, Unusable, is_url, shown
from gateway_sim.store.store import open_store

if TYPE_CHECKING:
    from gateway_sim.server.app import GatewayApp
    from gateway_sim.server.tls import TlsFiles

GRACE_SECONDS = 0.6
"""On SIGTERM or SIGINT, requests under way (a long-poll, a held answer) get this long to finish
before they are cancelled, so that the whole stop takes well under 2 seconds."""


def serve(args: argparse.Namespace) -> int:
    """`gateway-sim serve`: load, check, serve, announce, run until stopped; the exit code."""
    request_log = logs.configure(args.log_level, args.log_format)
    limits = limits_of(args)
    try:
        scenario = load_scenario(args.scenario, limits)
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
    from gateway_sim.server import httpserver

    problem = httpserver.raise_file_limit(limits, len(args.port))
    if problem is not None:
        print(f"gateway-sim: {problem}", file=sys.stderr)
        return 1
    problem = None if is_url(args.db) else unwritable(args.db)
    if problem is not None:
        print(f"gateway-sim: {problem}", file=sys.stderr)
        return 1
    try:
        store = open_store(args.db, retention)
    except (sqlite3.Error, Unusable) as error:
        print(f"gateway-sim: cannot open the database {shown(args.db)}: {error}", file=sys.stderr)
        return 1
    if store.migrated is not None:
        print(
            f"gateway-sim: migrated the database {args.db} to schema version {VERSION}: "
            f"{store.migrated}",
            file=sys.stderr,
        )
    port = 0
    try:
        tls = tls_files(args)
        ports = []
        for port in args.port:
            ports.append(httpserver.pick_port(args.host, port))
    except TlsError as error:
        store.close()
        print(f"gateway-sim: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        store.close()
        print(f"gateway-sim: cannot listen on {args.host}:{port}: {error}", file=sys.stderr)
        return 1
    # until the loop takes the signals over, a stop is clean too
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    try:
        store.observers.append(request_log.observe)
        run(scenario, args, ports=ports, store=store, limits=limits, tls=tls)
    finally:
        store.close()
        if tls is not None:
            tls.remove_generated()
    return 0


def limits_of(args: argparse.Namespace) -> Limits:
    """The `Limits` the flags (and their environment twins) give."""
    return Limits(**{info.name: getattr(args, info.name) for info in LIMITS})


def unwritable(db: str) -> str | None:
    """Why the --db file cannot be written, or None: a send is answered `ID:` only once its
    message is in the file, so a file that cannot take it must stop the start, not the sends."""
    from urllib.parse import parse_qs, unquote, urlsplit

    name = db
    if db.startswith("file:"):  # a URI, as SQLite takes it (store/database.py opens uri=True)
        uri = urlsplit(db)
        mode = parse_qs(uri.query).get("mode", [""])[-1]
        if mode == "memory":
            return None
        if mode == "ro" or "immutable=1" in uri.query:
            return f"cannot open the database {db}: it opens the file read-only; every send writes"
        if uri.netloc not in ("", "localhost"):
            return f"cannot open the database {db}: a file: URI names no host but localhost"
        name = unquote(uri.path)
    if name == ":memory:":
        return None
    path = Path(name)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        return f"cannot open the database {db}: the folder {folder} does not exist"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"cannot open the database {db}: the file {_not_writable(path)}"
    if not os.access(folder, os.W_OK | os.X_OK):
        # SQLite writes its journal beside the file
        return f"cannot open the database {db}: the folder {folder} {_not_writable(folder)}"
    return None


def _not_writable(path: Path) -> str:
    """The end of the line that stops the start, with the way out: in a container, a bind-mounted
    /data belongs to the host's user while the image runs as uid 10001."""
    if not hasattr(os, "geteuid"):  # Windows: no uids to name
        return "is not writable by this user"
    uid = os.geteuid()
    return (
        f"is not writable by this user (uid {uid}): give it to that uid (chown {uid} {path}) "
        "or run as its owner (docker run --user)"
    )


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def tls_files(args: argparse.Namespace) -> TlsFiles | None:
    """The certificate to serve HTTPS with: none without --tls, the user's, or one made now."""
    if not (args.tls or args.tls_cert or args.tls_key):
        return None
    from gateway_sim.server import tls

    if args.tls_cert or args.tls_key:
        return tls.given(args.tls_cert, args.tls_key)
    names = tls.server_names(args.host, args.tls_hostnames.split(","))
    return tls.generate(names, Path(args.tls_ca_file) if args.tls_ca_file else None)


def announce(
    app: GatewayApp, args: argparse.Namespace, urls: list[str], tls: TlsFiles | None
) -> None:
    """Where it listens (first line: scripts read it; other ports after), the scenario, the
    accounts it has (a database file's, when it restored them), the guards that are on, the
    inbox and the metrics."""
    scheme, _, rest = urls[0].partition("://")
    host, _, port = rest.rpartition(":")
    local = "127.0.0.1" if host.strip("[]") in WILDCARDS else host
    accounts = ", ".join(account.username for account in app.gateway.accounts) or "(none)"
    lines = [f"gateway-sim {__version__} listening on {urls[0]}"]
    lines += [f"  also on:  {url} (the same simulator)" for url in urls[1:]]
    lines.append(f"  scenario: {args.scenario}")
    if app.restored:
        kept, db = len(app.store), shown(args.db)
        lines.append(
            f"  state:    from {db} ({kept} message{'' if kept == 1 else 's'} kept; its "
            "accounts, credit and ids win over the scenario's)"
        )
    lines.append(f"  accounts: {accounts}")
    if args.trust_proxy:
        lines.append(
            "  --trust-proxy: on (X-Forwarded-Proto and -For from any client are believed)"
        )
    if args.control_token:
        lines.append("  --control-token: on (/_sim and the inbox need it)")
    lines += [
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
    args: argparse.Namespace,
    *,
    ports: list[int],
    store: Repository,
    limits: Limits,
    tls: TlsFiles | None,
) -> None:
    import random

    try:
        import uvloop
    except ImportError:  # Windows: asyncio's own loop
        uvloop = None  # type: ignore[assignment]

    from gateway_sim.domain.clock import ManualClock, SystemClock
    from gateway_sim.server import httpserver
    from gateway_sim.server.app import create_app
    from gateway_sim.server.guard import allowed_hosts_of

    seed = args.seed if args.seed is not None else scenario.settings.seed
    clock = ManualClock(datetime.now(UTC)) if args.clock == "manual" else SystemClock()
    app = create_app(
        scenario,
        clock=clock,
        rng=random.Random(seed),
        store=store,
        control_token=args.control_token,
        trust_proxy=args.trust_proxy,
        limits=limits,
        allowed_hosts=allowed_hosts_of(args.allowed_hosts),
        listen_host=args.host,
        tls_hostnames=[name for name in args.tls_hostnames.split(",") if name.strip()],
    )
    served = httpserver.Tls(tls.cert, tls.key) if tls else None
    servers = [httpserver.build(app, args.host, port, limits, served) for port in ports]
    shown = f"[{args.host}]" if ":" in args.host else args.host
    urls = [f"{'https' if tls else 'http'}://{shown}:{port}" for port in ports]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stopping: list[asyncio.Task[None]] = []

        async def stop() -> None:
            app.feed.close()  # an inbox page's event stream would never end by itself
            await app.edge.finish(GRACE_SECONDS)
            for server in servers:
                server.stop()  # type: ignore[no-untyped-call]

        def on_signal() -> None:
            if not stopping:
                stopping.append(loop.create_task(stop()))

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        serving = [asyncio.create_task(server.serve()) for server in servers]
        for port in ports:
            await httpserver.accepting(args.host, port)
        announce(app, args, urls, tls)
        watching = [asyncio.create_task(httpserver.watch_cap(port, limits)) for port in ports]
        await asyncio.gather(*serving)
        for watch in watching:
            watch.cancel()

    try:
        if uvloop is None:
            asyncio.run(main())
        else:
            uvloop.run(main())
    finally:
        app.close()
