"""Write-behind: what the request path hands the store waits in bounded queues and is written
later, in batches, by the store's `Writer`; and the store's observers, each handed in order what
queued.

A queue holds no more than its retention cap (older items would be dropped on arrival anyway),
and messages are numbered as they queue. When a batch is written is the mode's write policy:

- durable (a database file): a message is written at the end of this turn of the event loop
  (`committed` waits for it); anything else `FLUSH_DELAY` after it queued;
- not durable (in memory): a plain send's message once the traffic pauses; a message with
  content, a journal entry, a status step, a callback attempt or changed state `FLUSH_DELAY`
  after it queued.

Under durable writes the messages of one turn share a commit, so a `kill -9` never loses a
message that was answered `ID:`; a message the writer could not write is `lost`: its send learns
it from `committed`, and the store's `unstored` refunds it. In memory, a plain send's message is
written once nothing new came for `FLUSH_DELAY`, or at the next read (`flush`): under sustained
load the capped queue drops what retention would have deleted anyway, so most of it is never
written.

The observers (metrics, request logs, the live feed while a page listens) are one list; every
`FLUSH_DELAY` each is handed what queued since, in the order it came, off the request path.

Timers run on the event loop's own thread; without a running loop (a test's thread) a write
runs at once.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeVar

from gateway_sim.domain.records import Attempt, Exchange, Message, Record, StatusChange
from gateway_sim.store.entries import Entries
from gateway_sim.store.retention import Retention

__all__ = ["FLUSH_DELAY", "Batch", "Observer", "Queued", "WriteBehind", "Writer"]

T = TypeVar("T")
log = logging.getLogger("gateway_sim")
FLUSH_DELAY = 0.02
FAILED_KEPT = 10_000
"""How many ids of messages that could not be written are remembered for `committed`."""

Observer = Callable[[Sequence[Record]], None]
"""Handed, every `FLUSH_DELAY`, what the store was given since, in the order it came."""


class Batch(NamedTuple):
    """What is written at once: numbered messages, journal entries, status steps, callback
    attempts, and whether the saved state changed."""

    messages: list[tuple[int, Message]]
    exchanges: list[Exchange]
    statuses: list[StatusChange]
    attempts: list[Attempt]
    state_changed: bool


Writer = Callable[[Batch, Callable[[Message], None]], None]
"""Writes a batch; hands each message it could not write to its second argument."""


class WriteBehind:
    """The queues between the request path and the store's `Writer`, when they are written, and
    who is told of what they held. `lock` is the store's: a flush holds it, so that a reader
    holding it too sees every item queued before it asked."""

    def __init__(
        self,
        retention: Retention,
        *,
        durable: bool,
        write: Writer,
        lock: threading.RLock,
        first_seq: int = 1,
    ) -> None:
        self.durable = durable
        self._write = write
        self._lock = lock
        self._message_seq = itertools.count(first_seq)
        cap = retention.max_journal
        self._messages: deque[tuple[int, Message]] = deque(maxlen=retention.max_messages)
        self._exchanges = Entries(cap, retention.max_journal_bytes)
        """The journal entries to write (past the caps, the oldest go: the write's retention
        would delete them at once)."""
        self._exchanges_lock = threading.Lock()  # its count of bytes and its items agree
        self._statuses: deque[StatusChange] = deque(maxlen=cap)
        self._attempts: deque[Attempt] = deque(maxlen=cap)
        self._state_changed = False
        self._scheduled = False
        self._commit: asyncio.Future[None] | None = None
        self._idle_loop: asyncio.AbstractEventLoop | None = None
        """The loop whose timer waits for a pause in the traffic, if one does."""
        self._arrivals = 0
        self._failed: dict[str, bool] = {}
        """With durable writes: the ids of messages that could not be written (each False, for
        `committed`'s `pop`), until their sends learn it."""
        self.observers: list[Observer] = []
        self._to_observe: deque[Record] = deque(maxlen=4 * cap)
        """What the observers are handed next: at most a journal's worth of each kind (they are
        handed it every `FLUSH_DELAY`, so in practice far less waits)."""
        self._observing = False
        self.unstored: Callable[[Message], None] | None = None
        """Told of each message that could not be written (the gateway refunds its cost)."""

    # -- the request path: queue only ---------------------------------------------------------

    def add(self, message: Message) -> None:
        self._messages.append((next(self._message_seq), message))
        if self.durable:
            self._commit_soon()
        elif message.content:
            self._schedule()
        else:
            self._when_idle()
        self.observe(message)

    def record(self, exchange: Exchange, size: int) -> None:
        """Queue a journal entry, already cut by the store to what one may hold, of `size`
        bytes (entries.fit)."""
        with self._exchanges_lock:
            self._exchanges.append(exchange, size)
        self._schedule()
        self.observe(exchange)

    def add_status(self, change: StatusChange) -> None:
        self._statuses.append(change)
        self._schedule()
        self.observe(change)

    def record_attempt(self, attempt: Attempt) -> None:
        self._attempts.append(attempt)
        self._schedule()
        self.observe(attempt)

    def state_changed(self) -> None:
        self._state_changed = True
        self._schedule()

    def observe(self, record: Record) -> None:
        """Hand `record` to the observers with the next batch (without writing it)."""
        if not self.observers:
            return
        self._to_observe.append(record)
        if not self._observing:
            self._observing = True
            _soon(self.tell_observers)

    # -- commits ------------------------------------------------------------------------------

    async def committed(self, message_id: str) -> bool:
        """Wait until every message added so far has been written (at once in memory); tell
        whether message `message_id` was (a write that fails fails only its own message)."""
        if self._commit is not None:
            await asyncio.shield(self._commit)
        return self._failed.pop(message_id, True)

    def when_committed(self, message_id: str, then: Callable[[bool], None]) -> None:
        """`committed` for a send that can no longer wait (cancelled): `then(written)` once
        the write is done."""
        commit = self._commit
        if commit is not None and not commit.done():
            commit.add_done_callback(lambda _: then(self._failed.pop(message_id, True)))
        else:
            then(self._failed.pop(message_id, True))

    # -- the write policy ---------------------------------------------------------------------

    def _commit_soon(self) -> None:
        """Write at the end of this turn of the event loop; `committed()` waits for it."""
        if self._commit is not None:
            return
        loop = self._loop_or_write_now()
        if loop is None:
            return
        self._commit = loop.create_future()
        loop.call_soon(self.flush)

    def _schedule(self) -> None:
        if self._scheduled:
            return
        self._scheduled = True
        _soon(self.flush)

    def _when_idle(self) -> None:
        """Write once the traffic pauses (or at the next read)."""
        if self._idle_loop is not None:
            self._arrivals += 1
            return
        loop = self._loop_or_write_now()
        if loop is None:
            return
        self._idle_loop, self._arrivals = loop, 0
        loop.call_later(FLUSH_DELAY, self._write_when_idle)

    def _loop_or_write_now(self) -> asyncio.AbstractEventLoop | None:
        """The running event loop; without one (a test's thread), write at once and say None."""
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return None

    def _write_when_idle(self) -> None:
        if self._arrivals:  # the traffic goes on: look again later
            self._arrivals = 0
            asyncio.get_running_loop().call_later(FLUSH_DELAY, self._write_when_idle)
            return
        self._idle_loop = None
        self.flush()

    # -- writing ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything queued (the writer logs what it could not), then tell the
        observers."""
        with self._lock:
            self._scheduled = False
            if self._idle_loop is not None and self._idle_loop.is_closed():
                self._idle_loop = None  # its timer will never fire: the next send arms one
            with self._exchanges_lock:
                exchanges = self._exchanges.take_all()
            batch = Batch(
                _take_all(self._messages),
                exchanges,
                _take_all(self._statuses),
                _take_all(self._attempts),
                self._state_changed,
            )
            self._state_changed = False
            try:
                self._write(batch, self._lost)
            finally:
                self._release_commit()
        self.tell_observers()

    def _lost(self, message: Message) -> None:
        """A message could not be written: its send is told (when durable), its cost refunded,
        and the observers not told of it."""
        if self.durable:
            self._failed[message.id] = False
            if len(self._failed) > FAILED_KEPT:  # sends that never asked (none should)
                del self._failed[next(iter(self._failed))]
        if self.unstored is not None:
            try:
                self.unstored(message)
            except Exception:
                log.exception("could not refund message %s", message.id)
        if message in self._to_observe:
            self._to_observe.remove(message)

    def _release_commit(self) -> None:
        """Let the answers waiting on this write go (a failed write is logged by the writer)."""
        commit, self._commit = self._commit, None
        if commit is not None and not commit.done():
            commit.set_result(None)

    def tell_observers(self) -> None:
        """Hand the observers what queued since they were last told."""
        self._observing = False
        records = _take_all(self._to_observe)
        if not records:
            return
        for observe in list(self.observers):
            try:
                observe(records)
            except Exception:
                log.exception("a store observer failed")


class Queued:
    """The writes a store queues on its `WriteBehind` (`batches`) as they come; what it writes
    and when is the store's `Writer` and the write policy's."""

    batches: WriteBehind

    @property
    def unstored(self) -> Callable[[Message], None] | None:
        """Told of each message that could not be written, before the state is saved (the
        gateway refunds its cost)."""
        return self.batches.unstored

    @unstored.setter
    def unstored(self, refund: Callable[[Message], None] | None) -> None:
        self.batches.unstored = refund

    def add(self, message: Message) -> None:
        self.batches.add(message)

    def add_status(self, change: StatusChange) -> None:
        self.batches.add_status(change)

    def record_attempt(self, attempt: Attempt) -> None:
        self.batches.record_attempt(attempt)

    def state_changed(self) -> None:
        """Accounts or the id counter changed outside a send: save them at the next write."""
        self.batches.state_changed()

    async def committed(self, message_id: str) -> bool:
        return await self.batches.committed(message_id)

    def when_committed(self, message_id: str, then: Callable[[bool], None]) -> None:
        self.batches.when_committed(message_id, then)

    def flush(self) -> None:
        """Write everything pending (the writer loses only what it cannot write)."""
        self.batches.flush()


def _soon(callback: Callable[[], None]) -> None:
    """Call `callback` `FLUSH_DELAY` from now on the running loop; at once without one."""
    try:
        asyncio.get_running_loop().call_later(FLUSH_DELAY, callback)
    except RuntimeError:
        callback()


def _take_all(queue: deque[T]) -> list[T]:
    """Empty a queue that another thread may be appending to, losing nothing."""
    return [queue.popleft() for _ in range(len(queue))]
