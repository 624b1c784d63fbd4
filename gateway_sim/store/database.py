"""The store's SQLite side: opening its connection (a file's format checked, made or migrated by
schema.py before anything is written; WAL for a file), writing batches and holding the tables to
retention there (retention.py), the callbacks still to deliver, and emptying them. The store
(store.py) decides what is written and when, and calls these under its lock on the event loop's
thread.

A batch is one transaction. If it fails (a row SQLite or a trigger refuses, a value that cannot
be bound), it is rolled back and `write_each` writes its items one by one, each in a transaction
of its own, so that one bad item loses only itself, never the other clients' messages.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from gateway_sim.domain.records import Attempt, Exchange, Message, StatusChange
from gateway_sim.store import schema
from gateway_sim.store.migration import Migrated
from gateway_sim.store.queries import count_messages
from gateway_sim.store.retention import ROW_BYTES, Retainer
from gateway_sim.store.rows import (
    INSERT_ATTEMPT,
    INSERT_JOURNAL,
    INSERT_MESSAGE,
    INSERT_PART,
    INSERT_STATUS,
    attempt_row,
    encode,
    journal_row,
    message_row,
    micros,
    moment,
    part_rows,
    status_rows,
)

Failed = list[tuple[Any, Exception]]
"""Items that could not be written, each with why."""
log = logging.getLogger("gateway_sim")


def connect(path: str, retainer: Retainer) -> tuple[sqlite3.Connection, Migrated | None]:
    """Open `path` (":memory:" or a file) ready for use, its held bytes counted; and what a
    migration of the file kept and dropped, if it needed one. `rows.Unusable` (or
    `sqlite3.Error`) if it cannot be used; the file is then left as it was."""
    # uri: a `file:` name is a URI whatever SQLite's build says (serve's start-up check reads it so)
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, uri=True)
    try:
        found, _ = schema.inspect(connection)
        connection.row_factory = sqlite3.Row
        migrated = schema.prepare(connection, found)
        if path != ":memory:":  # once the file is known to be ours: it stays so
            connection.executescript("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
        retainer.opened(connection)
    except BaseException:
        connection.close()
        raise
    return connection, migrated


def high_water(db: sqlite3.Connection, table: str) -> int:
    """The highest sequence number `table` ever gave (AUTOINCREMENT's, kept across deletes), 0
    if none."""
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
    return int(row[0]) if row else 0


def write_batch(
    db: sqlite3.Connection,
    retainer: Retainer,
    items: tuple[Sequence[tuple[int, Message]], Sequence[Exchange]],
    state: Callable[[], dict[str, str]],
    lost: Callable[[Message], None],
) -> None:
    """Messages (numbered) and journal entries, with the `state` to save, in one transaction
    (`write`). If that fails, each alone (`write_each`): each message that cannot be written is
    logged with its error and handed to `lost` before the state is saved again (so that its
    refund is), each journal entry logged."""
    batch, exchanges = items
    try:
        write(db, retainer, batch, exchanges, state())
        return
    except Exception as failure:
        log.debug("a batch of %d messages failed (%s); writing each alone", len(batch), failure)
    lost_messages, lost_entries = write_each(db, retainer, batch, exchanges)
    for message, error in lost_messages:
        log.error("could not store message %s (its cost is refunded): %s", message.id, _why(error))
        lost(message)
    for exchange, error in lost_entries:
        log.error("could not store %s: %s", _described(exchange), _why(error))
    retain(db, retainer)
    save_state(db, state())


def write(
    db: sqlite3.Connection,
    retainer: Retainer,
    batch: Sequence[tuple[int, Message]],
    exchanges: Sequence[Exchange],
    state: dict[str, str],
) -> None:
    """Messages (numbered), journal entries and saved state in one transaction, held to
    retention; content bytes go in only with a database file (`retainer.persistent`). On any
    error, all of it is rolled back and the error raised."""
    if not (batch or exchanges or state):
        return
    with _transaction(db, retainer, [seq for seq, _ in batch]):
        _insert(db, retainer, batch, exchanges)
        save_state(db, state)
        retainer.retain(db)


def write_each(
    db: sqlite3.Connection,
    retainer: Retainer,
    batch: Sequence[tuple[int, Message]],
    exchanges: Sequence[Exchange],
) -> tuple[Failed, Failed]:
    """After `write` failed: each message (with the journal entries naming it, if they came in
    the same batch: an entry that says `ID:` goes only with its message) in a transaction of
    its own, then each other journal entry; the messages and the journal entries that could
    not be written, each with its error. Retention and the saved state are the caller's to
    write after (`retain`, `save_state`)."""
    by_message: dict[str, list[Exchange]] = {}
    for exchange in exchanges:
        if exchange.message_id is not None:
            by_message.setdefault(exchange.message_id, []).append(exchange)
    lost_messages: Failed = []
    lost_entries: Failed = []
    for seq, message in batch:
        own = by_message.pop(message.id, [])
        try:
            with _transaction(db, retainer, [seq]):
                _insert(db, retainer, [(seq, message)], own)
        except Exception as error:
            lost_messages.append((message, error))
            lost_entries += [(exchange, error) for exchange in own]
    paired = {id(exchange) for exchanges in by_message.values() for exchange in exchanges}
    for exchange in exchanges:  # those of no message, or of one written in an earlier batch
        if exchange.message_id is not None and id(exchange) not in paired:
            continue
        try:
            with _transaction(db, retainer, []):
                _insert(db, retainer, [], [exchange])
        except Exception as error:
            lost_entries.append((exchange, error))
    return lost_messages, lost_entries


def retain(db: sqlite3.Connection, retainer: Retainer) -> None:
    """Hold the tables to retention, in a transaction of its own."""
    with _transaction(db, retainer, []):
        retainer.retain(db)


def save_state(db: sqlite3.Connection, state: dict[str, str]) -> None:
    """Saved state (credit, id counter); inside a transaction, or as one of its own."""
    if not state:
        return
    if db.in_transaction:
        db.executemany("INSERT OR REPLACE INTO state VALUES (?, ?)", state.items())
        return
    db.execute("BEGIN")
    try:
        db.executemany("INSERT OR REPLACE INTO state VALUES (?, ?)", state.items())
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _insert(
    db: sqlite3.Connection,
    retainer: Retainer,
    batch: Sequence[tuple[int, Message]],
    exchanges: Sequence[Exchange],
) -> None:
    db.executemany(INSERT_MESSAGE, [message_row(seq, message) for seq, message in batch])
    for seq, message in batch:
        if message.content:
            db.executemany(INSERT_PART, part_rows(seq, message, with_bytes=retainer.persistent))
        retainer.added(seq, message)
    if exchanges:
        rows = [journal_row(exchange) for exchange in exchanges]
        db.executemany(INSERT_JOURNAL, rows)
        retainer.journaled(rows)


@contextmanager
def _transaction(db: sqlite3.Connection, retainer: Retainer, seqs: Iterable[int]) -> Iterator[None]:
    """A transaction; on an error, rolled back (the retainer's counts with it, the content of
    messages `seqs` forgotten) and the error raised."""
    counts = retainer.counts()
    db.execute("BEGIN")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        retainer.rolled_back(counts, seqs)
        raise


def write_callbacks(
    db: sqlite3.Connection,
    retainer: Retainer,
    changes: Sequence[StatusChange],
    tries: Sequence[Attempt],
) -> None:
    """Status steps and callback attempts in one transaction, held to retention; if that fails,
    each in one of its own, those that cannot be written logged."""
    try:
        with _transaction(db, retainer, []):
            _insert_callbacks(db, changes, tries)
            retainer.retain_callbacks(db)
        return
    except Exception:
        pass  # each alone, below
    items: list[StatusChange | Attempt] = [*changes, *tries]
    for item in items:
        try:
            with _transaction(db, retainer, []):
                if isinstance(item, StatusChange):
                    _insert_callbacks(db, [item], [])
                else:
                    _insert_callbacks(db, [], [item])
        except Exception as error:
            log.error("could not store %s: %s", _described(item), _why(error))


def _insert_callbacks(
    db: sqlite3.Connection, changes: Sequence[StatusChange], tries: Sequence[Attempt]
) -> None:
    db.executemany(INSERT_STATUS, status_rows(changes))
    db.executemany(INSERT_ATTEMPT, [attempt_row(attempt) for attempt in tries])


def keep_pending(
    db: sqlite3.Connection, item_id: int, due: datetime, record: Mapping[str, Any]
) -> None:
    """A callback still to deliver (`record`, plain JSON data), and when it is due."""
    row = (item_id, micros(due), encode(record))
    db.execute("INSERT OR REPLACE INTO pending VALUES (?, ?, ?)", row)


def pending(db: sqlite3.Connection) -> list[tuple[datetime, dict[str, Any]]]:
    """The callbacks still to deliver, as `keep_pending` was given them, with when each is
    due."""
    rows = db.execute("SELECT due_us, record FROM pending ORDER BY id").fetchall()
    return [(moment(due), json.loads(record)) for due, record in rows]


def clear(db: sqlite3.Connection, retainer: Retainer, *, journal: bool) -> int:
    """Delete every message (and the journal and callback attempts too, if `journal`); how
    many messages there were."""
    count = count_messages(db)
    db.executescript(
        "DELETE FROM parts; DELETE FROM messages; DELETE FROM statuses; DELETE FROM pending;"
    )
    if journal:
        db.executescript("DELETE FROM journal; DELETE FROM attempts;")
    retainer.cleared(journal=journal)
    return count


def forget_account(db: sqlite3.Connection, retainer: Retainer, username: str) -> int:
    """Delete, in one transaction, what account `username` (ignoring case, as the columns do)
    left: its messages, sent and received, with their parts and status steps; its journal
    entries; its callback attempts and the callbacks still to deliver to it. How many
    messages."""
    mine = "SELECT seq FROM messages WHERE account = ?"
    with _transaction(db, retainer, []):
        seqs = [int(seq) for (seq,) in db.execute(mine, (username,))]
        (freed,) = db.execute(
            f"SELECT COALESCE(SUM(size), 0) FROM parts WHERE data IS NOT NULL "
            f"AND message_seq IN ({mine})",
            (username,),
        ).fetchone()
        (journal,) = db.execute(
            f"SELECT COALESCE(SUM({ROW_BYTES}), 0) FROM journal WHERE account = ?", (username,)
        ).fetchone()
        db.execute(
            "DELETE FROM statuses WHERE message_id IN (SELECT id FROM messages WHERE account = ?)",
            (username,),
        )
        db.execute(f"DELETE FROM parts WHERE message_seq IN ({mine})", (username,))
        for table in ("messages", "journal", "attempts"):
            db.execute(f"DELETE FROM {table} WHERE account = ?", (username,))
        db.execute(
            "DELETE FROM pending WHERE json_extract(record, '$.account') = ? COLLATE NOCASE",
            (username,),
        )
    retainer.forgot(seqs, int(freed), int(journal))
    return len(seqs)


def _why(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def _described(item: Exchange | StatusChange | Attempt) -> str:
    """A journal entry, status step or callback attempt as an error line names it."""
    if isinstance(item, Exchange):
        named = f" (message {item.message_id})" if item.message_id else ""
        return f"the journal entry of {item.method} {item.path} at {item.at.isoformat()}{named}"
    if isinstance(item, StatusChange):
        return f"status {item.status} of message {item.message_id} to {item.recipient}"
    return f"attempt {item.attempt} of callback {item.callback} ({item.kind})"
