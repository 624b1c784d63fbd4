"""The SQLite store: messages, their content parts, the exchange journal and saved state, with
retention caps so that memory stays flat however long the simulator runs.

One thread owns the connection and every statement runs there, in order. The request path only
appends to an in-memory batch (no I/O on the event loop); a batch is written a few milliseconds
later, and every read first hands over what is pending, so a reader always sees every message that
was answered before it asked.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from gateway_sim.records import ContentPart, Exchange, Message

T = TypeVar("T")
log = logging.getLogger("gateway_sim")

SCHEMA = """
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL COLLATE NOCASE,
    sender TEXT NOT NULL,
    type INTEGER NOT NULL,
    text TEXT,
    created_at TEXT NOT NULL,
    content_count INTEGER NOT NULL,
    record BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS recipients (message_seq INTEGER NOT NULL, number TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS recipients_by_number ON recipients (number, message_seq);
CREATE INDEX IF NOT EXISTS recipients_by_message ON recipients (message_seq);
CREATE TABLE IF NOT EXISTS parts (
    message_seq INTEGER NOT NULL,
    n INTEGER NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    data BLOB,
    PRIMARY KEY (message_seq, n)
);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    path TEXT NOT NULL COLLATE NOCASE,
    account TEXT COLLATE NOCASE,
    recipients TEXT,
    sender TEXT,
    type TEXT,
    text TEXT,
    outcome TEXT NOT NULL,
    record BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

FLUSH_DELAY = 0.02
FLUSH_SIZE = 512


@dataclass(frozen=True, slots=True)
class Retention:
    """How much is kept; the oldest goes first."""

    max_messages: int = 10_000
    max_journal: int = 50_000
    max_content_bytes: int = 128 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class MessageQuery:
    """Filters of `GET /_sim/messages`; newest first, `cursor` continues after a page."""

    to: str | None = None
    sender: str | None = None
    account: str | None = None
    type: int | None = None
    text: str | None = None
    since: str | None = None
    limit: int = 100
    cursor: int | None = None


@dataclass(frozen=True, slots=True)
class ExchangeQuery:
    """Filters of `GET /_sim/requests`; newest first."""

    to: str | None = None
    sender: str | None = None
    account: str | None = None
    type: str | None = None
    text: str | None = None
    since: str | None = None
    outcome: str | None = None
    path: str | None = None
    limit: int = 100
    cursor: int | None = None


class Store:
    """Messages, journal and state in SQLite (`:memory:` unless a file is named)."""

    def __init__(self, path: str = ":memory:", retention: Retention | None = None) -> None:
        self.path = path
        self.retention = retention or Retention()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-sim-db")
        self._lock = threading.Lock()
        self._messages: list[Message] = []
        self._exchanges: list[Exchange] = []
        self._flush_scheduled = False
        self._state_changed = False
        self.snapshot: Callable[[], dict[str, str]] | None = None
        """Called at each write of a persistent store: state to save (credit, id counter)."""
        self._connection: sqlite3.Connection | None = None
        self._content_bytes = 0
        self._run(self._open).result()

    @property
    def persistent(self) -> bool:
        return self.path != ":memory:"

    # -- the request path: queue only ---------------------------------------------------------

    def add(self, message: Message) -> None:
        with self._lock:
            self._messages.append(message)
        self._schedule()

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self._exchanges.append(exchange)
        self._schedule()

    def state_changed(self) -> None:
        """Accounts or the id counter changed outside a send: save them at the next write."""
        self._state_changed = True
        self._schedule()

    def flush(self) -> Future[None]:
        """Hand everything pending to the database thread; the future resolves once written."""
        with self._lock:
            messages, self._messages = self._messages, []
            exchanges, self._exchanges = self._exchanges, []
            self._flush_scheduled = False
            changed, self._state_changed = self._state_changed or bool(messages), False
        state = self.snapshot() if self.snapshot is not None and changed else {}
        written = self._run(lambda: self._write(messages, exchanges, state))
        written.add_done_callback(_log_failure)
        return written

    def _schedule(self) -> None:
        if self._flush_scheduled:
            return
        self._flush_scheduled = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        loop.call_later(FLUSH_DELAY, self.flush)

    # -- reads: each first hands over what is pending -----------------------------------------

    def read(self, query: Callable[[sqlite3.Connection], T]) -> Future[T]:
        self.flush()
        return self._run(lambda: query(self._db))

    async def read_async(self, query: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.wrap_future(self.read(query))

    def get(self, message_id: str) -> Message | None:
        return self.read(lambda db: message_by_id(db, message_id)).result()

    def state(self) -> dict[str, str]:
        rows = self.read(lambda db: db.execute("SELECT key, value FROM state").fetchall()).result()
        return {str(key): str(value) for key, value in rows}

    def __iter__(self) -> Iterator[Message]:
        oldest_first = MessageQuery(limit=self.retention.max_messages)
        found = self.read(lambda db: messages(db, oldest_first)).result()
        return iter([message for _, message in reversed(found)])

    def __len__(self) -> int:
        return self.read(count_messages).result()

    def clear(self, *, journal: bool = False) -> Future[int]:
        """Forget every message (and the journal too, if asked); tells how many messages."""
        return self.read(lambda db: self._clear(db, journal))

    def close(self) -> None:
        if self._connection is None:
            return
        self.flush().result()
        self._run(self._close).result()
        self._executor.shutdown(wait=True)

    # -- the database thread ------------------------------------------------------------------

    def _run(self, job: Callable[[], T]) -> Future[T]:
        return self._executor.submit(job)

    @property
    def _db(self) -> sqlite3.Connection:
        assert self._connection is not None
        return self._connection

    def _open(self) -> None:
        self._connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._connection.executescript(SCHEMA)
        (total,) = self._connection.execute("SELECT COALESCE(SUM(size), 0) FROM parts").fetchone()
        self._content_bytes = int(total)

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _clear(self, db: sqlite3.Connection, journal: bool) -> int:
        count = count_messages(db)
        db.executescript("DELETE FROM recipients; DELETE FROM parts; DELETE FROM messages;")
        if journal:
            db.execute("DELETE FROM journal")
        self._content_bytes = 0
        return count

    def _write(
        self, messages: list[Message], exchanges: list[Exchange], state: dict[str, str]
    ) -> None:
        if not (messages or exchanges or state):
            return
        db = self._db
        db.execute("BEGIN")
        try:
            for message in messages:
                self._content_bytes += _insert_message(db, message)
            if exchanges:
                db.executemany(
                    "INSERT INTO journal (at, path, account, recipients, sender, type, text, "
                    "outcome, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [_journal_row(exchange) for exchange in exchanges],
                )
            if state:
                db.executemany("INSERT OR REPLACE INTO state VALUES (?, ?)", state.items())
            self._retain(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _retain(self, db: sqlite3.Connection) -> None:
        limits = self.retention
        (newest,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM messages").fetchone()
        cut = newest - limits.max_messages
        if (
            cut > 0
            and db.execute("SELECT 1 FROM messages WHERE seq <= ? LIMIT 1", (cut,)).fetchone()
        ):
            (freed,) = db.execute(
                "SELECT COALESCE(SUM(size), 0) FROM parts "
                "WHERE message_seq <= ? AND data IS NOT NULL",
                (cut,),
            ).fetchone()
            self._content_bytes -= freed
            db.execute("DELETE FROM recipients WHERE message_seq <= ?", (cut,))
            db.execute("DELETE FROM parts WHERE message_seq <= ?", (cut,))
            db.execute("DELETE FROM messages WHERE seq <= ?", (cut,))
        if self._content_bytes > limits.max_content_bytes:
            self._drop_oldest_content(db, self._content_bytes - limits.max_content_bytes)
        (newest,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()
        cut = newest - limits.max_journal
        if cut > 0:
            db.execute("DELETE FROM journal WHERE seq <= ?", (cut,))

    def _drop_oldest_content(self, db: sqlite3.Connection, excess: int) -> None:
        """Drop the bytes (not the description) of the oldest MMS parts until under the cap."""
        rows = db.execute(
            "SELECT message_seq, SUM(size) FROM parts WHERE data IS NOT NULL "
            "GROUP BY message_seq ORDER BY message_seq"
        ).fetchall()
        freed, last = 0, None
        for seq, size in rows:
            if freed >= excess:
                break
            freed, last = freed + size, seq
        if last is not None:
            db.execute(
                "UPDATE parts SET data = NULL WHERE message_seq <= ? AND data IS NOT NULL", (last,)
            )
            self._content_bytes -= freed


def _log_failure(written: Future[None]) -> None:
    error = written.exception()
    if error is not None:
        log.error("could not write to the store", exc_info=error)


def _insert_message(db: sqlite3.Connection, message: Message) -> int:
    """Insert one message; tell how many content bytes it added."""
    cursor = db.execute(
        "INSERT INTO messages (id, account, sender, type, text, created_at, content_count, record) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            message.id,
            message.account,
            message.sender,
            message.type,
            message.text,
            message.created_at.isoformat(),
            len(message.content),
            pickle.dumps(replace(message, content=()), pickle.HIGHEST_PROTOCOL),
        ),
    )
    seq = cursor.lastrowid
    db.executemany(
        "INSERT INTO recipients (message_seq, number) VALUES (?, ?)",
        [(seq, number) for number in message.recipients],
    )
    if not message.content:
        return 0
    db.executemany(
        "INSERT INTO parts VALUES (?, ?, ?, ?, ?, ?)",
        [
            (seq, n, part.filename, part.content_type, len(part.data), part.data)
            for n, part in enumerate(message.content)
        ],
    )
    return sum(len(part.data) for part in message.content)


def _journal_row(exchange: Exchange) -> tuple[Any, ...]:
    exchange = exchange.masked()
    fields = exchange.fields
    return (
        exchange.at.isoformat(),
        exchange.path,
        exchange.account,
        fields.get("to"),
        fields.get("from"),
        fields.get("type"),
        fields.get("text"),
        exchange.outcome,
        pickle.dumps(exchange, pickle.HIGHEST_PROTOCOL),
    )


def count_messages(db: sqlite3.Connection) -> int:
    (count,) = db.execute("SELECT COUNT(*) FROM messages").fetchone()
    return int(count)


def _load(db: sqlite3.Connection, seq: int, content_count: int, record: bytes) -> Message:
    message: Message = pickle.loads(record)
    if content_count == 0:
        return message
    rows = db.execute(
        "SELECT filename, content_type, data FROM parts WHERE message_seq = ? ORDER BY n", (seq,)
    ).fetchall()
    content = tuple(
        ContentPart(name, kind, bytes(data or b""), dropped=data is None)
        for name, kind, data in rows
    )
    return replace(message, content=content)


def message_by_id(db: sqlite3.Connection, message_id: str) -> Message | None:
    row = db.execute(
        "SELECT seq, content_count, record FROM messages WHERE id = ?", (message_id,)
    ).fetchone()
    return None if row is None else _load(db, *row)


def messages(db: sqlite3.Connection, query: MessageQuery) -> list[tuple[int, Message]]:
    """Messages matching `query`, newest first, with their sequence numbers (for cursors)."""
    where: list[str] = []
    args: list[Any] = []
    if query.to is not None:
        where.append("seq IN (SELECT message_seq FROM recipients WHERE number = ?)")
        args.append(query.to)
    _equal(where, args, sender=query.sender, account=query.account, type=query.type)
    _contains(where, args, text=query.text)
    _since_and_cursor(where, args, "created_at", query.since, query.cursor)
    rows = db.execute(
        f"SELECT seq, content_count, record FROM messages {_where(where)} "
        "ORDER BY seq DESC LIMIT ?",
        [*args, query.limit],
    ).fetchall()
    return [(row[0], _load(db, *row)) for row in rows]


def exchanges(db: sqlite3.Connection, query: ExchangeQuery) -> list[tuple[int, Exchange]]:
    """Journal entries matching `query`, newest first, with their sequence numbers."""
    where: list[str] = []
    args: list[Any] = []
    _equal(
        where,
        args,
        account=query.account,
        sender=query.sender,
        type=query.type,
        outcome=query.outcome,
        path=query.path,
    )
    _contains(where, args, recipients=query.to, text=query.text)
    _since_and_cursor(where, args, "at", query.since, query.cursor)
    rows = db.execute(
        f"SELECT seq, record FROM journal {_where(where)} ORDER BY seq DESC LIMIT ?",
        [*args, query.limit],
    ).fetchall()
    return [(seq, pickle.loads(record)) for seq, record in rows]


def content_part(db: sqlite3.Connection, message_id: str, n: int) -> ContentPart | None:
    row = db.execute(
        "SELECT filename, content_type, data FROM parts JOIN messages ON seq = message_seq "
        "WHERE id = ? AND n = ?",
        (message_id, n),
    ).fetchone()
    if row is None:
        return None
    return ContentPart(row[0], row[1], bytes(row[2] or b""), dropped=row[2] is None)


def _equal(where: list[str], args: list[Any], **columns: Any) -> None:
    for column, value in columns.items():
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)


def _contains(where: list[str], args: list[Any], **columns: str | None) -> None:
    for column, value in columns.items():
        if value is not None:
            where.append(f"instr({column}, ?) > 0")
            args.append(value)


def _since_and_cursor(
    where: list[str], args: list[Any], time_column: str, since: str | None, cursor: int | None
) -> None:
    if since is not None:
        where.append(f"{time_column} >= ?")
        args.append(since)
    if cursor is not None:
        where.append("seq < ?")
        args.append(cursor)


def _where(conditions: list[str]) -> str:
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""
