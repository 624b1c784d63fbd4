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
from datetime import datetime
from urllib.parse import unquote

from gateway_sim.control.simulator import Simulator
from gateway_sim.domain.accounts import Accounts
from gateway_sim.domain.gateway import Gateway
from gateway_sim.domain.rule_schema import Rule
from gateway_sim.domain.scenario import Scenario
from gateway_sim.store.repository import Shared

log = logging.getLogger("gateway_sim")
RETRY_SECONDS = 1.0
ADOPT_SECONDS = 1.0


class Replicas:
    """Follows what the other replicas of a shared store do."""

    def __init__(self, sim: Simulator, store: Shared) -> None:
        self.sim = sim
        self.store = store
        self.moving: asyncio.Future[int] | None = None
        """The last move of the clock made after another replica's."""

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

    async def adopt(self) -> None:
        """Every `ADOPT_SECONDS`, deliver the callbacks of replicas that are gone (a replica
        killed mid-work leaves its retries and first attempts in the database), and hold the
        database to its byte caps."""
        while True:
            try:
                taken = self.sim.callbacks.adopt(self.store.adopt())
                if taken:
                    log.info("took up %d callbacks of a replica that is gone", taken)
                await asyncio.to_thread(self.store.retain)  # a pass over the tables
            except Exception as error:
                log.warning("could not tidy after the replicas: %s", error)
            await asyncio.sleep(ADOPT_SECONDS)

    async def run(self) -> None:
        """Follow the others and take up what the gone ones left, until cancelled."""
        await asyncio.gather(self.follow(), self.adopt())

    def apply(self, kind: str, words: list[str]) -> None:
        """Do here what another replica did."""
        if kind == "messages":
            if not len(self.sim.events) and not self.sim.feed.listening:
                return  # nobody here waits or watches: nothing to read
            found = [self.store.get(message_id) for message_id in words]
            messages = [message for message in found if message is not None]
            for message in messages:
                self.sim.events.publish(message)
            self.sim.feed.heard(messages)
        elif kind == "credit":
            for key in words:
                credit = self.store.credit_of(key)
                if credit is not None:
                    self.sim.gateway.credit_is(key, credit)
        elif kind == "accounts":
            self.sim.gateway.accounts = Accounts.from_saved(self.store.accounts())
        elif kind == "clock" and words:
            self.follow_clock(words[0])
        elif kind == "forgot" and words:  # an account reset alone on another replica
            self.sim.callbacks.forget_account(unquote(words[0]))
        elif kind == "rules":
            self.take_rules(self.sim.gateway, self.store)
        elif kind == "reset":
            stored = self.store.scenario()
            scenario = Scenario.model_validate_json(stored) if stored else self.sim.loaded_scenario
            self.sim.start_over(scenario)
            self.sim.gateway.accounts = Accounts.from_saved(self.store.accounts())

    @staticmethod
    def take_rules(gateway: Gateway, store: Shared) -> None:
        """The rules in force as the database has them (their counters are its too)."""
        in_force = store.rules()
        rules = [Rule.model_validate(spec) for spec, _ in in_force]
        gateway.rules = gateway.rules_of(gateway.scenario, rules)
        for spec, enabled in in_force:
            if not enabled:
                gateway.rules.enable(spec["name"], False)

    def follow_clock(self, moved_to: str) -> None:
        """Another replica moved the manual clock: move this one's there too, running what
        falls due on the way (this replica's own report steps and callback retries)."""
        scheduler = self.sim.scheduler
        if not scheduler.manual:
            return
        seconds = (datetime.fromisoformat(moved_to) - self.sim.gateway.clock.now()).total_seconds()
        if seconds > 0:
            self.moving = asyncio.ensure_future(scheduler.advance(seconds))
