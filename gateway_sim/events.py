"""Waiting for messages: long-poll waiters are woken the moment a matching message is accepted,
with no polling loop in the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gateway_sim.records import Message

Match = Callable[[Message], bool]


class MessageEvents:
    """Futures waiting for the next message that matches their predicate."""

    def __init__(self) -> None:
        self._waiters: list[tuple[Match, asyncio.Future[Message]]] = []

    def subscribe(self, match: Match) -> asyncio.Future[Message]:
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiters.append((match, future))
        return future

    def unsubscribe(self, future: asyncio.Future[Message]) -> None:
        self._waiters = [(m, f) for m, f in self._waiters if f is not future]

    def publish(self, message: Message) -> None:
        if not self._waiters:
            return
        waiting = []
        for match, future in self._waiters:
            if future.done():
                continue
            if match(message):
                future.get_loop().call_soon_threadsafe(_resolve, future, message)
            else:
                waiting.append((match, future))
        self._waiters = waiting


def _resolve(future: asyncio.Future[Message], message: Message) -> None:
    if not future.done():
        future.set_result(message)
