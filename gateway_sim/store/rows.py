"""The database's format, schema version 1: its tables, and each record as a row and back.

Each table keeps as columns what the filters read; the rest of a record is one JSON text
(`record`, a list of plain values; a row with few columns is several times cheaper to write than
one with twenty). JSON is data only, so a file can never make the simulator run code (version 0
pickled these records: schema.py refuses or migrates such a file). It is written with
`ensure_ascii`, so any string encodes, a lone surrogate included, and its length in characters is
its length in bytes (retention.py counts the journal's bytes with SQL's `length`). A journal
entry's raw query and body are BLOB columns; times are whole microseconds since the epoch, in UTC
(exact for any year, unlike a float's seconds); costs are decimal strings; tuples come back as
tuples.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from gateway_sim.domain.records import (
    Attempt,
    ContentPart,
    DeliveryPlan,
    Exchange,
    KeptFields,
    Message,
    ReplyPlan,
    StatusChange,
)

VERSION = 1
"""This format's `PRAGMA user_version`."""


class Unusable(Exception):
    """Why a database file cannot be used (schema.py, migration.py), in one line."""


TABLES: dict[str, str] = {
    "messages": """
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        account TEXT NOT NULL COLLATE NOCASE,
        sender TEXT NOT NULL,
        type INTEGER NOT NULL,
        text TEXT,
        created_us INTEGER NOT NULL,
        recipients TEXT NOT NULL,
        content_count INTEGER NOT NULL,
        record TEXT NOT NULL""",
    "parts": """
        message_seq INTEGER NOT NULL,
        n INTEGER NOT NULL,
        filename TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        data BLOB,
        PRIMARY KEY (message_seq, n)""",
    "journal": """
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at_us INTEGER NOT NULL,
        path TEXT NOT NULL COLLATE NOCASE,
        account TEXT COLLATE NOCASE,
        recipients TEXT,
        sender TEXT,
        type TEXT,
        text TEXT,
        outcome TEXT NOT NULL,
        record TEXT NOT NULL,
        query BLOB NOT NULL,
        body BLOB NOT NULL""",
    "statuses": """
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id TEXT NOT NULL,
        recipient TEXT NOT NULL,
        status INTEGER NOT NULL,
        at_us INTEGER NOT NULL""",
    "attempts": """
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at_us INTEGER NOT NULL,
        account TEXT NOT NULL COLLATE NOCASE,
        message_id TEXT,
        outcome TEXT NOT NULL,
        record TEXT NOT NULL""",
    "pending": """
        id INTEGER PRIMARY KEY,
        due_us INTEGER NOT NULL,
        record TEXT NOT NULL""",
    "state": """
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL""",
}
"""Each table's columns, as its CREATE TABLE gives them."""

INDEXES = ("CREATE INDEX statuses_by_message ON statuses (message_id)",)

INSERT_MESSAGE = (
    "INSERT INTO messages (seq, id, account, sender, type, text, created_us, recipients, "
    "content_count, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_PART = "INSERT INTO parts VALUES (?, ?, ?, ?, ?, ?)"
INSERT_JOURNAL = (
    "INSERT INTO journal (at_us, path, account, recipients, sender, type, text, outcome, record, "
    "query, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_STATUS = "INSERT INTO statuses (message_id, recipient, status, at_us) VALUES (?, ?, ?, ?)"
INSERT_ATTEMPT = (
    "INSERT INTO attempts (at_us, account, message_id, outcome, record) VALUES (?, ?, ?, ?, ?)"
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
"""JSON as the rows hold it: compact, ASCII only (the default `ensure_ascii`)."""


def create_statements() -> list[str]:
    """The statements that make an empty file of this format."""
    tables = [f"CREATE TABLE {name} ({columns}\n)" for name, columns in TABLES.items()]
    return [*tables, *INDEXES]


def columns_of(table: str) -> list[str]:
    """The names of a table's columns, in order."""
    lines = [line.strip() for line in TABLES[table].strip().splitlines()]
    return [line.split()[0] for line in lines if not line.startswith("PRIMARY KEY")]


def encode(value: Any) -> str:
    """Plain data as the JSON text a row holds."""
    return _encode(value)


def micros(moment: datetime) -> int:
    """A time as whole microseconds since the epoch (a naive time is taken as local time, as
    `datetime.timestamp` takes it)."""
    if moment.tzinfo is None:
        moment = moment.astimezone(UTC)
    return (moment - EPOCH) // MICROSECOND


def moment(us: int) -> datetime:
    """The UTC time of `micros`."""
    return EPOCH + us * MICROSECOND


# -- messages ---------------------------------------------------------------------------------


def message_row(seq: int, m: Message) -> tuple[Any, ...]:
    """The columns of a message (numbered `seq`), the rest as a JSON list of plain values."""
    rest = [
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
        None if m.delivery is None else m.delivery.to_json(),
        m.direction,
        m.reply_to,
        m.network_code,
        None if m.auto_reply is None else m.auto_reply.to_json(),
    ]
    return (
        seq,
        m.id,
        m.account,
        m.sender,
        m.type,
        m.text,
        micros(m.created_at),
        f",{','.join(m.recipients)},",
        len(m.content),
        _encode(rest),
    )


def part_rows(seq: int, m: Message, *, with_bytes: bool) -> list[tuple[Any, ...]]:
    """The content parts of message `seq`; their bytes only `with_bytes`."""
    return [
        (seq, n, p.filename, p.content_type, len(p.data), p.data if with_bytes else None)
        for n, p in enumerate(m.content)
    ]


def message_of(row: sqlite3.Row, content: tuple[ContentPart, ...]) -> Message:
    (endpoint, kind, rejected, encoding, parts, cost, truncated, udh, ud, href,
     delivery_report, user_context, rule, delivery, direction, reply_to,
     network_code, auto_reply) = json.loads(row["record"])  # fmt: skip
    return Message(
        id=row["id"],
        account=row["account"],
        endpoint=endpoint,
        type=row["type"],
        kind=kind,
        sender=row["sender"],
        recipients=tuple(row["recipients"].strip(",").split(",")),
        rejected=tuple(rejected),
        text=row["text"],
        encoding=encoding,
        parts=parts,
        cost=Decimal(cost),
        truncated=truncated,
        created_at=moment(row["created_us"]),
        content=content,
        udh=udh,
        ud=ud,
        href=href,
        delivery_report=delivery_report,
        user_context=user_context,
        rule=rule,
        delivery=None if delivery is None else DeliveryPlan.of_json(delivery),
        direction=direction,
        reply_to=reply_to,
        network_code=network_code,
        auto_reply=None if auto_reply is None else ReplyPlan.of_json(auto_reply),
    )


# -- the journal --------------------------------------------------------------------------------


def journal_row(e: Exchange) -> tuple[Any, ...]:
    """The columns of a journal entry; its raw query and body (cut to --max-journal-body-bytes
    by the store already) as BLOBs; the rest as a JSON list, with the notes of a cut entry's
    `KeptFields` (or null)."""
    fields = e.fields
    notes = (
        [fields.body_cut, fields.query_size, fields.fields_cut, fields.answer_cut]
        if isinstance(fields, KeptFields)
        else None
    )
    rest = [
        e.method,
        e.client,
        fields,
        notes,
        e.body_size,
        e.status,
        e.answer,
        e.reason,
        e.message_id,
        e.rule,
        e.files,
    ]
    return (
        micros(e.at),
        e.path,
        e.account,
        fields.get("to"),
        fields.get("from"),
        fields.get("type"),
        fields.get("text"),
        e.outcome,
        _encode(rest),
        e.query,
        e.body,
    )


def exchange_of(row: sqlite3.Row) -> Exchange:
    (method, client, fields, notes, body_size, status, answer, reason, message_id, rule,
     files) = json.loads(row["record"])  # fmt: skip
    if notes is not None:
        body_cut, query_size, fields_cut, answer_cut = notes
        fields = KeptFields(
            fields,
            body_cut=body_cut,
            query_size=query_size,
            fields_cut=fields_cut,
            answer_cut=answer_cut,
        )
    return Exchange(
        at=moment(row["at_us"]),
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
        files=tuple(files),
        query=bytes(row["query"]),
        body=bytes(row["body"]),
    )


# -- delivery statuses and callback attempts -------------------------------------------------------


def status_rows(changes: Sequence[StatusChange]) -> list[tuple[Any, ...]]:
    return [(c.message_id, c.recipient, c.status, micros(c.at)) for c in changes]


def status_of(message_id: str, row: sqlite3.Row) -> StatusChange:
    return StatusChange(message_id, row["recipient"], row["status"], moment(row["at_us"]))


def attempt_row(a: Attempt) -> tuple[Any, ...]:
    rest = [a.callback, a.attempt, a.kind, a.url, a.fields, a.status, a.latency_ms, a.error]
    return (micros(a.at), a.account, a.message_id, a.outcome, _encode(rest))


def attempt_of(row: sqlite3.Row) -> Attempt:
    callback, attempt, kind, url, fields, status, latency_ms, error = json.loads(row["record"])
    return Attempt(
        at=moment(row["at_us"]),
        callback=callback,
        attempt=attempt,
        kind=kind,
        account=row["account"],
        message_id=row["message_id"],
        url=url,
        fields=fields,
        status=status,
        latency_ms=latency_ms,
        error=error,
        outcome=row["outcome"],
    )
