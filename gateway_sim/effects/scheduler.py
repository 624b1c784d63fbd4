"""Work that falls due later, on the injected clock: delivery report steps and callback retries.

With the real clock a single asyncio timer wakes for the earliest job. With a manual clock nothing
runs by itself: `advance(seconds)` moves the clock job by job, running every job that falls due,
in time order (and any job those schedule within the span), so a test sees a whole delivery
timeline without sleeping, the same every time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from gateway_sim.domain.clock import Clock, ManualClock

Job = Callable[[], Awaitable[None]]
log = logging.getLogger("gateway_sim")


class Scheduler:
    """Jobs by due time; ties run in the order they were scheduled."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.manual = isinstance(clock, ManualClock)
        self._jobs: list[tuple[datetime, int, Job]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._jobs)

    def after(self, seconds: float, job: Job) -> None:
        self.at(self.clock.now() + timedelta(seconds=seconds), job)

    def at(self, when: datetime, job: Job) -> None:
        heapq.heappush(self._jobs, (when, next(self._order), job))
        if not self.manual:
            self._arm()

    def wake(self) -> None:
        """Real clock: arm the timer for jobs scheduled before the event loop ran."""
        if not self.manual:
            self._arm()

    async def advance(self, seconds: float) -> int:
        """Manual clock: move `seconds` ahead, running what falls due on the way; tell how many."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("only a manual clock can be advanced")
        target = self.clock.now() + timedelta(seconds=seconds)
        fired = 0
        while self._jobs and self._jobs[0][0] <= target:
            when, _, job = heapq.heappop(self._jobs)
            self.clock.set(when)
            await _run(job)
            fired += 1
        self.clock.set(target)
        return fired

    def clear(self) -> None:
        self._jobs.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def drain(self) -> None:
        """Wait for jobs that are running now (not for those still to come)."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    def _arm(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._timer is not None:
            self._timer.cancel()
        if self._jobs:
            delay = (self._jobs[0][0] - self.clock.now()).total_seconds()
            self._timer = loop.call_later(max(0.0, delay), self._fire_due)

    def _fire_due(self) -> None:
        self._timer = None
        now = self.clock.now()
        while self._jobs and self._jobs[0][0] <= now:
            _, _, job = heapq.heappop(self._jobs)
            task = asyncio.get_running_loop().create_task(_run(job))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        self._arm()


async def _run(job: Job) -> None:
    try:
        await job()
    except Exception:
        log.exception("a scheduled job failed")
