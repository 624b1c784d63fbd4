"""Sleeping until a `time.perf_counter` deadline, to the tenth of a millisecond: rule latencies.

uvloop (libuv) keeps its time in whole milliseconds, read once per step of the loop, so a
200 ms `asyncio.sleep` ends 200.5-202 ms later. On Linux a timerfd on CLOCK_MONOTONIC (the clock
`perf_counter` reads) is set to the earliest deadline: the loop's poll returns at that instant
and the sleepers whose deadline has come are woken together; callbacks (the fast lane's delayed
answers) are called there and then, not in a later step. The server also runs what is due
before it parses each read (`run_due`): in a busy step the timer's turn may come after many
reads, and an answer whose time has come should not wait behind them. Elsewhere, or without a
timerfd, `asyncio.sleep` does it as before (it may wake early by the rounding, so it sleeps
again).

Python 3.11 has no `os.timerfd_create` (3.13 has): the two calls go through ctypes to libc.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import heapq
import itertools
import os
import sys
from collections.abc import Callable
from time import perf_counter

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


class _Itimerspec(ctypes.Structure):
    _fields_ = (("it_interval", _Timespec), ("it_value", _Timespec))


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.timerfd_create.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.timerfd_settime.argtypes = (
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.c_void_p,
        )
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


class Deadlines:
    """Sleepers on one event loop, woken by one timerfd set to the earliest deadline."""

    def __init__(self, loop: asyncio.AbstractEventLoop, libc: ctypes.CDLL) -> None:
        self.loop = loop
        self._libc = libc
        fd = libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self.fd: int = fd
        self._sleepers: list[tuple[float, int, asyncio.Future[None] | Callable[[], None]]] = []
        self._order = itertools.count()
        self._armed_for = 0.0
        try:
            loop.add_reader(fd, self._fired)
        except BaseException:
            os.close(fd)
            raise

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= perf_counter():
            return
        woken: asyncio.Future[None] = self.loop.create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._order), woken))
        if self._sleepers[0][2] is woken:
            self._arm(deadline)
        await woken  # a cancelled sleeper stays in the heap until its time, then is skipped

    def call_at(self, deadline: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._sleepers, (deadline, next(self._order), callback))
        if self._sleepers[0][2] is callback:
            self._arm(deadline)

    def _arm(self, deadline: float) -> None:
        if deadline == self._armed_for:
            return
        self._armed_for = deadline
        seconds, fraction = divmod(deadline, 1.0)
        spec = _Itimerspec(_Timespec(0, 0), _Timespec(int(seconds), int(fraction * 1e9)))
        if self._libc.timerfd_settime(self.fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None):
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")

    def _fired(self) -> None:
        with contextlib.suppress(BlockingIOError):  # already read, or re-armed since
            os.read(self.fd, 8)  # the count of expirations: the heap says who is due
        self._armed_for = 0.0
        self._run_due()

    def run_due(self) -> None:
        """Run what is due now, if anything (the server looks before it reads a request)."""
        sleepers = self._sleepers
        if sleepers and sleepers[0][0] <= perf_counter():
            self._run_due()

    def _run_due(self) -> None:
        now = perf_counter()
        sleepers = self._sleepers
        while sleepers and sleepers[0][0] <= now:
            due = heapq.heappop(sleepers)[2]
            if isinstance(due, asyncio.Future):
                if not due.done():
                    due.set_result(None)
                continue
            try:
                due()  # at once: an answer leaves now, not after the step's other reads
            except Exception as exc:  # as the loop reports a callback's exception
                self.loop.call_exception_handler(
                    {"message": f"Exception in deadline callback {due!r}", "exception": exc}
                )
        if sleepers:
            self._arm(sleepers[0][0])

    def close(self) -> None:
        with contextlib.suppress(Exception):  # the loop may be closed already
            self.loop.remove_reader(self.fd)
        os.close(self.fd)


_by_loop: dict[asyncio.AbstractEventLoop, Deadlines] = {}
"""The sleepers of each running loop (tests run several, one per thread); a closed loop's are
dropped, and their timerfd closed, when the next loop starts sleeping."""
_libc_timers = _LIBC
"""None once a timerfd could not be made: asyncio's timers from then on."""


def _deadlines_of(loop: asyncio.AbstractEventLoop) -> Deadlines | None:
    """The loop's timerfd sleepers, made at its first use; None without a timerfd."""
    global _libc_timers  # noqa: PLW0603 (given up for good when the system has no timerfd)
    deadlines = _by_loop.get(loop)
    if deadlines is None and _libc_timers is not None:
        for closed in [other for other in list(_by_loop) if other.is_closed()]:
            _by_loop.pop(closed).close()
        try:
            deadlines = _by_loop[loop] = Deadlines(loop, _libc_timers)
        except (OSError, RuntimeError):  # no timerfd here, or a loop whose add_reader cannot
            _libc_timers = None
    return deadlines


async def sleep_until(deadline: float) -> None:
    """Return at `deadline` on the `perf_counter` clock (at once if it has passed), never
    before it."""
    deadlines = _deadlines_of(asyncio.get_running_loop())
    if deadlines is not None:
        await deadlines.sleep_until(deadline)
        return
    while (remaining := deadline - perf_counter()) > 0:  # noqa: ASYNC110 (a deadline, not a poll)
        await asyncio.sleep(remaining)


def run_due(loop: asyncio.AbstractEventLoop) -> None:
    """Run the loop's timerfd sleepers that are due (none without a timerfd), so that an answer
    whose time has come leaves before a request read in the same step is processed."""
    deadlines = _by_loop.get(loop)
    if deadlines is not None:
        deadlines.run_due()


def call_at(deadline: float, callback: Callable[[], None]) -> None:
    """Call `callback` on the running loop at `deadline` on the `perf_counter` clock (in the
    next step if it has passed), never before it."""
    loop = asyncio.get_running_loop()
    deadlines = _deadlines_of(loop)
    if deadlines is not None:
        deadlines.call_at(deadline, callback)
        return

    def when_due() -> None:  # asyncio's timers may fire early by their rounding: look again
        remaining = deadline - perf_counter()
        if remaining > 0:
            loop.call_later(remaining, when_due)
        else:
            callback()

    loop.call_later(max(0.0, deadline - perf_counter()), when_due)
