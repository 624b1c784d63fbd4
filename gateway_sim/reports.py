"""Delivery reports (PROTOCOL.md section 6.2): for a message sent with `delrpt=1` (or any message
of an account with `report_all`), each recipient's status goes 2 (queued) -> 3 (sent) -> 4
(delivered), a step every `settings.report_step_seconds`, unless a rule's `delivery` says
otherwise. Each step is kept in the message's status history and, when the account has a
`status_url`, posted there as `msgid`, `status`, `toaddr`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway_sim.accounts import Account
from gateway_sim.callbacks import CallbackQueue
from gateway_sim.clock import Clock
from gateway_sim.records import Message, StatusChange
from gateway_sim.rules import Delivery
from gateway_sim.scheduler import Scheduler
from gateway_sim.store import Store

DEFAULT_DELIVERY: dict[str, Any] = Delivery().model_dump(mode="json")


class DeliveryReports:
    """Plans each reported message's timeline on the scheduler."""

    def __init__(
        self,
        *,
        scheduler: Scheduler,
        clock: Clock,
        store: Store,
        callbacks: CallbackQueue,
        account_of: Callable[[str], Account | None],
        step_seconds: Callable[[], float],
    ) -> None:
        self.scheduler = scheduler
        self.clock = clock
        self.store = store
        self.callbacks = callbacks
        self.account_of = account_of
        self.step_seconds = step_seconds

    def on_message(self, message: Message) -> None:
        account = self.account_of(message.account)
        if not (message.delivery_report or (account is not None and account.report_all)):
            return
        plan = message.delivery or DEFAULT_DELIVERY
        if plan["never"]:
            return
        step = plan["delay_seconds"] if plan["delay_seconds"] is not None else self.step_seconds()
        statuses = [*plan["steps"], plan["final"]]
        for recipient in message.recipients:
            for index, status in enumerate(statuses, 1):
                self.scheduler.after(step * index, self._step(message, recipient, status))

    def _step(self, message: Message, recipient: str, status: int) -> Callable[[], Any]:
        async def report() -> None:
            self.store.add_status(StatusChange(message.id, recipient, status, self.clock.now()))
            account = self.account_of(message.account)
            if account is not None and account.status_url:
                form = {"msgid": message.id, "status": str(status), "toaddr": recipient}
                self.callbacks.send(
                    "status", account, account.status_url, form=form, message_id=message.id
                )

        return report
