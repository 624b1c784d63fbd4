"""The running simulator's parts, wired once: the gateway and its store, the scheduler and the
effects it drives (callbacks, delivery reports, inbound messages, automatic replies), the
emulated paths (every dialect registered here, in one place), the live events, `reset`, and
`reset_account` (one account alone).
The app serves it; the control API and the metrics read the parts they need from it.
"""

from __future__ import annotations

import random
import time

from gateway_sim.control.views_records import live_event
from gateway_sim.domain.gateway import Gateway
from gateway_sim.domain.limits import Limits
from gateway_sim.domain.rules import RuleBook
from gateway_sim.domain.scenario import Scenario
from gateway_sim.effects.callbacks import CallbackQueue
from gateway_sim.effects.inbound import AutoReplies, Inbound
from gateway_sim.effects.reports import DeliveryReports
from gateway_sim.effects.scheduler import Scheduler
from gateway_sim.inbox.feed import Feed
from gateway_sim.observe.events import MessageEvents
from gateway_sim.store.repository import Repository
from gateway_sim.wire.json_api import JsonEndpoints
from gateway_sim.wire.keyed import KeyedEndpoints
from gateway_sim.wire.legacy import LegacyEndpoints


class Simulator:
    """One simulator: what a scenario runs on, and the services that read or change it."""

    def __init__(
        self,
        gateway: Gateway,
        store: Repository,
        rng: random.Random,
        *,
        limits: Limits,
        trust_proxy: bool = False,
    ) -> None:
        self.gateway = gateway
        self.store = store
        self.rng = rng
        self.limits = limits
        self.loaded_scenario = gateway.scenario
        """The scenario `reset` goes back to (the last one loaded)."""
        self.started = time.monotonic()
        self.events = MessageEvents()
        self.feed = Feed(store, live_event)
        self.scheduler = Scheduler(gateway.clock)
        settings = gateway.scenario.settings
        self.callbacks = CallbackQueue(
            scheduler=self.scheduler,
            clock=gateway.clock,
            store=store,
            account_of=gateway.accounts_get,
            concurrency=settings.callback_concurrency,
            timeout=settings.callback_timeout_seconds,
            max_age=settings.callback_max_age_seconds,
        )
        self.reports = DeliveryReports(
            scheduler=self.scheduler,
            clock=gateway.clock,
            store=store,
            callbacks=self.callbacks,
            account_of=gateway.accounts_get,
            step_seconds=lambda: gateway.scenario.settings.report_step_seconds,
        )
        gateway.listeners.extend([self.events.publish, self.reports.on_message])
        self.inbound = Inbound(
            clock=gateway.clock,
            ids=lambda: gateway.ids,
            store=store,
            callbacks=self.callbacks,
            account_of=gateway.accounts_get,
            international=gateway.international,
            publish=self.events.publish,
        )
        self.auto_replies = AutoReplies(
            inbound=self.inbound, scheduler=self.scheduler, seed=gateway.seed
        )
        gateway.listeners.append(self.auto_replies.on_message)
        # The emulated paths: the legacy ones, then each newer dialect adds its own to them.
        self.legacy = LegacyEndpoints(gateway, store)
        self.legacy.register(KeyedEndpoints(self.legacy, trust_proxy=trust_proxy))
        self.legacy.register(JsonEndpoints(self.legacy, trust_proxy=trust_proxy))

    async def reset(self, scenario: Scenario | None = None, rules: RuleBook | None = None) -> None:
        """Back to `scenario` (default: the loaded one): accounts, credit, ids, messages, journal;
        with its `rules` if they were made already (`Gateway.rule_book`). On a shared store, the
        other replicas start over too (`replicas.Replicas`).

        Nothing is awaited between the store's clear and the gateway starting over, so no request
        is answered in between.
        """
        self.store.clear(journal=True)
        self.start_over(scenario or self.loaded_scenario, rules if scenario is not None else None)
        self.store.started_over(self.loaded_scenario.model_dump_json(by_alias=True))

    def start_over(self, scenario: Scenario, rules: RuleBook | None = None) -> None:
        """Everything this process holds back to `scenario` (the store is the caller's)."""
        self.loaded_scenario = scenario
        self.scheduler.clear()
        self.callbacks.clear()
        self.auto_replies.reset()
        self.gateway.load(scenario, rules)
        self.legacy.reload()
        self.feed.publish("reset", {})

    def reset_account(self, username: str) -> int | None:
        """Back to the start for account `username` alone: its messages, journal entries and
        callbacks forgotten, its starting credit back (`Accounts.restart`); how many messages
        it had, or None if there is no such account. Everything else (the other accounts,
        the rules, the clock, the scenario) is left as it is."""
        account = self.gateway.accounts.get(username)
        if account is None:
            return None
        self.callbacks.forget_account(account.username)
        forgotten = self.store.forget_account(account.username)
        self.gateway.accounts.restart(account)
        self.store.state_changed()
        ledger = self.store.credit_changed(account.username, to=account.credit)
        if ledger is not None:  # a shared ledger's, as it has it now
            self.gateway.accounts.change(account, credit=ledger)
        self.feed.publish("reset", {"account": account.username})
        return forgotten
