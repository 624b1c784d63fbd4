"""Migrating a database file of schema version 0 (records pickled, times as float seconds) to
version 1 (rows.py), in the one transaction schema.py opens, without unpickling anything.

Version 0's message and journal records are tuples of plain values: `pickled.loads` reads them
without running code, and each is checked against the shape version 0 wrote before it is kept.
A record that is not plain data, or not of that shape, stops the migration (`Unusable`) and the
file is left as it was: it was not written by gateway-sim, and nothing of it was run. Callback
attempts and pending callbacks were pickled as classes (as was a journal entry cut to the body
cap, whose fields carried their notes as a class), which no reader can take without running
code: those are dropped, and `Migrated` says how many. Delivery statuses, content parts and the
saved state (accounts, credit, id counter) were plain columns and are kept as they are.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from gateway_sim.store import pickled, rows
from gateway_sim.store.rows import Unusable

OLD_TABLES: dict[str, tuple[str, ...]] = {
    "messages": (
        "seq", "id", "account", "sender", "type", "text", "created_at", "recipients",
        "content_count", "record",
    ),
    "parts": ("message_seq", "n", "filename", "content_type", "size", "data"),
    "journal": (
        "seq", "at", "path", "account", "recipients", "sender", "type", "text", "outcome", "record",
    ),
    "statuses": ("seq", "message_id", "recipient", "status", "at"),
    "attempts": ("seq", "at", "account", "message_id", "outcome", "record"),
    "pending": ("id", "due", "record"),
    "state": ("key", "value"),
}  # fmt: skip
"""Version 0's tables and their columns."""
OLD_REQUIRED = frozenset({"messages", "parts", "journal", "statuses", "state"})
"""The tables every version 0 file has (callbacks came later)."""
REBUILT = ("messages", "journal", "statuses", "attempts", "pending")
"""The tables whose columns changed (parts and state stay as they are)."""
CUT_FIELDS = ("gateway_sim.records", "KeptFields")  # version 0 module path, as pickled
"""The class version 0 pickled a cut journal entry's fields as."""

_TEXT: tuple[type, ...] = (str,)
_MAYBE_TEXT: tuple[type, ...] = (str, type(None))
_MAYBE_DICT: tuple[type, ...] = (dict, type(None))
_SEQUENCE: tuple[type, ...] = (tuple, list)
_MISSING = object()
MESSAGE_REST: tuple[tuple[str, tuple[type, ...], Any], ...] = (
    ("endpoint", _TEXT, _MISSING),
    ("kind", _TEXT, _MISSING),
    ("rejected", _SEQUENCE, _MISSING),
    ("encoding", _MAYBE_TEXT, _MISSING),
    ("parts", (int,), _MISSING),
    ("cost", _TEXT, _MISSING),
    ("truncated", (bool,), _MISSING),
    ("udh", _MAYBE_TEXT, _MISSING),
    ("ud", _MAYBE_TEXT, _MISSING),
    ("href", _MAYBE_TEXT, _MISSING),
    ("delivery_report", (bool,), _MISSING),
    ("user_context", _MAYBE_TEXT, _MISSING),
    ("rule", _MAYBE_TEXT, _MISSING),
    ("delivery", _MAYBE_DICT, _MISSING),
    # added in later releases of version 0; earlier records end before them
    ("direction", _TEXT, "outbound"),
    ("reply_to", _MAYBE_TEXT, None),
    ("network_code", _MAYBE_TEXT, None),
    ("auto_reply", _MAYBE_DICT, None),
)
"""A version 0 message record: each value's name, types, and its default if it may be absent."""
JOURNAL_REST: tuple[tuple[str, tuple[type, ...], Any], ...] = (
    ("method", _TEXT, _MISSING),
    ("client", _TEXT, _MISSING),
    ("fields", (dict,), _MISSING),
    ("body_size", (int,), _MISSING),
    ("status", (int,), _MISSING),
    ("answer", _TEXT, _MISSING),
    ("reason", _TEXT, _MISSING),
    ("message_id", _MAYBE_TEXT, _MISSING),
    ("rule", _MAYBE_TEXT, _MISSING),
    ("files", _SEQUENCE, _MISSING),
    ("query", (bytes,), _MISSING),
    ("body", (bytes,), _MISSING),
)


@dataclass
class Migrated:
    """What a migration kept and dropped."""

    messages: int = 0
    journal: int = 0
    statuses: int = 0
    cut_journal: int = 0
    attempts: int = 0
    pending: int = 0

    def __str__(self) -> str:
        kept = (
            f"kept {_count(self.messages, 'message', 'messages')}, "
            f"{_count(self.journal, 'journal entry', 'journal entries')}, "
            f"{_count(self.statuses, 'delivery status', 'delivery statuses')}, the content "
            "parts, accounts, credit and id counter"
        )
        dropped = [
            _count(count, *names)
            for count, names in (
                (self.cut_journal, ("journal entry", "journal entries")),
                (self.attempts, ("callback attempt", "callback attempts")),
                (self.pending, ("pending callback", "pending callbacks")),
            )
            if count
        ]
        if self.cut_journal:
            dropped[0] += " cut to the body cap"
        if not dropped:
            return kept
        return (
            f"{kept}; dropped {', '.join(dropped)} (version 0 kept them as pickled classes, "
            "which cannot be read without running code)"
        )


def _count(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def migrate(db: sqlite3.Connection, tables: Sequence[str]) -> Migrated:
    """Migrate a version 0 file holding `tables` to version 1's tables, inside the caller's
    transaction (which sets the version): on `Unusable` or any error, its rollback leaves the
    file as it was."""
    sequences = {str(name): int(seq) for name, seq in db.execute(_SEQUENCES).fetchall()}
    db.execute("DROP INDEX IF EXISTS statuses_by_message")
    present = set(tables)
    for table in REBUILT:
        if table in present:
            db.execute(f"ALTER TABLE {table} RENAME TO v0_{table}")
        db.execute(f"CREATE TABLE {table} ({rows.TABLES[table]}\n)")
    migrated = _copy(db, present)
    for table in REBUILT:
        if table in present:
            db.execute(f"DROP TABLE v0_{table}")
    for statement in rows.INDEXES:
        db.execute(statement)
    # numbering goes on where it stopped (AUTOINCREMENT's high water, kept across deletes)
    db.execute("DELETE FROM sqlite_sequence")
    db.executemany(
        "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)",
        [(name, seq) for name, seq in sequences.items() if name in rows.TABLES],
    )
    return migrated


def _copy(db: sqlite3.Connection, tables: set[str]) -> Migrated:
    """Version 0's rows into version 1's tables; what was kept and dropped."""
    migrated = Migrated()
    for rows_of in _chunks(db, "SELECT * FROM v0_messages ORDER BY seq"):
        db.executemany(rows.INSERT_MESSAGE, [_message(row) for row in rows_of])
        migrated.messages += len(rows_of)
    for rows_of in _chunks(db, "SELECT * FROM v0_journal ORDER BY seq"):
        entries = [_journal(row) for row in rows_of]
        kept = [entry for entry in entries if entry is not None]
        db.executemany(_INSERT_JOURNAL, kept)
        migrated.journal += len(kept)
        migrated.cut_journal += len(entries) - len(kept)
    for rows_of in _chunks(db, "SELECT * FROM v0_statuses ORDER BY seq"):
        db.executemany(_INSERT_STATUS, [_status(row) for row in rows_of])
        migrated.statuses += len(rows_of)
    for table in ("attempts", "pending"):
        if table in tables:
            (count,) = db.execute(f"SELECT COUNT(*) FROM v0_{table}").fetchone()
            setattr(migrated, table, int(count))
    return migrated


_SEQUENCES = "SELECT name, seq FROM sqlite_sequence"
_INSERT_JOURNAL = (
    "INSERT INTO journal (seq, at_us, path, account, recipients, sender, type, text, outcome, "
    "record, query, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_STATUS = (
    "INSERT INTO statuses (seq, message_id, recipient, status, at_us) VALUES (?, ?, ?, ?, ?)"
)


def _chunks(db: sqlite3.Connection, query: str) -> Iterator[list[sqlite3.Row]]:
    """The rows of `query`, a thousand at a time (the journal may hold 64 MB)."""
    cursor = db.execute(query)
    while batch := cursor.fetchmany(1000):
        yield batch


def _message(row: sqlite3.Row) -> tuple[Any, ...]:
    seq = row["seq"]
    where = f"messages record {seq!r}"
    _columns(row, where, id=_TEXT, account=_TEXT, sender=_TEXT, type=(int,), text=_MAYBE_TEXT)
    _columns(row, where, recipients=_TEXT, content_count=(int,), seq=(int,))
    values = _shaped(_plain(row["record"], where), MESSAGE_REST, where)
    if not all(isinstance(entry, str) for entry in values[2]):
        raise Unusable(f"{where} has a rejected entry that is not text")
    try:
        Decimal(values[5])
    except InvalidOperation:
        raise Unusable(f"{where} has a cost that is not a number") from None
    return (
        seq,
        row["id"],
        row["account"],
        row["sender"],
        row["type"],
        row["text"],
        _micros(row["created_at"], where),
        row["recipients"],
        row["content_count"],
        _json(values, where),
    )


def _journal(row: sqlite3.Row) -> tuple[Any, ...] | None:
    """The version 1 row of a journal entry; None for a cut one (its fields were a class)."""
    where = f"journal record {row['seq']!r}"
    _columns(row, where, seq=(int,), path=_TEXT, account=_MAYBE_TEXT, outcome=_TEXT)
    _columns(row, where, recipients=_MAYBE_TEXT, sender=_MAYBE_TEXT, type=_MAYBE_TEXT)
    _columns(row, where, text=_MAYBE_TEXT)
    try:
        record = pickled.loads(_bytes(row["record"], where))
    except pickled.NotPlainData as refused:
        if refused.names == CUT_FIELDS:
            return None
        raise Unusable(f"{where} is not plain data: {refused}; nothing of it was run") from None
    (method, client, fields, body_size, status, answer, reason, message_id, rule, files, query,
     body) = _shaped(record, JOURNAL_REST, where)  # fmt: skip
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items()):
        raise Unusable(f"{where} has fields that are not text")
    if not all(isinstance(described, dict) for described in files):
        raise Unusable(f"{where} has a file description that is not a dict")
    rest = [
        *(method, client, fields, None, body_size, status, answer, reason, message_id, rule),
        files,
    ]
    return (
        row["seq"],
        _micros(row["at"], where),
        row["path"],
        row["account"],
        row["recipients"],
        row["sender"],
        row["type"],
        row["text"],
        row["outcome"],
        _json(rest, where),
        query,
        body,
    )


def _status(row: sqlite3.Row) -> tuple[Any, ...]:
    where = f"statuses row {row['seq']!r}"
    _columns(row, where, seq=(int,), message_id=_TEXT, recipient=_TEXT, status=(int,))
    at = _micros(row["at"], where)
    return (row["seq"], row["message_id"], row["recipient"], row["status"], at)


def _plain(record: object, where: str) -> Any:
    try:
        return pickled.loads(_bytes(record, where))
    except pickled.NotPlainData as refused:
        raise Unusable(f"{where} is not plain data: {refused}; nothing of it was run") from None


def _bytes(record: object, where: str) -> bytes:
    if not isinstance(record, bytes):
        raise Unusable(f"{where} is not a pickle (a {type(record).__name__}, not bytes)")
    return record


def _shaped(
    record: Any, shape: tuple[tuple[str, tuple[type, ...], Any], ...], where: str
) -> list[Any]:
    """`record`'s values, checked against `shape` (and completed with the defaults of those
    it may lack)."""
    required = sum(1 for _, _, default in shape if default is _MISSING)
    if not isinstance(record, tuple) or not required <= len(record) <= len(shape):
        raise Unusable(f"{where} is not of gateway-sim's version 0 shape")
    values = [*record, *(default for _, _, default in shape[len(record) :])]
    for value, (name, types, _) in zip(values, shape, strict=True):
        if not isinstance(value, types):
            raise Unusable(f"{where} has a {name} of type {type(value).__name__}")
    return values


def _columns(row: sqlite3.Row, where: str, **types: tuple[type, ...]) -> None:
    for name, allowed in types.items():
        if not isinstance(row[name], allowed):
            raise Unusable(f"{where} has a {name} column of type {type(row[name]).__name__}")


def _micros(stamp: object, where: str) -> int:
    """A version 0 time (float seconds) as version 1 keeps it, the very microsecond version 0
    read from it."""
    if not isinstance(stamp, int | float):
        raise Unusable(f"{where} has a time that is not a number")
    try:
        return rows.micros(datetime.fromtimestamp(stamp, UTC))
    except (OverflowError, ValueError, OSError):
        raise Unusable(f"{where} has a time out of range ({stamp!r})") from None


def _json(values: list[Any], where: str) -> str:
    try:
        return rows.encode(values)
    except (TypeError, ValueError, RecursionError):
        raise Unusable(f"{where} holds a value that is not plain JSON data") from None
