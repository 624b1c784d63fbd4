"""What the store keeps and for how long: the caps (`Retention`), and `Retainer`, which holds the
store's tables to them after each write, oldest first, and keeps MMS content bytes within
`max_content_bytes` and a database file's journal within `max_journal_bytes`.

In memory the content bytes stay out of SQLite, in `Retainer.blobs` (a 300 KB MMS written as
blobs cost more than the whole rest of its request); with a database file they are in the
`parts` table, and past the cap the oldest lose their bytes (not their description). The
in-memory journal holds itself to its caps (journal.py).
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway_sim.domain.limits import DEFAULT_LIMITS
from gateway_sim.domain.records import Message


@dataclass(frozen=True, slots=True)
class Retention:
    """How much is kept; the oldest goes first."""

    max_messages: int = 10_000
    max_journal: int = 50_000
    max_content_bytes: int = 128 * 1024 * 1024
    max_journal_bytes: int = DEFAULT_LIMITS.max_journal_bytes
    max_journal_body_bytes: int = DEFAULT_LIMITS.max_journal_body_bytes


ROW_BYTES = (
    "length(record) + length(query) + length(body) + COALESCE(length(text), 0) "
    "+ COALESCE(length(recipients), 0) + 64"
)
"""What a journal row of a database file holds, as SQL: its JSON rest (fields, answer), its raw
query and body, and the long columns the filters read, plus the short ones and the row's own
keeping; `row_bytes` counts the same for a row about to be inserted."""


def row_bytes(row: Sequence[Any]) -> int:
    """`ROW_BYTES` of a row of `rows.journal_row` (its columns as `rows.INSERT_JOURNAL` names
    them: at_us, path, account, recipients, sender, type, text, outcome, record, query, body)."""
    return len(row[8]) + len(row[9]) + len(row[10]) + len(row[6] or "") + len(row[3] or "") + 64


class Retainer:
    """Holds a store's SQLite tables and its content bytes to `retention`."""

    def __init__(self, retention: Retention, *, persistent: bool) -> None:
        self.retention = retention
        self.persistent = persistent
        self.content_bytes = 0
        self.journal_bytes = 0
        """With a database file: the `ROW_BYTES` of the journal table."""
        self.blobs: OrderedDict[int, tuple[bytes, ...]] = OrderedDict()
        """In memory: each message's content bytes by its seq, oldest first."""

    def opened(self, db: sqlite3.Connection) -> None:
        """Count the content and journal bytes a database file already holds."""
        (total,) = db.execute(
            "SELECT COALESCE(SUM(size), 0) FROM parts WHERE data IS NOT NULL"
        ).fetchone()
        self.content_bytes = int(total)
        (total,) = db.execute(f"SELECT COALESCE(SUM({ROW_BYTES}), 0) FROM journal").fetchone()
        self.journal_bytes = int(total)

    def journaled(self, rows: Sequence[Sequence[Any]]) -> None:
        """Journal rows were inserted: count their bytes."""
        self.journal_bytes += sum(map(row_bytes, rows))

    def added(self, seq: int, message: Message) -> None:
        """A message was inserted: count its content (and keep its bytes, in memory)."""
        self.content_bytes += sum(len(part.data) for part in message.content)
        if not self.persistent:
            self.blobs[seq] = tuple(part.data for part in message.content)

    def counts(self) -> tuple[int, int]:
        """The content and journal bytes held now (for `rolled_back`)."""
        return self.content_bytes, self.journal_bytes

    def rolled_back(self, counts: tuple[int, int], seqs: Iterable[int]) -> None:
        """A write begun at `counts` was rolled back: the tables hold what they held then, and
        the content of its messages (`seqs`) is forgotten. In memory, content bytes the write
        dropped from older messages stay dropped (the bytes are not in SQLite): they are
        counted again from what is left."""
        for seq in seqs:
            self.blobs.pop(seq, None)
        if self.persistent:
            self.content_bytes, self.journal_bytes = counts
        else:
            held = self.blobs.values()
            self.content_bytes = sum(len(data) for parts in held for data in parts)

    def cleared(self, *, journal: bool = False) -> None:
        """Every message was deleted (and every journal row, if `journal`)."""
        self.content_bytes = 0
        self.blobs.clear()
        if journal:
            self.journal_bytes = 0

    def forgot(self, seqs: Iterable[int], freed: int, journal_bytes: int) -> None:
        """An account's messages (`seqs`, holding `freed` content bytes with a file) and
        journal rows (of `journal_bytes`) were deleted."""
        if self.persistent:
            self.content_bytes -= freed
        for seq in seqs:
            parts = self.blobs.pop(seq, ())
            if not self.persistent:
                self.content_bytes -= sum(map(len, parts))
        self.journal_bytes -= journal_bytes

    def blob(self, seq: int, n: int) -> bytes | None:
        """Content part `n` of message `seq`, in memory (None if dropped or never kept)."""
        parts = self.blobs.get(seq)
        return parts[n] if parts is not None and n < len(parts) else None

    def retain(self, db: sqlite3.Connection) -> None:
        """Inside the write's transaction: drop the oldest messages, content and journal entries
        past their caps."""
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
            self.content_bytes -= freed
            self._drop_blobs(lambda seq: seq <= cut)
            db.execute("DELETE FROM parts WHERE message_seq <= ?", (cut,))
            db.execute("DELETE FROM messages WHERE seq <= ?", (cut,))
        if self.content_bytes > limits.max_content_bytes:
            if self.persistent:
                self._drop_oldest_content(db, self.content_bytes - limits.max_content_bytes)
            else:
                self._drop_blobs(lambda _: self.content_bytes > limits.max_content_bytes)
        self._retain_journal(db)

    def retain_callbacks(self, db: sqlite3.Connection) -> None:
        """Inside the write's transaction: status steps and callback attempts past the
        journal's cap go, oldest first."""
        for table in ("statuses", "attempts"):
            (newest,) = db.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {table}").fetchone()
            if newest > self.retention.max_journal:
                db.execute(
                    f"DELETE FROM {table} WHERE seq <= ?", (newest - self.retention.max_journal,)
                )

    def _retain_journal(self, db: sqlite3.Connection) -> None:
        """Drop the oldest journal rows past `max_journal` of them, then past
        `max_journal_bytes` (the newest row always stays)."""
        (newest,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()
        cut = newest - self.retention.max_journal
        if cut > 0:
            self._drop_journal(db, cut)
        excess = self.journal_bytes - self.retention.max_journal_bytes
        if excess <= 0:
            return
        freed, last = 0, 0
        oldest = db.execute(
            f"SELECT seq, {ROW_BYTES} FROM journal WHERE seq < ? ORDER BY seq", (newest,)
        )
        for seq, size in oldest:  # read only as far as needed
            freed, last = freed + size, seq
            if freed >= excess:
                break
        oldest.close()
        if last:
            self._drop_journal(db, last, freed)

    def _drop_journal(self, db: sqlite3.Connection, last: int, freed: int | None = None) -> None:
        """Delete the journal rows up to `last`, counting the bytes they held (`freed`, if
        known)."""
        if freed is None:
            (freed,) = db.execute(
                f"SELECT COALESCE(SUM({ROW_BYTES}), 0) FROM journal WHERE seq <= ?", (last,)
            ).fetchone()
        self.journal_bytes -= freed
        db.execute("DELETE FROM journal WHERE seq <= ?", (last,))

    def _drop_blobs(self, while_: Callable[[int], bool]) -> None:
        """Forget the oldest in-memory content while `while_(seq)` holds (and any is left)."""
        while self.blobs:
            seq = next(iter(self.blobs))
            if not while_(seq):
                return
            self.content_bytes -= sum(map(len, self.blobs.pop(seq)))

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
            self.content_bytes -= freed
