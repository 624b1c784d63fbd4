"""The PostgreSQL store (`--db postgresql://…`): what the SQLite file keeps, in a database that
several replicas share, so that they answer as one gateway.

It writes as the SQLite file does (batching.py, durable: a send is answered once its message is
committed), and it is the ledger: each message's transaction debits its account only if the
credit covers it (`UPDATE … WHERE credit >= cost`), so replicas can never overspend one account
between them; a message whose debit finds too little is not stored, and its send is answered
`ERR:INSUFFICIENT_CREDIT`. Each message is written under a savepoint of its own, so one that
cannot be written is lost alone. Ids come from the `message_ids` sequence (`SequenceIds`).

The connection is a synchronous psycopg one, used on the event loop's thread as the SQLite one
is: every read first writes what is pending, so a reader sees every message answered before it
asked, on any replica. A statement timeout bounds how long a slow database can hold the loop.
Replicas tell each other of what changed on a NOTIFY channel (replicas.py listens to it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

import psycopg

from gateway_sim.domain.errors import GatewayError, InsufficientCredit
from gateway_sim.domain.records import Attempt, ContentPart, Exchange, Message, StatusChange
from gateway_sim.store import queries
from gateway_sim.store.batching import FAILED_KEPT, Batch, Queued, WriteBehind
from gateway_sim.store.entries import fit
from gateway_sim.store.pg_retention import hold
from gateway_sim.store.pg_schema import ALIVE, SqliteLike, connect, prepare, take_number
from gateway_sim.store.pg_shared import SharedState, decode, one_line
from gateway_sim.store.queries import AttemptQuery, ExchangeQuery, MessageQuery
from gateway_sim.store.repository import Unavailable
from gateway_sim.store.retention import Retention
from gateway_sim.store.rows import (
    Unusable,
    attempt_row,
    encode,
    journal_row,
    message_row,
    micros,
    moment,
    part_rows,
    status_rows,
)

T = TypeVar("T")
log = logging.getLogger("gateway_sim")

INSERT_MESSAGE = (
    "INSERT INTO messages (id, account, sender, type, text, created_us, recipients, "
    "content_count, record) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING seq"
)
INSERT_PART = "INSERT INTO parts VALUES (%s, %s, %s, %s, %s, %s)"
INSERT_JOURNAL = (
    "INSERT INTO journal (at_us, path, account, recipients, sender, type, text, outcome, record, "
    "query, body) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
INSERT_STATUS = (
    "INSERT INTO statuses (message_id, recipient, status, at_us) VALUES (%s, %s, %s, %s)"
)
INSERT_ATTEMPT = (
    "INSERT INTO attempts (at_us, account, message_id, outcome, record) VALUES (%s, %s, %s, %s, %s)"
)
CALLBACK_IDS_PER_REPLICA = 10**12
NOTIFIED_IDS = 200
"""Message ids per notice: 200 of 21 characters stay well within a NOTIFY's 8,000 bytes."""
DEBIT = "UPDATE accounts SET credit = credit - %s WHERE key = %s AND credit >= %s RETURNING credit"


class PgStore(Queued, SharedState):
    """Messages, journal, callbacks, accounts and ids in a PostgreSQL database that replicas
    share."""

    def __init__(self, url: str, retention: Retention | None = None) -> None:
        self.url = url
        self.retention = retention or Retention()
        self.migrated = None

        self._lock = threading.RLock()
        try:
            self.connection: psycopg.Connection[Any] | None = connect(url)
        except psycopg.Error as error:
            raise Unusable(f"cannot connect: {one_line(error)}") from None
        try:
            prepare(self.connection)
            self.number = take_number(self.connection)
        except psycopg.Error as error:
            self.connection.close()
            raise Unusable(one_line(error)) from None
        except BaseException:
            self.connection.close()
            raise
        self._known: set[str] = set()
        """The accounts this replica last wrote or read (one it no longer has was deleted)."""
        self.reader = SqliteLike(self.connection)
        self.snapshot: Callable[[], dict[str, str]] | None = None
        self.credited: Callable[[str, Decimal], None] | None = None
        """Told of each account's credit as the database has it after a write (the gateway's
        accounts are a cache of it)."""
        self._refused: dict[str, GatewayError] = {}
        self._tidy: psycopg.Connection[Any] | None = None
        self._tidying = threading.Lock()
        self.batches = WriteBehind(self.retention, durable=True, write=self._write, lock=self._lock)
        self.observers = self.batches.observers

    persistent = True
    keeps_journal_in_memory = False
    shared = True

    # -- writes -------------------------------------------------------------------------------

    def record(self, exchange: Exchange) -> None:
        cap = self.retention.max_journal_body_bytes
        exchange, size = fit(exchange, cap, cap)
        self.batches.record(exchange, size)

    def problem(self) -> str | None:
        """Why the database cannot serve this replica now. A connection once lost is not made
        again: another replica may have taken up this one's callbacks meanwhile, and two would
        then post them; the replica says it is not ready, to be restarted."""
        try:
            with self.reached() as db:
                db.execute("SELECT 1")
        except Unavailable as gone:
            return str(gone)
        return None

    def state_changed(self) -> None:
        """Accounts changed outside a send: written now, so that every replica has them at
        once (they are told on the channel)."""
        self.batches.state_changed()
        self.flush()

    def refusal(self, message_id: str) -> GatewayError | None:
        """Why message `message_id` was not stored, when the ledger refused it (not an error)."""
        return self._refused.pop(message_id, None)

    def _write(self, batch: Batch, lost: Callable[[Message], None]) -> None:
        db = self.connection
        if db is None:
            return
        refused: list[Message] = []
        failed: list[tuple[Message, Exception]] = []
        credits: dict[str, tuple[str, Decimal]] = {}
        written: list[str] = []
        try:
            with db.transaction():
                for _, message in batch.messages:
                    try:
                        with db.transaction():  # a savepoint: a failure loses this one only
                            if not self._insert_message(db, message, credits):
                                refused.append(message)
                                continue
                        written.append(message.id)
                    except Exception as error:
                        failed.append((message, error))
                self._insert_others(db, batch)
                if batch.state_changed and self.snapshot is not None:
                    self._save_accounts(db, self.snapshot())
                for start in range(0, len(written), NOTIFIED_IDS):  # a NOTIFY holds < 8 KB
                    self._notify(db, "messages " + " ".join(written[start : start + NOTIFIED_IDS]))
                if credits:  # the others' copies of these accounts' credit
                    self._notify(db, "credit " + " ".join(sorted(credits)))
        except Exception as broken:  # the connection or the commit itself
            log.exception("could not write to the database")
            failed = [(message, broken) for _, message in batch.messages]
            refused, credits = [], {}
        for message in refused:
            self._refused[message.id] = InsufficientCredit(
                f"the database's credit of account {message.account!r} does not cover "
                f"{message.cost}"
            )
            if len(self._refused) > FAILED_KEPT:  # sends that never asked (cancelled)
                del self._refused[next(iter(self._refused))]
            lost(message)
        for message, why in failed:
            log.error("could not store message %s (its cost is refunded): %s", message.id, why)
            lost(message)
        if self.credited is not None:
            for username, credit in credits.values():
                self.credited(username, credit)

    def _insert_message(
        self,
        db: psycopg.Connection[Any],
        message: Message,
        credits: dict[str, tuple[str, Decimal]],
    ) -> bool:
        """Debit and insert `message`; False (nothing written) when its credit is short."""
        if message.direction == "outbound":
            key = message.account.casefold()
            row = db.execute(DEBIT, (message.cost, key, message.cost)).fetchone()
            if row is None:  # too little: this replica's copy learns what there is
                found = db.execute("SELECT credit FROM accounts WHERE key = %s", (key,)).fetchone()
                if found is not None:
                    credits[key] = (message.account, Decimal(found[0]))
                return False
            credits[key] = (message.account, Decimal(row[0]))
        (seq,) = db.execute(INSERT_MESSAGE, _text(message_row(0, message)[1:])).fetchone() or (0,)
        if message.content:
            with db.cursor() as cursor:
                cursor.executemany(INSERT_PART, part_rows(seq, message, with_bytes=True))
        return True

    def _insert_others(self, db: psycopg.Connection[Any], batch: Batch) -> None:
        """Journal entries, status steps and callback attempts, each kind under a savepoint (a
        journal entry that cannot be written never takes the messages with it)."""
        kinds = (
            (INSERT_JOURNAL, [_text(journal_row(e)) for e in batch.exchanges], "journal entries"),
            (INSERT_STATUS, status_rows(batch.statuses), "status steps"),
            (INSERT_ATTEMPT, [_text(attempt_row(a)) for a in batch.attempts], "callback attempts"),
        )
        for sql, rows, what in kinds:
            if not rows:
                continue
            try:
                with db.transaction(), db.cursor() as cursor:
                    cursor.executemany(sql, rows)
            except Exception as error:
                log.error("could not store %d %s: %s", len(rows), what, error)

    def retain(self) -> None:
        """Hold the tables to their caps (pg_retention.py), on a connection of this method's
        own: called off the event loop, about once a second."""
        with self._tidying:
            if self._tidy is None or self._tidy.closed:
                self._tidy = connect(self.url)
            try:
                hold(self._tidy, self.retention)
            except psycopg.Error as error:
                raise Unavailable(f"the database: {one_line(error)}") from None

    # -- callbacks still to deliver -------------------------------------------------------------

    def keep_pending(self, item_id: int, due: datetime, record: Mapping[str, Any]) -> None:
        """A callback still to deliver, held by this replica (its ids are unique across
        replicas: `callback_ids_from`)."""
        self.read(
            lambda db: db.execute(
                "INSERT INTO pending VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE "
                "SET holder = EXCLUDED.holder, due_us = EXCLUDED.due_us, record = EXCLUDED.record",
                (item_id, self.number, micros(due), encode(record)),
            )
        )

    def forget_pending(self, item_id: int) -> None:
        self.read(lambda db: db.execute("DELETE FROM pending WHERE id = ?", (item_id,)))

    def pending(self) -> list[tuple[datetime, dict[str, Any]]]:
        """The callbacks this replica holds."""
        rows = self.read(
            lambda db: db.execute(
                "SELECT due_us, record FROM pending WHERE holder = ? ORDER BY id", (self.number,)
            ).fetchall()
        )
        return [(moment(row[0]), decode(row[1])) for row in rows]

    def adopt(self) -> list[tuple[datetime, dict[str, Any]]]:
        """The callbacks held by replicas that are gone (their connection, and with it the lock
        each holds while alive, is gone), now this one's to deliver; each is taken by one
        replica only (the others find it taken, or the gone replica's lock taken for now)."""
        self.flush()
        with self.reached() as db:
            taken: list[tuple[datetime, dict[str, Any]]] = []
            with db.transaction():
                holders = db.execute(
                    "SELECT DISTINCT holder FROM pending WHERE holder <> %s", (self.number,)
                ).fetchall()
                for (holder,) in holders:
                    gone = db.execute(
                        "SELECT pg_try_advisory_xact_lock(%s::int, %s::int)", (ALIVE, holder)
                    ).fetchone()
                    if not (gone and gone[0]):
                        continue
                    rows = db.execute(
                        "UPDATE pending SET holder = %s WHERE id IN (SELECT id FROM pending "
                        "WHERE holder = %s FOR UPDATE SKIP LOCKED) RETURNING due_us, record",
                        (self.number, holder),
                    ).fetchall()
                    taken += [(moment(row[0]), decode(row[1])) for row in rows]
        return taken

    def callback_ids_from(self) -> int:
        """Where this replica's callback ids start: its number's own range."""
        return self.number * CALLBACK_IDS_PER_REPLICA

    # -- reads: each first writes what is pending ---------------------------------------------

    def read(self, query: Callable[[SqliteLike], T]) -> T:
        with self.reached():
            self.flush()
            return query(self.reader)

    def get(self, message_id: str) -> Message | None:
        return self.read(lambda db: queries.message_by_id(db, message_id, _no_blobs))

    def messages(self, query: MessageQuery) -> list[tuple[int, Message]]:
        return self.read(lambda db: queries.messages(db, query, _no_blobs))

    def part(self, message_id: str, n: int) -> ContentPart | None:
        return self.read(lambda db: queries.content_part(db, message_id, n, _no_blobs))

    def statuses(self, message_id: str) -> list[StatusChange]:
        return self.read(lambda db: queries.statuses(db, message_id))

    def attempts(self, query: AttemptQuery) -> list[tuple[int, Attempt]]:
        return self.read(lambda db: queries.attempts(db, query))

    def exchanges(self, query: ExchangeQuery) -> list[tuple[int, Exchange]]:
        return self.read(lambda db: queries.exchanges(db, query))

    def state(self) -> dict[str, str]:
        """The saved state: the accounts (the id counter is the shared sequence), if seeded."""
        return {"accounts": encode(self.accounts())} if self.scenario() is not None else {}

    def __iter__(self) -> Iterator[Message]:
        found = self.messages(MessageQuery(limit=self.retention.max_messages))
        return iter([message for _, message in reversed(found)])

    def __len__(self) -> int:
        return self.read(queries.count_messages)

    def clear(self, *, journal: bool = False) -> int:
        """Forget every message, on every replica (and the journal and attempts, if asked)."""

        def clear(db: SqliteLike) -> int:
            count = queries.count_messages(db)
            tables = ["parts", "messages", "statuses", "pending"]
            if journal:
                tables += ["journal", "attempts"]
            db.execute(f"TRUNCATE {', '.join(tables)}")
            return count

        return self.read(clear)

    def forget_account(self, username: str) -> int:
        """Delete, in one transaction, what account `username` (ignoring case) left, on every
        replica: its messages with their parts and status steps, its journal entries, its
        callback attempts and the callbacks still to deliver to it; how many messages."""
        mine = "SELECT seq FROM messages WHERE account = %s"
        self.flush()
        with self.reached() as db, db.transaction():
            (count,) = db.execute(
                "SELECT COUNT(*) FROM messages WHERE account = %s", (username,)
            ).fetchone() or (0,)
            db.execute(
                "DELETE FROM statuses WHERE message_id IN "
                "(SELECT id FROM messages WHERE account = %s)",
                (username,),
            )
            db.execute(f"DELETE FROM parts WHERE message_seq IN ({mine})", (username,))
            for table in ("messages", "journal", "attempts"):
                db.execute(f"DELETE FROM {table} WHERE account = %s", (username,))
            db.execute(
                "DELETE FROM pending WHERE lower(record::json->>'account') = lower(%s)",
                (username,),
            )
            self._notify(db, f"forgot {quote(username)}")  # the others' callbacks under way
        return int(count)

    def close(self) -> None:
        with self._tidying:
            if self._tidy is not None:
                self._tidy.close()
        with self._lock:
            if self.connection is None:
                return
            self.flush()
            self.batches.tell_observers()
            self.connection.close()
            self.connection = None


def _no_blobs(seq: int, n: int) -> bytes | None:
    """Content bytes are always in the database here (the `parts` table)."""
    return None


def _text(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row whose text columns PostgreSQL can hold: NUL, which no TEXT may contain, as U+FFFD
    (the same policy as every other character that cannot be stored)."""
    return tuple(
        value.replace("\x00", "\ufffd") if isinstance(value, str) and "\x00" in value else value
        for value in row
    )
