"""The live feed behind `/_sim/events`: new messages, delivery status steps, journal entries,
callback attempts and resets, fanned out to every open event stream.

The feed is one of the store's observers, handed what the store was given every few
milliseconds, but only while at least one stream is open: with no page listening it builds
nothing. Each stream has a bounded queue: a reader that falls behind gets one
`lagged` event (and should read the lists again) instead of holding memory without bound.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

from gateway_sim.domain.records import Record
from gateway_sim.store.repository import Repository

QUEUE_SIZE = 1_000
Event = tuple[str, str]
"""An event's name and its JSON data."""

Show = Callable[[object], tuple[str, dict[str, Any]] | None]
"""How a record the store queued is shown: an event's name and data (the control API's views),
or None for a record the feed does not show."""


class Stream:
    """One reader's queue of events; `None` in it means the feed closed."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_SIZE)
        self.lagging = False

    def offer(self, event: Event | None) -> None:
        if event is None:  # closing wins over anything queued
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)
            return
        if self.lagging:
            return
        if self.queue.qsize() >= QUEUE_SIZE - 1:
            self.lagging = True
            self.queue.put_nowait(("lagged", "{}"))
            return
        self.queue.put_nowait(event)

    async def next(self, within: float) -> Event | None:
        """The next event; `("", "")` when none came within `within` seconds."""
        try:
            event = await asyncio.wait_for(self.queue.get(), within)
        except TimeoutError:
            return ("", "")
        if event is not None and event[0] == "lagged":
            self.lagging = False
        return event


class Feed:
    """The open event streams, and what is published to them."""

    def __init__(self, store: Repository, show: Show) -> None:
        self.store = store
        self.show = show
        self.streams: set[Stream] = set()
        self.closed = False

    def open(self) -> Stream:
        stream = Stream()
        if self.closed:
            stream.offer(None)
            return stream
        self.streams.add(stream)
        if not self.listening:
            self.store.observers.append(self._observe)
        return stream

    def release(self, stream: Stream) -> None:
        self.streams.discard(stream)
        if not self.streams:
            self._stop_listening()

    def publish(self, name: str, data: dict[str, Any]) -> None:
        if self.streams:
            event = (name, json.dumps(data, separators=(",", ":")))
            for stream in self.streams:
                stream.offer(event)

    def close(self) -> None:
        """End every stream (at shutdown, so that the server can close their connections)."""
        self.closed = True
        for stream in self.streams:
            stream.offer(None)
        self.streams.clear()
        self._stop_listening()

    @property
    def listening(self) -> bool:
        """Whether the store hands the feed what it is given (while a stream is open)."""
        return self._observe in self.store.observers

    def heard(self, records: Sequence[Record]) -> None:
        """Records another replica of a shared store kept: shown as this one's are, while a page
        listens."""
        if self.listening:
            self._observe(records)

    def _stop_listening(self) -> None:
        if self.listening:
            self.store.observers.remove(self._observe)

    def _observe(self, records: Sequence[Record]) -> None:
        for record in records:
            event = self.show(record)
            if event is not None:
                self.publish(*event)
