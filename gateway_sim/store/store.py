"""The SQLite store: messages, their content parts, the exchange journal and saved state, held to
retention caps (retention.py) so that memory stays flat however long the simulator runs.

The request path only appends to bounded in-memory queues; a queue holds no more than its
retention cap (older items would be dropped on arrival anyway), and messages are numbered as
they queue. With a database file, a write runs a few milliseconds after the first item queues,
as one batch (one transaction, a few multi-row statements), so the cost per request is small;
only a send waits, for the commit of its message (`committed()`): the messages of one turn of
the event loop share a commit, so a `kill -9` never loses a message that was answered `ID:`.
A batch that fails is written again item by item (database.py): a message that cannot be
written is lost alone, its cost refunded (`unstored`), and with a file its send learns it from
`committed()` and is answered `ERR:INTERNAL_ERROR`. Each journal entry is first cut to what one
may hold (entries.py). In memory, the journal is not in SQLite at all (journal.py), and plain
sends are written once the traffic pauses (nothing new for `FLUSH_DELAY`) or when something is
read: under sustained load the capped queue drops what retention would have deleted anyway, so
most of it is never written. Messages with content, status changes and callback attempts are
written a few milliseconds after they queue, as with a file. The SQL of opening, writing and
clearing is database.py's; a file's format (records as JSON, never code) is rows.py's, and
schema.py checks or migrates a file as it opens.

Observers (metrics, request logs) are handed what was queued every `FLUSH_DELAY`, apart from the
writes; the live feed's `observer` is told of each item as it queues.

Writes run on the event loop's own thread: a second thread would have to win back the GIL after
every SQLite step, and under load that convoy made it fall seconds behind. Every read first
writes what is pending, so a reader always sees every message that was answered before it asked.
A lock keeps other threads (a test's, reading synchronously) from using the connection at the
same time.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar

from gateway_sim.domain.records import Attempt, ContentPart, Exchange, Message, StatusChange
from gateway_sim.store import database
from gateway_sim.store.entries import Entries, fit
from gateway_sim.store.journal import Journal
from gateway_sim.store.migration import Migrated
from gateway_sim.store.queries import (
    AttemptQuery,
    ExchangeQuery,
    MessageQuery,
    attempts,
    content_part,
    count_messages,
    exchanges,
    message_by_id,
    messages,
    statuses,
)
from gateway_sim.store.repository import Observer, Repository
from gateway_sim.store.retention import Retainer, Retention

__all__ = ["FLUSH_DELAY", "Retention", "Store"]

T = TypeVar("T")
log = logging.getLogger("gateway_sim")
FLUSH_DELAY = 0.02
FAILED_KEPT = 10_000
"""How many ids of messages that could not be written are remembered for `committed`."""


class Store:
    """Messages, journal and state in SQLite (`:memory:` unless a file is named)."""

    def __init__(self, path: str = ":memory:", retention: Retention | None = None) -> None:
        self.path = path
        self.retention = retention or Retention()
        self._lock = threading.RLock()
        self._messages: deque[tuple[int, Message]] = deque(maxlen=self.retention.max_messages)
        self._exchanges = Entries(self.retention.max_journal, self.retention.max_journal_bytes)
        """With a database file: the journal entries to write (past the caps, the oldest go:
        the write's retention would delete them at once)."""
        self._exchanges_lock = threading.Lock()  # its count of bytes and its items agree
        self._statuses: deque[StatusChange] = deque(maxlen=self.retention.max_journal)
        self._attempts: deque[Attempt] = deque(maxlen=self.retention.max_journal)
        self._scheduled = False
        self._commit: asyncio.Future[None] | None = None
        self._idle_loop: asyncio.AbstractEventLoop | None = None
        """The loop whose timer waits for a pause in the traffic, if one does."""
        self._arrivals = 0
        self._to_observe: tuple[deque[Message], deque[Exchange], deque[Attempt]] = (
            deque(maxlen=self.retention.max_journal),
            deque(maxlen=self.retention.max_journal),
            deque(maxlen=self.retention.max_journal),
        )
        self._observing = False
        self._state_changed = False
        self.observer: Callable[[object], None] | None = None
        """Told of each message, journal entry, status step and callback attempt as it is queued
        (the live feed sets it only while a page listens)."""
        self.snapshot: Callable[[], dict[str, str]] | None = None
        """Called at each write of a persistent store: state to save (credit, id counter)."""
        self.observers: list[Observer] = []
        """Each is handed every batch as it is written (metrics and request logs read the
        journal there, off the request path)."""
        self.unstored: Callable[[Message], None] | None = None
        """Told of each message that could not be written, before the state is saved (the
        gateway refunds its cost)."""
        self._failed: dict[str, bool] = {}
        """With a database file: the ids of messages that could not be written (each False,
        for `committed`'s `pop`), until their sends learn it."""
        self._retainer = Retainer(self.retention, persistent=self.persistent)
        self._connection: sqlite3.Connection | None
        self.migrated: Migrated | None
        """What the migration of an older database file kept and dropped, if it had one."""
        self._connection, self.migrated = database.connect(path, self._retainer)
        self._message_seq = itertools.count(database.high_water(self._connection, "messages") + 1)
        limits = self.retention
        self._journal = (
            None if self.persistent else Journal(limits.max_journal, limits.max_journal_bytes)
        )
        self._raw_cap = limits.max_journal_body_bytes

    @property
    def persistent(self) -> bool:
        return self.path != ":memory:"

    # -- the request path: queue only ---------------------------------------------------------

    def add(self, message: Message) -> None:
        self._messages.append((next(self._message_seq), message))
        if self.persistent:
            self._commit_soon()
        elif message.content:
            self._schedule()
        else:
            self._defer()
        if self.observers:
            self._observe_later(self._to_observe[0], message)
        if self.observer is not None:
            self.observer(message)

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

    def _commit_soon(self) -> None:
        """Write at the end of this turn of the event loop; `committed()` waits for it."""
        if self._commit is not None:
            return
        loop = self._loop_or_write_now()
        if loop is None:
            return
        self._commit = loop.create_future()
        loop.call_soon(self.flush)

    @property
    def keeps_journal_in_memory(self) -> bool:
        """True without a database file: the journal is `journal.Journal`, not a table."""
        return self._journal is not None

    def record(self, exchange: Exchange) -> None:
        exchange, size = fit(exchange, self.retention.max_journal_body_bytes, self._raw_cap)
        if self._journal is not None:
            self._journal.record(exchange, size)
        else:
            with self._exchanges_lock:
                self._exchanges.append(exchange, size)
            self._schedule()
        if self.observers:
            self._observe_later(self._to_observe[1], exchange)
        if self.observer is not None:
            self.observer(exchange)

    def add_status(self, change: StatusChange) -> None:
        self._statuses.append(change)
        self._schedule()
        if self.observer is not None:
            self.observer(change)

    def record_attempt(self, attempt: Attempt) -> None:
        self._attempts.append(attempt)
        self._schedule()
        if self.observers:
            self._observe_later(self._to_observe[2], attempt)
        if self.observer is not None:
            self.observer(attempt)

    def keep_pending(self, item_id: int, due: datetime, record: Mapping[str, Any]) -> None:
        """With a database file: remember a callback still to deliver (`record`, plain JSON
        data), and when it is due."""
        if self.persistent:
            self.read(lambda db: database.keep_pending(db, item_id, due, record))

    def forget_pending(self, item_id: int) -> None:
        if self.persistent:
            self.read(lambda db: db.execute("DELETE FROM pending WHERE id = ?", (item_id,)))

    def pending(self) -> list[tuple[datetime, dict[str, Any]]]:
        """The callbacks a database file still holds (as `keep_pending` was given them), with
        when each is due."""
        return self.read(database.pending)

    def state_changed(self) -> None:
        """Accounts or the id counter changed outside a send: save them at the next write."""
        self._state_changed = True
        self._schedule()

    def _schedule(self) -> None:
        if self._scheduled:
            return
        self._scheduled = True
        _soon(self.flush)

    def _defer(self) -> None:
        """In memory: write once the traffic pauses (or at the next read)."""
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

    def flush(self) -> None:
        """Write everything pending: in one transaction, or item by item if that fails."""
        with self._lock:
            self._scheduled = False
            if self._idle_loop is not None and self._idle_loop.is_closed():
                self._idle_loop = None  # its timer will never fire: the next send arms one
            if self._connection is None:
                self._release_commit()
                return
            batch = _take_all(self._messages)
            with self._exchanges_lock:
                exchanges = self._exchanges.take_all()
            changes, tries = _take_all(self._statuses), _take_all(self._attempts)
            changed, self._state_changed = self._state_changed or bool(batch), False
            snapshot = self.snapshot if changed and self.snapshot is not None else dict
            try:
                database.write_batch(
                    self._connection, self._retainer, (batch, exchanges), snapshot, self._lost
                )
                if changes or tries:
                    database.write_callbacks(self._connection, self._retainer, changes, tries)
            except Exception:  # not any one item's: the file itself (full disk, I/O error)
                log.exception("could not write to the store")
            finally:
                self._release_commit()
        self._tell_observers()

    def _lost(self, message: Message) -> None:
        """A message could not be written: its send is told (with a file), its cost refunded,
        and the observers not told of it."""
        if self.persistent:
            self._failed[message.id] = False
            if len(self._failed) > FAILED_KEPT:  # sends that never asked (none should)
                del self._failed[next(iter(self._failed))]
        if self.unstored is not None:
            try:
                self.unstored(message)
            except Exception:
                log.exception("could not refund message %s", message.id)
        queued = self._to_observe[0]
        if message in queued:
            queued.remove(message)

    def _release_commit(self) -> None:
        """Let the answers waiting on this write go (a failed write is logged above)."""
        commit, self._commit = self._commit, None
        if commit is not None and not commit.done():
            commit.set_result(None)

    def _observe_later(self, queue: deque[Any], item: object) -> None:
        queue.append(item)
        if self._observing:
            return
        self._observing = True
        _soon(self._tell_observers)

    def _tell_observers(self) -> None:
        """Hand the observers what queued since they were last told."""
        self._observing = False
        messages, exchanges, attempts = (_take_all(queue) for queue in self._to_observe)
        if not (messages or exchanges or attempts):
            return
        for observe in self.observers:
            try:
                observe(messages, exchanges, attempts)
            except Exception:
                log.exception("a store observer failed")

    # -- reads: each first writes what is pending ---------------------------------------------

    def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            self.flush()
            if self._connection is None:
                raise RuntimeError("the store is closed")
            return query(self._connection)

    def get(self, message_id: str) -> Message | None:
        return self.read(lambda db: message_by_id(db, message_id, self._retainer.blob))

    def messages(self, query: MessageQuery) -> list[tuple[int, Message]]:
        """Messages matching `query`, newest first, with their sequence numbers."""
        return self.read(lambda db: messages(db, query, self._retainer.blob))

    def part(self, message_id: str, n: int) -> ContentPart | None:
        return self.read(lambda db: content_part(db, message_id, n, self._retainer.blob))

    def statuses(self, message_id: str) -> list[StatusChange]:
        return self.read(lambda db: statuses(db, message_id))

    def attempts(self, query: AttemptQuery) -> list[tuple[int, Attempt]]:
        return self.read(lambda db: attempts(db, query))

    def exchanges(self, query: ExchangeQuery) -> list[tuple[int, Exchange]]:
        """Journal entries matching `query`, newest first, with their sequence numbers."""
        if self._journal is not None:
            return self._journal.find(query)
        return self.read(lambda db: exchanges(db, query))

    def state(self) -> dict[str, str]:
        rows = self.read(lambda db: db.execute("SELECT key, value FROM state").fetchall())
        return {str(key): str(value) for key, value in rows}

    def __iter__(self) -> Iterator[Message]:
        found = self.messages(MessageQuery(limit=self.retention.max_messages))
        return iter([message for _, message in reversed(found)])

    def __len__(self) -> int:
        return self.read(count_messages)

    def clear(self, *, journal: bool = False) -> int:
        """Forget every message (and the journal too, if asked); tells how many messages."""
        if journal and self._journal is not None:
            self._journal.clear()
        return self.read(lambda db: database.clear(db, self._retainer, journal=journal))

    def close(self) -> None:
        """Write what is pending (with a database file; in memory it would go with the
        connection anyway) and close."""
        with self._lock:
            if self._connection is None:
                return
            if self.persistent:
                self.flush()
            self._tell_observers()  # the last log lines and counts
            self._connection.close()
            self._connection = None


def _soon(callback: Callable[[], None]) -> None:
    """Call `callback` `FLUSH_DELAY` from now on the running loop; at once without one."""
    try:
        asyncio.get_running_loop().call_later(FLUSH_DELAY, callback)
    except RuntimeError:
        callback()


def _take_all(queue: deque[T]) -> list[T]:
    """Empty a queue that another thread may be appending to, losing nothing."""
    return [queue.popleft() for _ in range(len(queue))]


def open_store(path: str = ":memory:", retention: Retention | None = None) -> Repository:
    """The store for `--db` `path` (in memory by default): what the layers above use."""
    return Store(path, retention)
