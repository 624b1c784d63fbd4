"""Delivery reports (README "What is simulated": delivery reports): for a message sent with
`delrpt=1` (or any message of an account with `report_all`), each recipient's status goes 2
(queued) -> 3 (sent) -> 4 (delivered), a step every `settings.report_step_seconds`, unless a
rule's `delivery` says otherwise. Each step is kept in the message's status history and, when
the account has a `status_url`, posted there as `msgid`, `status`, `toaddr`.

A rule's `delivery` may also ask for the pathologies of a real gateway; the status history keeps
the reports in the order they were posted:

- `duplicate`: the final report is posted twice, the second one step after the first
  (2, 3, 4, 4); each is its own callback, retried on its own.
- `out_of_order`: the reports go in reverse, final first (4, 3, 2).
- `before_answer`: each recipient's first report is posted before the send's HTTP answer is
  returned, then the others follow one step apart (2 at once, 3 after a step, 4 after two). The
  listener (`on_message`) is called synchronously while the answer is being made, so it cannot
  wait for a POST itself: it starts the reports at once, in a task, and the edge holds the
  answer back until their first attempts are over (`posted(message_id)`, awaited before the
  answer starts; 200 or not, a failed one is retried on the account's schedule as usual).
  Without that the reports still start at once, on any clock, and race the answer.
- `never` (no report at all) goes with none of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from gateway_sim.domain.accounts import Account
from gateway_sim.domain.clock import Clock
from gateway_sim.domain.records import DeliveryPlan, Message, StatusChange
from gateway_sim.effects.callbacks import CallbackQueue
from gateway_sim.effects.scheduler import Scheduler
from gateway_sim.store.repository import Repository

Report = Callable[[], Awaitable[None]]
log = logging.getLogger("gateway_sim")


class DeliveryReports:
    """Plans each reported message's timeline on the scheduler."""

    def __init__(
        self,
        *,
        scheduler: Scheduler,
        clock: Clock,
        store: Repository,
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
        self._early: dict[str, asyncio.Task[None]] = {}
        """The `before_answer` reports being posted, by message id."""

    def on_message(self, message: Message) -> None:
        if message.direction == "inbound":
            return
        account = self.account_of(message.account)
        if not (message.delivery_report or (account is not None and account.report_all)):
            return
        plan = message.delivery or DeliveryPlan()
        if plan.never:
            return
        step = plan.delay_seconds if plan.delay_seconds is not None else self.step_seconds()
        statuses: list[int] = [*plan.steps, plan.final]
        if plan.duplicate:
            statuses.append(plan.final)
        if plan.out_of_order:
            statuses.reverse()
        early = plan.before_answer
        first: list[Report] = []
        for recipient in message.recipients:
            for index, status in enumerate(statuses, 0 if early else 1):
                if index == 0:
                    first.append(self._step(message, recipient, status, wait=True))
                else:
                    self.scheduler.after(step * index, self._step(message, recipient, status))
        if first:
            self._start_early(message.id, first)

    async def posted(self, message_id: str) -> None:
        """Wait until the `before_answer` reports of message `message_id` have made their first
        attempts (at once if it has none under way): what its send's answer waits for."""
        task = self._early.get(message_id)
        if task is not None:
            await asyncio.wait((task,))

    async def drain(self) -> None:
        """Wait for the `before_answer` reports that are being posted now."""
        if self._early:
            await asyncio.wait(set(self._early.values()))

    def _start_early(self, message_id: str, reports: list[Report]) -> None:
        """Post `reports` now, one after another, and let the answer wait for them."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the server: as soon as the scheduler may
            for report in reports:
                self.scheduler.after(0, report)
            return
        task = loop.create_task(_in_turn(reports))
        self._early[message_id] = task

        def done(_: asyncio.Task[None]) -> None:
            if self._early.get(message_id) is task:  # ids start over on a reset
                del self._early[message_id]

        task.add_done_callback(done)

    def _step(self, message: Message, recipient: str, status: int, *, wait: bool = False) -> Report:
        """One report: into the status history, then to the account's `status_url` if it has
        one; with `wait`, its first attempt is made at once and awaited (not queued)."""

        planned = self.account_of(message.account)
        resets = planned.resets if planned is not None else 0

        async def report() -> None:
            account = self.account_of(message.account)
            if account is not None and account.resets != resets:
                return  # the account was reset alone since: the message is gone
            self.store.add_status(StatusChange(message.id, recipient, status, self.clock.now()))
            if account is None or not account.status_url:
                return
            form = {"msgid": message.id, "status": str(status), "toaddr": recipient}
            if wait:
                await self.callbacks.send_now(
                    "status", account, account.status_url, form=form, message_id=message.id
                )
            else:
                self.callbacks.send(
                    "status", account, account.status_url, form=form, message_id=message.id
                )

        return report


async def _in_turn(reports: list[Report]) -> None:
    for report in reports:
        try:
            await report()
        except Exception:
            log.exception("a delivery report failed")
