"""The application factory: `create_app(scenario, clock=..., rng=...)` builds a Starlette app.

Emulated gateway paths are answered by plain ASGI endpoints ahead of Starlette's router (they are
matched case-insensitively and sit on the hot path); everything else goes through Starlette.
"""

from __future__ import annotations

import logging
import random

from starlette.applications import Starlette

from gateway_sim.clock import Clock, IdCounter, SystemClock
from gateway_sim.gateway import Gateway
from gateway_sim.protocol.legacy import LegacyEndpoints
from gateway_sim.scenario import Scenario
from gateway_sim.store import MemoryStore, MessageStore
from gateway_sim.types import Receive, Scope, Send

log = logging.getLogger("gateway_sim")


class GatewayApp(Starlette):
    """Starlette, with the emulated gateway paths answered before routing."""

    def __init__(self, gateway: Gateway, rng: random.Random) -> None:
        super().__init__()
        self.gateway = gateway
        self.rng = rng
        self.legacy = LegacyEndpoints(gateway)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self.legacy.handler_for(scope["path"])
            if handler is not None:
                await self.legacy.serve(handler, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    scenario: Scenario,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    store: MessageStore | None = None,
) -> GatewayApp:
    """Build the simulator for `scenario`; inject the clock, RNG and store for determinism."""
    gateway = Gateway(
        scenario,
        clock=clock or SystemClock(),
        ids=IdCounter(scenario.settings.id_start),
        store=store if store is not None else MemoryStore(),
    )
    return GatewayApp(gateway, rng or random.Random(scenario.settings.seed))
