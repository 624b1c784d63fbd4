"""The application factory: `create_app(scenario, clock=..., rng=...)` builds a Starlette app.

Emulated gateway paths are answered by plain ASGI endpoints ahead of Starlette's router (they are
matched case-insensitively and sit on the hot path); the control API is mounted at `/_sim`,
the inbox page (gateway_sim.inbox) at `/` and `/_sim/ui`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from gateway_sim.control import api as control
from gateway_sim.control.replicas import Replicas
from gateway_sim.control.simulator import Simulator
from gateway_sim.domain.clock import Clock, IdCounter, ManualClock, SystemClock
from gateway_sim.domain.gateway import Gateway
from gateway_sim.domain.limits import Limits
from gateway_sim.domain.scenario import Scenario
from gateway_sim.inbox import routes as web
from gateway_sim.observe import metrics
from gateway_sim.server.edge import BodyRefused, Edge, refusal
from gateway_sim.server.guard import Guard
from gateway_sim.store.repository import Repository, Shared, shared
from gateway_sim.store.store import open_store
from gateway_sim.wire.asgi import Receive, Scope, Send
from gateway_sim.wire.legacy import TOO_LONG

STOP_GRACE = 0.4
log = logging.getLogger("gateway_sim")


class GatewayApp(Starlette):
    """Starlette, with the emulated gateway paths answered before routing."""

    def __init__(
        self,
        simulator: Simulator,
        *,
        control_token: str | None = None,
        guard: Guard | None = None,
    ) -> None:
        self.simulator = simulator
        self.guard = guard or Guard()
        self.limits = simulator.limits
        self.edge = Edge(
            self.limits,
            simulator.legacy.journal_refusal,
            lambda path: simulator.legacy.handler_for(path) is not None,
        )
        # The simulator's parts, at hand for the dispatch below and for tests.
        self.gateway, self.store = simulator.gateway, simulator.store
        self.scheduler, self.callbacks = simulator.scheduler, simulator.callbacks
        self.reports, self.inbound = simulator.reports, simulator.inbound
        self.events, self.feed, self.legacy = simulator.events, simulator.feed, simulator.legacy
        self.control = control.build(simulator, control_token)
        """The control API, under `/_sim/` (`_dispatch`)."""
        self.replicas: Replicas | None = None
        """With a shared store: follows what the other replicas do, while the app runs."""
        self.restored = False
        """Whether the accounts, credit and id counter came from a database file's saved state."""
        self.tally = metrics.Tally()
        self.store.observers.append(self.tally.observe)
        self.metrics = metrics.registry_for(
            simulator.gateway, simulator.store, self.callbacks, self.tally
        )
        super().__init__(
            routes=[
                *web.routes(),
                Route("/metrics", metrics.endpoint(self.metrics), methods=["GET"]),
            ],
            lifespan=_lifespan,
            exception_handlers={HTTPException: _not_found, BodyRefused: _body_refused},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.edge.handle(scope, receive, send, self._dispatch)
            return
        await super().__call__(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An HTTP request, past the edge: an emulated path, else Starlette's routes."""
        handler = self.legacy.handler_for(scope["path"])
        if handler is not None:
            # a rule's `before_answer` reports are posted before the answer to their send
            hold = self.reports.posted if self.gateway.rules.holds_answers else None
            await self.legacy.serve(handler, scope, receive, send, hold)
            return
        too_long = _header_bytes(scope) - CONTROL_MAX_HEADER_BYTES
        if too_long > 0:
            await _refuse_headers(scope, receive, send, too_long)
            return
        refused = self.guard.refusal(scope)  # Host and Origin, for `/_sim` and the inbox
        if refused is not None:
            await refused(scope, receive, send)
            return
        path = scope["path"]
        if path.startswith("/_sim/") and not (path == "/_sim/ui" or path.startswith(INBOX_ASSETS)):
            # The control API, as a Mount would reach it (ASGI's `root_path` names the prefix),
            # but for any sub-path: a Mount's pattern stops at a newline, and an account named
            # "a\nb" (`/_sim/accounts/a%0Ab`) could not be managed.
            root_path = scope.get("root_path", "") + "/_sim"
            await self.control(
                {**scope, "root_path": root_path, "app_root_path": root_path}, receive, send
            )
            return
        await super().__call__(scope, receive, send)

    async def reset(self, scenario: Scenario | None = None) -> None:
        """Back to `scenario` (default: the loaded one); see `Simulator.reset`."""
        await self.simulator.reset(scenario)

    @property
    def loaded_scenario(self) -> Scenario:
        return self.simulator.loaded_scenario

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Let report posts and callback attempts under way finish, for at most `grace` seconds
        (so that a stop stays quick however slow a receiver is), then close the callbacks'
        client and the store. An attempt cut short stays pending in a database file and is made
        again at the next start."""
        try:
            async with asyncio.timeout(grace):
                await self.reports.drain()
                await self.scheduler.drain()  # attempts under way finish before their client closes
        except TimeoutError:
            log.warning("stopped callbacks still under way after %.1f s", grace)
        await self.callbacks.close()
        self.close()

    def close(self) -> None:
        self.store.close()


INBOX_ASSETS = "/_sim/ui/assets/"
"""With `/_sim/ui`, the inbox's paths under `/_sim` (inbox.routes): the rest is the control API."""
CONTROL_MAX_HEADER_BYTES = 65_536
"""The header limit of the control API and the inbox: fixed, so no scenario can lock them out."""


def _header_bytes(scope: Scope) -> int:
    return sum(len(name) + len(value) for name, value in scope["headers"])


async def _refuse_headers(scope: Scope, receive: Receive, send: Send, excess: int) -> None:
    """HTTP 400 for headers over `CONTROL_MAX_HEADER_BYTES` (JSON under `/_sim`)."""
    detail = f"the request headers are {excess} bytes over the limit of {CONTROL_MAX_HEADER_BYTES}"
    response: Response
    if scope["path"].startswith("/_sim"):
        response = JSONResponse({"error": "headers_too_large", "detail": detail}, status_code=400)
    else:
        response = PlainTextResponse(TOO_LONG.decode(), status_code=400)
    await response(scope, receive, send)


async def _body_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BodyRefused)
    return refusal(request.url.path, exc)


async def _not_found(request: Request, exc: Exception) -> Response:
    """Unrouted paths: JSON under `/_sim` (some escape the mount, e.g. with `%0A`), else text."""
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/_sim"):
        body = {"error": "not_found", "detail": f"no control API path {request.url.path!r}"}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
    return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    following: asyncio.Task[None] | None = None
    if isinstance(app, GatewayApp):
        app.scheduler.wake()
        if app.replicas is not None:
            following = asyncio.create_task(app.replicas.run())
    yield
    if following is not None:
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
    if isinstance(app, GatewayApp):
        await app.stop()


def _join(replicated: Shared, gateway: Gateway, *, restored: bool) -> bool:
    """Make `gateway` a replica of the shared store's: its ledger, rules and manual clock are the
    database's. A fresh database takes this replica's scenario; one another replica seeded a
    moment ago is taken as it is. Whether the state came from the database."""
    replicated.credited = gateway.credit_is
    gateway.ledger = replicated.credit_of
    if not restored and not replicated.seed(gateway.scenario.model_dump_json(by_alias=True)):
        stored = replicated.scenario()  # another replica seeded it just now
        if stored is not None:
            gateway.load(Scenario.model_validate_json(stored))
        restored = gateway.restore(replicated.state())
    if restored:  # the rules in force, added or switched since the scenario's
        Replicas.take_rules(gateway, replicated)
    moved_to = replicated.clock()
    if moved_to is not None and isinstance(gateway.clock, ManualClock):
        gateway.clock.set(datetime.fromisoformat(moved_to))  # where the others' clocks are
    return restored


def create_app(
    scenario: Scenario,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    store: Repository | None = None,
    control_token: str | None = None,
    trust_proxy: bool = False,
    limits: Limits | None = None,
    allowed_hosts: Sequence[str] | None = None,
    listen_host: str | None = None,
    tls_hostnames: Sequence[str] = (),
) -> GatewayApp:
    """Build the simulator for `scenario`; inject the clock, RNG and store for determinism.

    With `trust_proxy`, a request whose `X-Forwarded-Proto` is `https` counts as HTTPS (for the
    newer APIs, which refuse plain HTTP); without it that header is ignored. `limits`: the
    bounds of `gateway_sim.domain.limits` (the defaults without it).

    `/_sim` and the inbox answer only the hosts of `gateway_sim.server.guard` (`allowed_hosts` adds
    names to its defaults, `*` allows any; `listen_host` and `tls_hostnames` are the `--host`
    served on and the `--tls-hostnames`), and take writes from no page of another origin.

    With a store kept in a file, the accounts, credit and id counter saved there win over the
    scenario's, so a restart carries on where the last run stopped.
    """
    store = store if store is not None else open_store()
    replicated = shared(store)
    stored = replicated.scenario() if replicated is not None else None
    if stored is not None:  # the scenario in force on the shared database wins, as its accounts
        scenario = Scenario.model_validate_json(stored)
    rng = rng or random.Random(scenario.settings.seed)
    ids = replicated.ids if replicated is not None else IdCounter
    counters = replicated.counters() if replicated is not None else None
    gateway = Gateway(
        scenario,
        clock=clock or SystemClock(),
        store=store,
        seed=rng.getrandbits(32),
        ids=ids,
        counters=counters,
    )
    restored = store.persistent and gateway.restore(store.state())
    if store.persistent:
        store.snapshot = gateway.snapshot
    if replicated is not None:
        restored = _join(replicated, gateway, restored=restored)
    guard = Guard(
        allowed_hosts or (),
        listen_host=listen_host,
        tls_hostnames=tls_hostnames,
        trust_proxy=trust_proxy,
    )
    simulator = Simulator(gateway, store, rng, limits=limits or Limits(), trust_proxy=trust_proxy)
    app = GatewayApp(simulator, control_token=control_token, guard=guard)
    app.restored = restored
    if replicated is not None:
        app.replicas = Replicas(simulator, replicated)
        app.callbacks.number_from(replicated.callback_ids_from())
    if store.persistent:
        app.callbacks.resume()
    return app
