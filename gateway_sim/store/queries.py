"""The store's read queries, behind the control API's filters (the query models are
`domain/queries.py`'s; the rows they read are rows.py's). Everything here runs on the store's own
thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from gateway_sim.domain.queries import AttemptQuery, ExchangeQuery, MessageQuery
from gateway_sim.domain.records import Attempt, ContentPart, Exchange, Message, StatusChange
from gateway_sim.store.rows import attempt_of, exchange_of, message_of, status_of

__all__ = [  # the query models are the domain's, named here still for the store's modules
    "AttemptQuery",
    "Blobs",
    "ExchangeQuery",
    "MessageQuery",
    "Reader",
    "attempts",
    "content_part",
    "count_messages",
    "exchanges",
    "message_by_id",
    "messages",
    "statuses",
]


class Fetched(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Reader(Protocol):
    """What a query runs on: a SQLite connection, or postgres's `SqliteLike` (the same SQL)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Fetched: ...


Blobs = Callable[[int, int], bytes | None]
"""Where content bytes not kept in SQLite are: (message seq, part number) -> bytes or None."""


# -- reading ------------------------------------------------------------------------------------


def _message(db: Reader, row: Any, blobs: Blobs) -> Message:
    content: tuple[ContentPart, ...] = ()
    if row["content_count"]:
        parts = db.execute(
            "SELECT n, filename, content_type, data FROM parts WHERE message_seq = ? ORDER BY n",
            (row["seq"],),
        ).fetchall()
        content = tuple(_part(row["seq"], part, blobs) for part in parts)
    return message_of(row, content)


def count_messages(db: Reader) -> int:
    (count,) = db.execute("SELECT COUNT(*) FROM messages").fetchone()
    return int(count)


def _part(seq: int, row: Any, blobs: Blobs) -> ContentPart:
    data = row["data"] if row["data"] is not None else blobs(seq, row["n"])
    return ContentPart(row["filename"], row["content_type"], bytes(data or b""), data is None)


def message_by_id(db: Reader, message_id: str, blobs: Blobs) -> Message | None:
    row = db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
    return None if row is None else _message(db, row, blobs)


def messages(db: Reader, query: MessageQuery, blobs: Blobs) -> list[tuple[int, Message]]:
    """Messages matching `query`, newest first, with their sequence numbers (for cursors)."""
    where: list[str] = []
    args: list[Any] = []
    _contains(where, args, recipients=None if query.to is None else f",{query.to},")
    _equal(where, args, sender=query.sender, account=query.account, type=query.type)
    _contains(where, args, text=query.text)
    _since_and_cursor(where, args, "created_us", query.since, query.cursor)
    rows = db.execute(
        f"SELECT * FROM messages {_where(where)} ORDER BY seq DESC LIMIT ?", [*args, query.limit]
    ).fetchall()
    return [(row["seq"], _message(db, row, blobs)) for row in rows]


def exchanges(db: Reader, query: ExchangeQuery) -> list[tuple[int, Exchange]]:
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
    _since_and_cursor(where, args, "at_us", query.since, query.cursor)
    rows = db.execute(
        f"SELECT * FROM journal {_where(where)} ORDER BY seq DESC LIMIT ?", [*args, query.limit]
    ).fetchall()
    return [(row["seq"], exchange_of(row)) for row in rows]


def content_part(db: Reader, message_id: str, n: int, blobs: Blobs) -> ContentPart | None:
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
    if since is not None:  # seconds; the column holds microseconds
        where.append(f"{time_column} >= ?")
        args.append(since * 1_000_000)
    if cursor is not None:
        where.append("seq < ?")
        args.append(cursor)


def _where(conditions: list[str]) -> str:
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


def statuses(db: Reader, message_id: str) -> list[StatusChange]:
    rows = db.execute(
        "SELECT recipient, status, at_us FROM statuses WHERE message_id = ? ORDER BY seq",
        (message_id,),
    ).fetchall()
    return [status_of(message_id, row) for row in rows]


def attempts(db: Reader, query: AttemptQuery) -> list[tuple[int, Attempt]]:
    where: list[str] = []
    args: list[Any] = []
    _equal(where, args, message_id=query.message_id, account=query.account, outcome=query.outcome)
    _since_and_cursor(where, args, "at_us", None, query.cursor)
    rows = db.execute(
        f"SELECT * FROM attempts {_where(where)} ORDER BY seq DESC LIMIT ?", [*args, query.limit]
    ).fetchall()
    return [(row["seq"], attempt_of(row)) for row in rows]
