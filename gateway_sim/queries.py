"""The store's SQL: the schema, records to rows and back, and the read queries behind the
control API's filters. Everything here runs on the store's own thread.
"""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from gateway_sim.records import Attempt, ContentPart, Exchange, Message, StatusChange

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL COLLATE NOCASE,
    sender TEXT NOT NULL,
    type INTEGER NOT NULL,
    text TEXT,
    created_at REAL NOT NULL,
    recipients TEXT NOT NULL,
    content_count INTEGER NOT NULL,
    record BLOB NOT NULL
);
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
    at REAL NOT NULL,
    path TEXT NOT NULL COLLATE NOCASE,
    account TEXT COLLATE NOCASE,
    recipients TEXT,
    sender TEXT,
    type TEXT,
    text TEXT,
    outcome TEXT NOT NULL,
    record BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS statuses (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status INTEGER NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS statuses_by_message ON statuses (message_id);
CREATE TABLE IF NOT EXISTS attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    account TEXT NOT NULL COLLATE NOCASE,
    message_id TEXT,
    outcome TEXT NOT NULL,
    record BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY,
    due REAL NOT NULL,
    record BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
"""Each table keeps the columns that filters need; the rest of a record is a pickled tuple of
plain values (a row with few columns is several times cheaper to write than one with twenty)."""

INSERT_MESSAGE = (
    "INSERT INTO messages (seq, id, account, sender, type, text, created_at, recipients, "
    "content_count, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_JOURNAL = (
    "INSERT INTO journal (at, path, account, recipients, sender, type, text, outcome, record) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_PICKLE = pickle.HIGHEST_PROTOCOL

Blobs = Callable[[int, int], bytes | None]
"""Where content bytes not kept in SQLite are: (message seq, part number) -> bytes or None."""


@dataclass(frozen=True, slots=True)
class MessageQuery:
    """Filters of `GET /_sim/messages`; newest first, `cursor` continues after a page."""

    to: str | None = None
    sender: str | None = None
    account: str | None = None
    type: int | None = None
    text: str | None = None
    since: float | None = None
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
    since: float | None = None
    outcome: str | None = None
    path: str | None = None
    limit: int = 100
    cursor: int | None = None


# -- writing ------------------------------------------------------------------------------------


def message_row(seq: int, m: Message) -> tuple[Any, ...]:
    """The columns of a message (numbered `seq`), the rest pickled as a tuple of plain values."""
    rest = (
        m.endpoint,
        m.kind,
        m.rejected,
        m.encoding,
        m.parts,
        str(m.cost),
        m.truncated,
        m.udh,
        m.ud,
        m.href,
        m.delivery_report,
        m.user_context,
        m.rule,
        m.delivery,
        m.direction,
        m.reply_to,
        m.network_code,
        m.auto_reply,
    )
    return (
        seq,
        m.id,
        m.account,
        m.sender,
        m.type,
        m.text,
        m.created_at.timestamp(),
        f",{','.join(m.recipients)},",
        len(m.content),
        pickle.dumps(rest, _PICKLE),
    )


def insert_messages(
    db: sqlite3.Connection, batch: Sequence[tuple[int, Message]], *, with_bytes: bool
) -> list[tuple[int, Message]]:
    """Insert messages with their sequence numbers; return those with content. Content bytes
    go in only `with_bytes`; else just the description of each part."""
    db.executemany(INSERT_MESSAGE, [message_row(seq, message) for seq, message in batch])
    with_content = [(seq, message) for seq, message in batch if message.content]
    for seq, message in with_content:
        db.executemany(
            "INSERT INTO parts VALUES (?, ?, ?, ?, ?, ?)",
            [
                (seq, n, p.filename, p.content_type, len(p.data), p.data if with_bytes else None)
                for n, p in enumerate(message.content)
            ],
        )
    return with_content


def journal_rows(exchanges: Sequence[Exchange]) -> list[tuple[Any, ...]]:
    return [
        (
            e.at.timestamp(),
            e.path,
            e.account,
            e.fields.get("to"),
            e.fields.get("from"),
            e.fields.get("type"),
            e.fields.get("text"),
            e.outcome,
            pickle.dumps(
                (
                    e.method,
                    e.client,
                    e.fields,
                    e.body_size,
                    e.status,
                    e.answer,
                    e.reason,
                    e.message_id,
                    e.rule,
                    e.files,
                    e.query,  # cut to --max-journal-body-bytes by the store already
                    e.body,
                ),
                _PICKLE,
            ),
        )
        for e in exchanges
    ]


def insert_statuses(db: sqlite3.Connection, changes: Sequence[StatusChange]) -> None:
    db.executemany(
        "INSERT INTO statuses (message_id, recipient, status, at) VALUES (?, ?, ?, ?)",
        [(c.message_id, c.recipient, c.status, c.at.timestamp()) for c in changes],
    )


def insert_attempts(db: sqlite3.Connection, attempts: Sequence[Attempt]) -> None:
    db.executemany(
        "INSERT INTO attempts (at, account, message_id, outcome, record) VALUES (?, ?, ?, ?, ?)",
        [
            (a.at.timestamp(), a.account, a.message_id, a.outcome, pickle.dumps(a, _PICKLE))
            for a in attempts
        ],
    )


# -- reading ------------------------------------------------------------------------------------


def _time(stamp: float) -> datetime:
    """A stored time (seconds since the epoch, exact to the microsecond) in UTC."""
    return datetime.fromtimestamp(stamp, UTC)


def _message(db: sqlite3.Connection, row: sqlite3.Row, blobs: Blobs) -> Message:
    content: tuple[ContentPart, ...] = ()
    if row["content_count"]:
        parts = db.execute(
            "SELECT n, filename, content_type, data FROM parts WHERE message_seq = ? ORDER BY n",
            (row["seq"],),
        ).fetchall()
        content = tuple(_part(row["seq"], part, blobs) for part in parts)
    (endpoint, kind, rejected, encoding, parts_count, cost, truncated, udh, ud, href,
     delivery_report, user_context, rule, delivery, direction, reply_to,
     network_code, auto_reply) = pickle.loads(row["record"])  # fmt: skip
    return Message(
        id=row["id"],
        account=row["account"],
        endpoint=endpoint,
        type=row["type"],
        kind=kind,
        sender=row["sender"],
        recipients=tuple(row["recipients"].strip(",").split(",")),
        rejected=rejected,
        text=row["text"],
        encoding=encoding,
        parts=parts_count,
        cost=Decimal(cost),
        truncated=truncated,
        created_at=_time(row["created_at"]),
        content=content,
        udh=udh,
        ud=ud,
        href=href,
        delivery_report=delivery_report,
        user_context=user_context,
        rule=rule,
        delivery=delivery,
        direction=direction,
        reply_to=reply_to,
        network_code=network_code,
        auto_reply=auto_reply,
    )


def _exchange(row: sqlite3.Row) -> Exchange:
    (method, client, fields, body_size, status, answer, reason, message_id, rule, files,
     query, body) = pickle.loads(row["record"])  # fmt: skip
    return Exchange(
        at=_time(row["at"]),
        method=method,
        path=row["path"],
        client=client,
        parsed=fields,
        body_size=body_size,
        status=status,
        answer=answer,
        outcome=row["outcome"],
        reason=reason,
        account=row["account"],
        message_id=message_id,
        rule=rule,
        files=files,
        query=query,
        body=body,
    )


def count_messages(db: sqlite3.Connection) -> int:
    (count,) = db.execute("SELECT COUNT(*) FROM messages").fetchone()
    return int(count)


def _part(seq: int, row: sqlite3.Row, blobs: Blobs) -> ContentPart:
    data = row["data"] if row["data"] is not None else blobs(seq, row["n"])
    return ContentPart(row["filename"], row["content_type"], bytes(data or b""), data is None)


def message_by_id(db: sqlite3.Connection, message_id: str, blobs: Blobs) -> Message | None:
    row = db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
    return None if row is None else _message(db, row, blobs)


def messages(
    db: sqlite3.Connection, query: MessageQuery, blobs: Blobs
) -> list[tuple[int, Message]]:
    """Messages matching `query`, newest first, with their sequence numbers (for cursors)."""
    where: list[str] = []
    args: list[Any] = []
    _contains(where, args, recipients=None if query.to is None else f",{query.to},")
    _equal(where, args, sender=query.sender, account=query.account, type=query.type)
    _contains(where, args, text=query.text)
    _since_and_cursor(where, args, "created_at", query.since, query.cursor)
    rows = db.execute(
        f"SELECT * FROM messages {_where(where)} ORDER BY seq DESC LIMIT ?", [*args, query.limit]
    ).fetchall()
    return [(row["seq"], _message(db, row, blobs)) for row in rows]


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
        f"SELECT * FROM journal {_where(where)} ORDER BY seq DESC LIMIT ?", [*args, query.limit]
    ).fetchall()
    return [(row["seq"], _exchange(row)) for row in rows]


def content_part(
    db: sqlite3.Connection, message_id: str, n: int, blobs: Blobs
) -> ContentPart | None:
    row = db.execute(
        "SELECT seq, n, filename, content_type, data FROM parts JOIN messages ON seq = message_seq "
        "WHERE id = ? AND n = ?",
        (message_id, n),
    ).fetchone()
    return None if row is None else _part(row["seq"], row, blobs)


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
    where: list[str], args: list[Any], time_column: str, since: float | None, cursor: int | None
) -> None:
    if since is not None:
        where.append(f"{time_column} >= ?")
        args.append(since)
    if cursor is not None:
        where.append("seq < ?")
        args.append(cursor)


def _where(conditions: list[str]) -> str:
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


def statuses(db: sqlite3.Connection, message_id: str) -> list[StatusChange]:
    rows = db.execute(
        "SELECT recipient, status, at FROM statuses WHERE message_id = ? ORDER BY seq",
        (message_id,),
    ).fetchall()
    return [StatusChange(message_id, row[0], row[1], _time(row[2])) for row in rows]


@dataclass(frozen=True, slots=True)
class AttemptQuery:
    """Filters of `GET /_sim/callbacks`; newest first."""

    message_id: str | None = None
    account: str | None = None
    outcome: str | None = None
    limit: int = 100
    cursor: int | None = None


def attempts(db: sqlite3.Connection, query: AttemptQuery) -> list[tuple[int, Attempt]]:
    where: list[str] = []
    args: list[Any] = []
    _equal(where, args, message_id=query.message_id, account=query.account, outcome=query.outcome)
    _since_and_cursor(where, args, "at", None, query.cursor)
    rows = db.execute(
        f"SELECT seq, record FROM attempts {_where(where)} ORDER BY seq DESC LIMIT ?",
        [*args, query.limit],
    ).fetchall()
    return [(seq, pickle.loads(record)) for seq, record in rows]
