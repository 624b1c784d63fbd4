"""The store's SQL: the schema, records to rows and back, and the read queries behind the
control API's filters. Everything here runs on the store's own thread.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from gateway_sim.records import RAW_LIMIT, ContentPart, Exchange, Message

SCHEMA = """
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL COLLATE NOCASE,
    endpoint TEXT NOT NULL,
    type INTEGER NOT NULL,
    kind TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    rejected TEXT NOT NULL,
    text TEXT,
    encoding TEXT,
    parts INTEGER NOT NULL,
    cost TEXT NOT NULL,
    truncated INTEGER NOT NULL,
    created_at REAL NOT NULL,
    content_count INTEGER NOT NULL,
    udh TEXT,
    ud TEXT,
    href TEXT,
    delivery_report INTEGER NOT NULL,
    user_context TEXT,
    rule TEXT,
    delivery TEXT
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
    method TEXT NOT NULL,
    path TEXT NOT NULL COLLATE NOCASE,
    client TEXT NOT NULL,
    account TEXT COLLATE NOCASE,
    recipients TEXT,
    sender TEXT,
    type TEXT,
    text TEXT,
    status INTEGER NOT NULL,
    answer TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    message_id TEXT,
    rule TEXT,
    fields BLOB NOT NULL,
    files TEXT,
    query BLOB NOT NULL,
    body BLOB NOT NULL,
    body_size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

MESSAGE_COLUMNS = (
    "id, account, endpoint, type, kind, sender, recipients, rejected, text, encoding, parts, "
    "cost, truncated, created_at, content_count, udh, ud, href, delivery_report, user_context, "
    "rule, delivery"
)
INSERT_MESSAGE = f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES ({', '.join('?' * 22)})"
JOURNAL_COLUMNS = (
    "at, method, path, client, account, recipients, sender, type, text, status, answer, outcome, "
    "reason, message_id, rule, fields, files, query, body, body_size"
)
INSERT_JOURNAL = f"INSERT INTO journal ({JOURNAL_COLUMNS}) VALUES ({', '.join('?' * 20)})"


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


def insert_message(db: sqlite3.Connection, m: Message) -> int:
    """Insert one message and its content; tell how many content bytes it added."""
    cursor = db.execute(
        INSERT_MESSAGE,
        (
            m.id,
            m.account,
            m.endpoint,
            m.type,
            m.kind,
            m.sender,
            f",{','.join(m.recipients)},",
            ",".join(m.rejected),
            m.text,
            m.encoding,
            m.parts,
            str(m.cost),
            m.truncated,
            m.created_at.timestamp(),
            len(m.content),
            m.udh,
            m.ud,
            m.href,
            m.delivery_report,
            m.user_context,
            m.rule,
            None if m.delivery is None else json.dumps(m.delivery),
        ),
    )
    if not m.content:
        return 0
    db.executemany(
        "INSERT INTO parts VALUES (?, ?, ?, ?, ?, ?)",
        [
            (cursor.lastrowid, n, p.filename, p.content_type, len(p.data), p.data)
            for n, p in enumerate(m.content)
        ],
    )
    return sum(len(part.data) for part in m.content)


def journal_rows(exchanges: Sequence[Exchange]) -> list[tuple[Any, ...]]:
    return [
        (
            e.at.timestamp(),
            e.method,
            e.path,
            e.client,
            e.account,
            e.fields.get("to"),
            e.fields.get("from"),
            e.fields.get("type"),
            e.fields.get("text"),
            e.status,
            e.answer,
            e.outcome,
            e.reason,
            e.message_id,
            e.rule,
            pickle.dumps(e.fields, pickle.HIGHEST_PROTOCOL),
            json.dumps(e.files) if e.files else None,
            e.query[:RAW_LIMIT],
            e.body[:RAW_LIMIT],
            e.body_size,
        )
        for e in exchanges
    ]


# -- reading ------------------------------------------------------------------------------------


def _time(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


def _message(db: sqlite3.Connection, row: sqlite3.Row) -> Message:
    content: tuple[ContentPart, ...] = ()
    if row["content_count"]:
        parts = db.execute(
            "SELECT filename, content_type, data FROM parts WHERE message_seq = ? ORDER BY n",
            (row["seq"],),
        ).fetchall()
        content = tuple(
            ContentPart(name, kind, bytes(data or b""), dropped=data is None)
            for name, kind, data in parts
        )
    return Message(
        id=row["id"],
        account=row["account"],
        endpoint=row["endpoint"],
        type=row["type"],
        kind=row["kind"],
        sender=row["sender"],
        recipients=tuple(row["recipients"].strip(",").split(",")),
        rejected=tuple(row["rejected"].split(",")) if row["rejected"] else (),
        text=row["text"],
        encoding=row["encoding"],
        parts=row["parts"],
        cost=Decimal(row["cost"]),
        truncated=bool(row["truncated"]),
        created_at=_time(row["created_at"]),
        content=content,
        udh=row["udh"],
        ud=row["ud"],
        href=row["href"],
        delivery_report=bool(row["delivery_report"]),
        user_context=row["user_context"],
        rule=row["rule"],
        delivery=None if row["delivery"] is None else json.loads(row["delivery"]),
    )


def _exchange(row: sqlite3.Row) -> Exchange:
    return Exchange(
        at=_time(row["at"]),
        method=row["method"],
        path=row["path"],
        client=row["client"],
        fields=pickle.loads(row["fields"]),
        body_size=row["body_size"],
        status=row["status"],
        answer=row["answer"],
        outcome=row["outcome"],
        reason=row["reason"],
        account=row["account"],
        message_id=row["message_id"],
        rule=row["rule"],
        files=json.loads(row["files"]) if row["files"] else [],
        query=bytes(row["query"]),
        body=bytes(row["body"]),
    )


def count_messages(db: sqlite3.Connection) -> int:
    (count,) = db.execute("SELECT COUNT(*) FROM messages").fetchone()
    return int(count)


def message_by_id(db: sqlite3.Connection, message_id: str) -> Message | None:
    row = db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
    return None if row is None else _message(db, row)


def messages(db: sqlite3.Connection, query: MessageQuery) -> list[tuple[int, Message]]:
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
    return [(row["seq"], _message(db, row)) for row in rows]


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
