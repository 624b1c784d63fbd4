"""Replicas on one shared database (`--db postgresql://…`) answer as one gateway: what another
replica did is done here too, as the database tells it (its NOTIFY channel, `Shared.
notifications`). A message another replica accepted wakes this one's long-polls; accounts and
credit changed there are read again; a reset or a scenario load there starts this one over on
the same scenario (the store itself was cleared by the replica that did it).

The messages, journal and callbacks are read from the database by every replica, so listings need
no news: only what a replica holds in memory does.
"""

from __future__ import annotations

import asyncio
import logging

from gateway_sim.control.simulator import Simulator
from gateway_sim.domain.accounts import Accounts
from gateway_sim.domain.scenario import Scenario
from gateway_sim.store.repository import Shared

log = logging.getLogger("gateway_sim")
RETRY_SECONDS = 1.0


class Replicas:
    """Follows what the other replicas of a shared store do."""

    def __init__(self, sim: Simulator, store: Shared) -> None:
        self.sim = sim
        self.store = store

    async def follow(self) -> None:
        """Listen until cancelled; after a lost connection, read the accounts again (news may
        have been missed meanwhile) and listen again."""
        while True:
            try:
                async for kind, words in self.store.notifications():
                    self.apply(kind, words)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("lost the replicas' channel (%s); listening again", error)
            await asyncio.sleep(RETRY_SECONDS)
            self.apply("accounts", [])

    def apply(self, kind: str, words: list[str]) -> None:
        """Do here what another replica did."""
        if kind == "messages":
            for message_id in words:
                message = self.store.get(message_id)
                if message is not None:
                    self.sim.events.publish(message)
        elif kind == "accounts":
            self.sim.gateway.accounts = Accounts.from_saved(self.store.accounts())
        elif kind == "reset":
            stored = self.store.scenario()
            scenario = Scenario.model_validate_json(stored) if stored else self.sim.loaded_scenario
            self.sim.start_over(scenario)
            self.sim.gateway.accounts = Accounts.from_saved(self.store.accounts())
