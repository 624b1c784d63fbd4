"""What the replicas on one PostgreSQL database share beyond the records (postgres.py keeps
those): the accounts with their credit (the ledger), the scenario in force, the id sequence, and
the NOTIFY channel on which each replica tells the others what it changed.

A replica's accounts are a cache of the `accounts` table. Their settings are written as the
replica changes them (an account it no longer has was deleted; one another replica made and this
one has not read yet is left alone); their credit changes in the database only by a send's
conditional debit, a top-up (`credit + amount`) or a set, never by writing a replica's copy back.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, TypeVar

import psycopg

from gateway_sim.domain.clock import ID_DIGITS
from gateway_sim.store.pg_rules import (
    RuleCounters,
    add_rule,
    remove_rule,
    replace_rules,
    rules_in_force,
    switch_rule,
)
from gateway_sim.store.pg_schema import CHANNEL, CONNECT_TIMEOUT_S, LOCK_KEY, SqliteLike
from gateway_sim.store.repository import Unavailable
from gateway_sim.store.rows import encode

T = TypeVar("T")


def one_line(error: Exception) -> str:
    """A database error in one line (PostgreSQL's run over several)."""
    return " ".join(str(error).split())


class SharedState:
    """The accounts, scenario, ids and news of a PostgreSQL store (`postgres.PgStore`)."""

    url: str
    number: int
    """This process among the replicas: its own notices are not news to it."""
    connection: psycopg.Connection[Any] | None
    snapshot: Callable[[], dict[str, str]] | None
    credited: Callable[[str, Decimal], None] | None
    _lock: threading.RLock
    _known: set[str]
    # the store's own, which these methods use: writing what is pending, and reading after it
    flush: Callable[[], None]
    read: Callable[[Callable[[SqliteLike], Any]], Any]

    @contextmanager
    def reached(self) -> Iterator[psycopg.Connection[Any]]:
        """The connection, this thread's alone; a database that cannot be reached (or one
        statement that failed) is `Unavailable`, which a send answers `ERR:INTERNAL_ERROR` and
        the control API 503."""
        with self._lock:
            if self.connection is None:
                raise RuntimeError("the store is closed")
            try:
                yield self.connection
            except psycopg.Error as error:
                raise Unavailable(f"the database: {one_line(error)}") from None

    def _save_accounts(
        self, db: psycopg.Connection[Any], state: Mapping[str, str], *, replace: bool = False
    ) -> None:
        """The accounts' settings as this replica has them (all of them, when it `replace`s);
        their credit is the database's, changed only by `credit_changed` and the sends' debits.
        An account made on another replica and not yet read here is left alone."""
        saved = decode_accounts(state.get("accounts"))
        keys = [str(account["username"]).casefold() for account in saved]
        if replace:
            db.execute("DELETE FROM accounts")
        else:
            db.execute(
                "DELETE FROM accounts WHERE key = ANY(%s)", (sorted(self._known - set(keys)),)
            )
        with db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO accounts VALUES (%s, %s, %s) ON CONFLICT (key) DO UPDATE "
                "SET record = EXCLUDED.record",
                [
                    (key, encode({**account, "credit": None}), Decimal(account["credit"]))
                    for key, account in zip(keys, saved, strict=True)
                ],
            )
        self._known = set(keys)
        self._notify(db, "accounts")

    def credit_changed(
        self, username: str, *, add: Decimal | None = None, to: Decimal | None = None
    ) -> Decimal | None:
        """Add to an account's credit, or set it, in the database; its credit there then (None:
        the database has no such account)."""
        self.flush()
        with self.reached() as db:
            sql = (
                "UPDATE accounts SET credit = credit + %s"
                if add is not None
                else "UPDATE accounts SET credit = %s"
            )
            row = db.execute(
                sql + " WHERE key = %s RETURNING credit",
                (add if add is not None else to, username.casefold()),
            ).fetchone()
            self._notify(db, "accounts")
        return None if row is None else Decimal(row[0])

    def started_over(self, scenario: str) -> None:
        """The state was replaced whole (a reset or a scenario load): `scenario`, the accounts
        and the id counter as this replica has them now, for every replica."""
        if self.snapshot is None:
            return
        state = self.snapshot()
        self.flush()
        with self.reached() as db, db.transaction():
            # a send another replica committed since the clear goes too: the ids start over
            db.execute("TRUNCATE parts, messages, statuses, pending, journal, attempts")
            self._save_accounts(db, state, replace=True)
            db.execute("SELECT setval('message_ids', 1, false)")
            replace_rules(db, scenario)
            db.execute(
                "INSERT INTO state VALUES ('scenario', %s) ON CONFLICT (key) DO UPDATE "
                "SET value = EXCLUDED.value",
                (scenario,),
            )
            self._notify(db, "reset")

    def scenario(self) -> str | None:
        row = self.read(
            lambda db: db.execute("SELECT value FROM state WHERE key = 'scenario'").fetchone()
        )
        return None if row is None else str(row[0])

    def next_id(self) -> int:
        """The next value of the shared id sequence."""
        with self.reached() as db:
            row = db.execute("SELECT nextval('message_ids')").fetchone()
        assert row is not None
        return int(row[0])

    def seed(self, scenario: str) -> bool:
        """A fresh database takes this replica's state: `scenario` (its JSON), its accounts and
        its id counter; whether it was fresh (another replica may have seeded it first)."""
        if self.snapshot is None:
            return False
        state = self.snapshot()
        with self.reached() as db, db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            if db.execute("SELECT 1 FROM state WHERE key = 'scenario'").fetchone():
                return False
            self._save_accounts(db, state)
            db.execute("SELECT setval('message_ids', 1, false)")
            db.execute("INSERT INTO state VALUES ('scenario', %s)", (scenario,))
            replace_rules(db, scenario)
            return True

    def clock_moved(self, now: str) -> None:
        """A manual clock was moved to `now` (ISO 8601) here: every replica's moves with it."""
        with self.reached() as db, db.transaction():
            db.execute(
                "INSERT INTO state VALUES ('clock', %s) ON CONFLICT (key) DO UPDATE "
                "SET value = EXCLUDED.value",
                (now,),
            )
            self._notify(db, f"clock {now}")

    def clock(self) -> str | None:
        """Where the manual clocks of the replicas were last moved to (ISO 8601), if they were."""
        row = self.read(
            lambda db: db.execute("SELECT value FROM state WHERE key = 'clock'").fetchone()
        )
        return None if row is None else str(row[0])

    # -- rules ----------------------------------------------------------------------------------

    def counters(self) -> RuleCounters:
        """The rule counters the replicas share (`rules.SharedCounters`)."""
        return RuleCounters(self.reached)

    def rule_added(self, name: str, spec: str) -> bool:
        """A rule (`spec`, its JSON) added here, for every replica; False when another replica
        has a rule of that name."""
        return self._changed_rules(lambda db: add_rule(db, name, spec))

    def rule_removed(self, name: str) -> None:
        self._changed_rules(lambda db: remove_rule(db, name))

    def rule_switched(self, name: str, enabled: bool) -> None:
        self._changed_rules(lambda db: switch_rule(db, name, enabled))

    def rules(self) -> list[tuple[dict[str, Any], bool]]:
        """The rules in force, in order, each with whether it is on."""
        with self.reached() as db:
            return rules_in_force(db)

    def _changed_rules(self, change: Callable[[psycopg.Connection[Any]], T]) -> T:
        with self.reached() as db, db.transaction():
            done = change(db)
            self._notify(db, "rules")
        return done

    def credit_of(self, username: str) -> Decimal | None:
        """An account's credit as the ledger has it now (None: no such account there)."""
        row = self.read(
            lambda db: db.execute(
                "SELECT credit FROM accounts WHERE key = ?", (username.casefold(),)
            ).fetchone()
        )
        return None if row is None else Decimal(row[0])

    def accounts(self) -> list[dict[str, Any]]:
        """Every account as the database has it, credit included (`Accounts.from_saved`)."""
        rows = self.read(
            lambda db: db.execute("SELECT key, record, credit FROM accounts").fetchall()
        )
        self._known = {str(row[0]) for row in rows}
        return [{**decode(row[1]), "credit": str(row[2])} for row in rows]

    def ids(self, start: int) -> SequenceIds:
        """The gateway's id source: the shared sequence (`start` is where a start-over
        restarts it)."""
        return SequenceIds(self, start)

    async def notifications(self) -> AsyncIterator[tuple[str, list[str]]]:
        """What the other replicas tell (each as a kind and its words), as they tell it, until
        the task is cancelled; this replica's own notices are left out."""
        async with await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
        ) as listening:
            await listening.execute(f"LISTEN {CHANNEL}")
            async for notice in listening.notifies():
                teller, _, said = notice.payload.partition(" ")
                if teller != str(self.number):
                    kind, *words = said.split(" ")
                    yield kind, words

    def _notify(self, db: psycopg.Connection[Any], said: str) -> None:
        """Tell the other replicas `said` once the transaction commits."""
        db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{self.number} {said}"))


def decode(text: str) -> Any:
    return json.loads(text)


def decode_accounts(text: str | None) -> list[dict[str, Any]]:
    return list(decode(text)) if text else []


class SequenceIds:
    """Message ids from the database's `message_ids` sequence: unique and increasing across
    replicas, 20 digits as the gateway writes them. The sequence counts from 1 after each start
    over; an id is the scenario's `id_start` plus that count, less one (a sequence holds at most
    19 digits, the gateway's ids 20), and every replica runs the same scenario."""

    def __init__(self, store: SharedState, start: int) -> None:
        self.store = store
        self.next_value = start
        self.base = start - 1

    def take(self) -> str:
        return str(self.base + self.store.next_id()).zfill(ID_DIGITS)
