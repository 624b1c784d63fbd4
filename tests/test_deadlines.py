"""Rule latencies' sleeps (gateway_sim.deadlines): never before the deadline, every sleeper woken
once its deadline has come, on asyncio's loop and on uvloop, on several loops at once, with a
timerfd and without one."""

from __future__ import annotations

import asyncio
import gc
import random
import threading
import time
from collections.abc import Callable, Coroutine
from time import perf_counter
from typing import Any

import pytest
import uvloop

from gateway_sim import deadlines
from gateway_sim.deadlines import sleep_until

Runner = Callable[[Coroutine[Any, Any, Any]], Any]
RUNNERS: dict[str, Runner] = {"asyncio": asyncio.run, "uvloop": uvloop.run}


async def _sleepers(count: int, seed: int) -> list[tuple[float, float]]:
    """`count` sleepers with deadlines 20-120 ms away, the tenth due last cancelled while they
    sleep: (deadline, woken at) of each that was not cancelled, in the order they woke."""
    rng = random.Random(seed)
    woken: list[tuple[float, float]] = []

    async def sleeper(deadline: float) -> None:
        await sleep_until(deadline)
        woken.append((deadline, perf_counter()))

    gc.disable()  # a collection in a big test process can take longer than the first sleep
    try:
        now = perf_counter()
        due = sorted(now + rng.uniform(0.02, 0.12) for _ in range(count))
        shuffled = rng.sample(due, count)
        tasks = [asyncio.create_task(sleeper(deadline)) for deadline in shuffled]
        await asyncio.sleep(0)  # all asleep now
    finally:
        gc.enable()
    assert perf_counter() < due[0], "the sleepers were not all asleep before the first woke"
    last = set(due[-(count // 10) :])
    for task in [t for t, deadline in zip(tasks, shuffled, strict=True) if deadline in last]:
        task.cancel()
    async with asyncio.timeout(5):
        await asyncio.gather(*tasks, return_exceptions=True)
    timers = deadlines._by_loop.get(asyncio.get_running_loop())
    assert (timers is not None) == (deadlines._libc_timers is not None)  # a timerfd where it can
    return woken


@pytest.mark.parametrize("loop", RUNNERS)
def test_sleepers_wake_at_their_deadlines_never_before(loop: str) -> None:
    woken = RUNNERS[loop](_sleepers(200, seed=1))
    assert len(woken) == 180  # the cancelled ones never wake; the others all do
    assert all(at >= deadline for deadline, at in woken)
    assert [deadline for deadline, _ in woken] == sorted(deadline for deadline, _ in woken)


def test_without_a_timerfd_asyncio_sleeps_never_wake_early(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deadlines, "_libc_timers", None)
    monkeypatch.setattr(deadlines, "_by_loop", {})
    woken = uvloop.run(_sleepers(50, seed=2))
    assert len(woken) == 45
    assert all(at >= deadline for deadline, at in woken)
    assert deadlines._by_loop == {}


@pytest.mark.skipif(deadlines._LIBC is None, reason="timerfd is Linux's")
def test_each_loop_has_its_own_timer_and_a_closed_loops_timer_is_closed() -> None:
    results: dict[str, list[tuple[float, float]]] = {}

    def run(name: str, seed: int) -> None:
        results[name] = uvloop.run(_sleepers(100, seed))

    threads = [threading.Thread(target=run, args=(str(n), n)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(len(woken) for woken in results.values()) == [90, 90, 90]
    assert all(at >= deadline for woken in results.values() for deadline, at in woken)
    ended = [loop for loop in deadlines._by_loop if loop.is_closed()]
    assert len(ended) >= 3  # the loops ended; their timers go when the next loop sleeps
    asyncio.run(_sleepers(10, seed=4))
    assert not set(ended) & set(deadlines._by_loop)


@pytest.mark.parametrize("timerfd", [True, False])
def test_callbacks_are_called_at_their_deadlines_never_before(
    timerfd: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not timerfd:
        monkeypatch.setattr(deadlines, "_libc_timers", None)
        monkeypatch.setattr(deadlines, "_by_loop", {})
    called: list[tuple[float, float]] = []

    async def schedule() -> None:
        rng = random.Random(5)
        done = asyncio.Event()
        now = perf_counter()
        wanted = [now + rng.uniform(0.0, 0.05) for _ in range(50)] + [now - 1]  # one overdue

        def call(deadline: float) -> None:
            called.append((deadline, perf_counter()))
            if len(called) == len(wanted):
                done.set()

        for deadline in wanted:
            deadlines.call_at(deadline, lambda deadline=deadline: call(deadline))
        async with asyncio.timeout(5):
            await done.wait()

    uvloop.run(schedule())
    assert len(called) == 51
    assert all(at >= deadline for deadline, at in called)


def test_a_callback_that_raises_is_reported_and_the_others_still_run() -> None:
    """Callbacks run inside the timer's own callback: one that raises is reported as the loop
    reports a callback's exception, and the rest of those due, and later ones, still run."""
    called: list[str] = []
    reported: list[dict[str, Any]] = []

    def fails() -> None:
        called.append("fails")
        raise ValueError("a bug")

    async def schedule() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: reported.append(context))
        done = asyncio.Event()
        now = perf_counter()
        deadlines.call_at(now + 0.01, fails)
        deadlines.call_at(now + 0.01, lambda: called.append("same time"))
        deadlines.call_at(now + 0.03, lambda: (called.append("later"), done.set()))
        async with asyncio.timeout(5):
            await done.wait()

    uvloop.run(schedule())
    assert called == ["fails", "same time", "later"]
    assert [type(context["exception"]) for context in reported] == [ValueError]


def test_what_is_due_runs_when_the_server_looks_before_its_timer_fires() -> None:
    """`run_due(loop)` (the server calls it before parsing a read) runs the callbacks whose
    deadline has passed there and then, though the loop has not polled its timer since."""
    at_look: list[str] = []

    async def schedule() -> None:
        loop = asyncio.get_running_loop()
        called: list[str] = []
        deadlines.call_at(perf_counter() + 0.01, lambda: called.append("due"))
        deadlines.call_at(perf_counter() + 5, lambda: called.append("not yet"))
        deadlines.run_due(loop)
        at_look.extend(called)  # nothing due yet
        time.sleep(0.02)  # noqa: ASYNC251 (the loop is held past the first deadline)
        deadlines.run_due(loop)
        at_look.extend(called)

    uvloop.run(schedule())
    assert at_look == ["due"]
