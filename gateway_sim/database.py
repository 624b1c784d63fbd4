"""The store's SQLite side: opening its connection (the schema; WAL for a file), writing one
batch in one transaction and holding the tables to retention there (retention.py), and
emptying them. The store (store.py) decides what is written and when, and calls these under its
lock on the event loop's thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from gateway_sim.queries import (
    INSERT_JOURNAL,
    SCHEMA,
    count_messages,
    insert_attempts,
    insert_messages,
    insert_statuses,
    journal_rows,
)
from gateway_sim.records import Attempt, Exchange, Message, StatusChange
from gateway_sim.retention import Retainer


def connect(path: str, retainer: Retainer) -> sqlite3.Connection:
    """Open `path` (":memory:" or a file), with the schema, its held bytes counted."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    if path != ":memory:":
        connection.executescript("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
    connection.executescript(SCHEMA)
    retainer.opened(connection)
    return connection


def high_water(db: sqlite3.Connection, table: str) -> int:
    """The highest sequence number `table` ever gave (AUTOINCREMENT's, kept across deletes), 0
    if none."""
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
    return int(row[0]) if row else 0


def write(
    db: sqlite3.Connection,
    retainer: Retainer,
    batch: Sequence[tuple[int, Message]],
    exchanges: Sequence[Exchange],
    state: dict[str, str],
) -> None:
    """Messages (numbered), journal entries and saved state in one transaction, held to
    retention; content bytes go in only with a database file (`retainer.persistent`)."""
    if not (batch or exchanges or state):
        return
    db.execute("BEGIN")
    try:
        for seq, message in insert_messages(db, batch, with_bytes=retainer.persistent):
            retainer.added(seq, message)
        if exchanges:
            rows = journal_rows(exchanges)
            db.executemany(INSERT_JOURNAL, rows)
            retainer.journaled(rows)
        if state:
            db.executemany("INSERT OR REPLACE INTO state VALUES (?, ?)", state.items())
        retainer.retain(db)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def write_callbacks(
    db: sqlite3.Connection,
    retainer: Retainer,
    changes: Sequence[StatusChange],
    tries: Sequence[Attempt],
) -> None:
    """Status steps and callback attempts in one transaction, held to retention."""
    db.execute("BEGIN")
    insert_statuses(db, changes)
    insert_attempts(db, tries)
    retainer.retain_callbacks(db)
    db.execute("COMMIT")


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
