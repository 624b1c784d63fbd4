"""The SQLite store: messages, their content parts, the exchange journal and saved state, held to
retention caps (retention.py) so that memory stays flat however long the simulator runs.

What the request path hands it is queued and written in batches (batching.py: the queues, when
each mode writes, and the observers); a batch is one transaction, a few multi-row statements. A
batch that fails is written again item by item (database.py): a message that cannot be written
is lost alone, its cost refunded, and with a file its send learns it and is answered
`ERR:INTERNAL_ERROR`. Each journal entry is first cut to what one may hold (entries.py). In
memory, the journal is not in SQLite at all (journal.py). The SQL of opening, writing and
clearing is database.py's; a file's format (records as JSON, never code) is rows.py's, and
schema.py checks or migrates a file as it opens.

Writes run on the event loop's own thread: a second thread would have to win back the GIL after
every SQLite step, and under load that convoy made it fall seconds behind. Every read first
writes what is pending, so a reader always sees every message that was answered before it asked.
A lock keeps other threads (a test's, reading synchronously) from using the connection at the
same time.
"""

from __future__ import annotations

import importlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from gateway_sim.domain.errors import GatewayError
from gateway_sim.domain.records import Attempt, ContentPart, Exchange, Message, StatusChange
from gateway_sim.store import database
from gateway_sim.store.batching import FLUSH_DELAY, Batch, Queued, WriteBehind
from gateway_sim.store.entries import fit
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
from gateway_sim.store.repository import Repository, Unusable, is_url
from gateway_sim.store.retention import Retainer, Retention

__all__ = ["FLUSH_DELAY", "Retention", "Store"]

T = TypeVar("T")
log = logging.getLogger("gateway_sim")


class Store(Queued):
    """Messages, journal and state in SQLite (`:memory:` unless a file is named), written
    behind the request path (batching.WriteBehind)."""

    def __init__(self, path: str = ":memory:", retention: Retention | None = None) -> None:
        self.path = path
        self.retention = retention or Retention()
        self._lock = threading.RLock()
        self.snapshot: Callable[[], dict[str, str]] | None = None
        """Called at each write of a persistent store: state to save (credit, id counter)."""
        self._retainer = Retainer(self.retention, persistent=self.persistent)
        self._connection: sqlite3.Connection | None
        self.migrated: Migrated | None
        """What the migration of an older database file kept and dropped, if it had one."""
        self._connection, self.migrated = database.connect(path, self._retainer)
        self.batches = WriteBehind(
            self.retention,
            durable=self.persistent,
            write=self._write,
            lock=self._lock,
            first_seq=database.high_water(self._connection, "messages") + 1,
        )
        self.observers = self.batches.observers
        limits = self.retention
        self._journal = (
            None if self.persistent else Journal(limits.max_journal, limits.max_journal_bytes)
        )
        self._raw_cap = limits.max_journal_body_bytes

    @property
    def persistent(self) -> bool:
        return self.path != ":memory:"

    @property
    def keeps_journal_in_memory(self) -> bool:
        """True without a database file: the journal is `journal.Journal`, not a table."""
        return self._journal is not None

    # -- writes: queued (batching.py), then written here --------------------------------------

    def record(self, exchange: Exchange) -> None:
        exchange, size = fit(exchange, self.retention.max_journal_body_bytes, self._raw_cap)
        if self._journal is None:
            self.batches.record(exchange, size)
        else:
            self._journal.record(exchange, size)
            self.batches.observe(exchange)

    def credit_changed(
        self, username: str, *, add: Decimal | None = None, to: Decimal | None = None
    ) -> Decimal | None:
        """The account's own credit is the ledger here: saved with the state."""
        self.state_changed()
        return None

    def started_over(self, scenario: str) -> None:
        self.state_changed()

    def problem(self) -> str | None:
        """None: a SQLite store is in this process, and a file that fails fails a write."""
        return None

    def refusal(self, message_id: str) -> GatewayError | None:
        """Never: the gateway's accounts are this store's ledger, checked before the write."""
        return None

    def _write(self, batch: Batch, lost: Callable[[Message], None]) -> None:
        if self._connection is None:
            return
        snapshot = self.snapshot
        if snapshot is None or not (batch.state_changed or batch.messages):
            snapshot = dict
        try:
            items = (batch.messages, batch.exchanges)
            database.write_batch(self._connection, self._retainer, items, snapshot, lost)
            if batch.statuses or batch.attempts:
                database.write_callbacks(
                    self._connection, self._retainer, batch.statuses, batch.attempts
                )
        except Exception:  # not any one item's: the file itself (full disk, I/O error)
            log.exception("could not write to the store")

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

    def forget_account(self, username: str) -> int:
        """Forget what account `username` left (database.forget_account; the in-memory
        journal's entries too), after writing what is pending, so that nothing of it is
        written after; how many messages."""
        with self._lock:
            forgotten = self.read(lambda db: database.forget_account(db, self._retainer, username))
            if self._journal is not None:
                self._journal.forget_account(username)
            return forgotten

    def close(self) -> None:
        """Write what is pending (with a database file; in memory it would go with the
        connection anyway) and close."""
        with self._lock:
            if self._connection is None:
                return
            if self.persistent:
                self.flush()
            self.batches.tell_observers()  # the last log lines and counts
            self._connection.close()
            self._connection = None


def open_store(path: str = ":memory:", retention: Retention | None = None) -> Repository:
    """The store for `--db` `path` (in memory by default; a `postgresql://` URL is a database
    that replicas share): what the layers above use."""
    if is_url(path):
        # psycopg is the optional `postgres` extra: imported only by those who ask for it
        try:
            postgres = importlib.import_module("gateway_sim.store.postgres")
        except ImportError as missing:
            raise Unusable(
                f"it needs psycopg ({missing.name} is not installed): "
                "pip install 'gateway-sim[postgres]'"
            ) from None
        store: Repository = postgres.PgStore(path, retention)
        return store
    return Store(path, retention)
