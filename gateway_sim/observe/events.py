"""Waiting for messages: long-poll waiters are woken the moment a matching message is accepted,
with no polling loop in the server.

The waiters are indexed by what their filter pins down (a recipient, else an account, else
nothing), so adding and removing one is O(1) and a message is tested only against the waiters
that could want it: thousands of waits for other numbers cost a send nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gateway_sim.domain.records import Message

Match = Callable[[Message], bool]
Shelf = tuple[str, str]
"""Where a waiter is indexed: ("to", number), ("account", casefolded name) or ("any", "")."""
ANY: Shelf = ("any", "")


class Waiter:
    """One wait: its predicate, the future its message resolves, and its shelf."""

    __slots__ = ("future", "match", "shelf")

    def __init__(self, match: Match, future: asyncio.Future[Message], shelf: Shelf) -> None:
        self.match = match
        self.future = future
        self.shelf: Shelf | None = shelf
        """None once it is unsubscribed."""


class MessageEvents:
    """Futures waiting for the next message that matches their predicate."""

    def __init__(self) -> None:
        # dicts used as insertion-ordered sets: O(1) add and remove, waiters woken in order
        self._shelves: dict[Shelf, dict[Waiter, None]] = {}
        self._count = 0

    def __len__(self) -> int:
        """Waiters registered now."""
        return self._count

    def subscribe(
        self, match: Match, *, to: str | None = None, account: str | None = None
    ) -> Waiter:
        """Register a wait for the next message that `match` takes. `to` (a normalised
        recipient) and `account`, when the predicate requires them, only choose the shelf."""
        if to is not None:
            shelf: Shelf = ("to", to)
        elif account is not None:
            shelf = ("account", account.casefold())
        else:
            shelf = ANY
        waiter = Waiter(match, asyncio.get_running_loop().create_future(), shelf)
        self._shelves.setdefault(shelf, {})[waiter] = None
        self._count += 1
        return waiter

    def unsubscribe(self, waiter: Waiter) -> None:
        """Forget a wait (answered, timed out or abandoned); a second call does nothing."""
        shelf = waiter.shelf
        if shelf is None:
            return
        waiter.shelf = None
        waiting = self._shelves[shelf]
        del waiting[waiter]
        if not waiting:
            del self._shelves[shelf]  # numbers waited on once do not pile up
        self._count -= 1

    def publish(self, message: Message) -> None:
        """Wake, and forget, every waiter whose predicate takes `message`."""
        if not self._count:
            return
        shelves = [ANY, ("account", message.account.casefold())]
        shelves.extend(("to", number) for number in set(message.recipients))
        woken = [
            waiter
            for shelf in shelves
            for waiter in self._shelves.get(shelf, ())
            if not waiter.future.done() and waiter.match(message)
        ]
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for waiter in woken:
            self.unsubscribe(waiter)
            loop = waiter.future.get_loop()
            if loop is running:
                # at once: a wait timing out in this very tick still gets its message
                waiter.future.set_result(message)
            else:  # a test may publish from outside the loop the wait runs on
                loop.call_soon_threadsafe(_resolve, waiter.future, message)


def _resolve(future: asyncio.Future[Message], message: Message) -> None:
    if not future.done():
        future.set_result(message)
