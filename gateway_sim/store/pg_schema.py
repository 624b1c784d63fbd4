"""A PostgreSQL database's format for `--db postgresql://…`: its tables, its schema version, and
making it ready (connected with bounded timeouts; created when empty, opened when it is this
version, refused with `Unusable` when it holds another schema or a newer version; this replica
numbered, with the advisory lock that says it lives). Several replicas may start on one database at
once: the check and the creation run under one advisory lock, so only one creates the tables.

The tables are the SQLite file's (rows.py, same columns, same JSON rows), with PostgreSQL's
types, plus what replicas share: `accounts` (each account's settings as JSON, and its credit as
an exact NUMERIC that sends debit conditionally) and the `message_ids` sequence. Accounts and
paths compare without case, as in SQLite (`COLLATE NOCASE`), through a nondeterministic ICU
collation.

`SqliteLike` lets the read queries of queries.py, written for SQLite, run here: it turns their
`?` placeholders and `instr` into PostgreSQL's, and gives rows read by name or position.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import RowMaker

from gateway_sim.store.rows import Unusable

PG_VERSION = 1
"""The schema version this gateway-sim writes into `gateway_sim_meta`."""
STATEMENT_TIMEOUT_MS = 5_000
CONNECT_TIMEOUT_S = 5
LOCK_KEY = 0x6761_7465_7761_7973  # "gateways": the advisory lock of schema changes
ALIVE = 0x6773_696D  # "gsim": with a replica's number, the advisory lock it holds while alive
CHANNEL = "gateway_sim"
"""The LISTEN/NOTIFY channel replicas tell each other on."""
NOCASE = "gateway_sim_nocase"

TABLES: dict[str, str] = {
    "gateway_sim_meta": "key TEXT PRIMARY KEY, value TEXT NOT NULL",
    "messages": f"""seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE,
        account TEXT NOT NULL COLLATE {NOCASE}, sender TEXT NOT NULL, type INTEGER NOT NULL,
        text TEXT, created_us BIGINT NOT NULL, recipients TEXT NOT NULL,
        content_count INTEGER NOT NULL, record TEXT NOT NULL""",
    "parts": """message_seq BIGINT NOT NULL, n INTEGER NOT NULL, filename TEXT NOT NULL,
        content_type TEXT NOT NULL, size INTEGER NOT NULL, data BYTEA,
        PRIMARY KEY (message_seq, n)""",
    "journal": f"""seq BIGSERIAL PRIMARY KEY, at_us BIGINT NOT NULL,
        path TEXT NOT NULL COLLATE {NOCASE}, account TEXT COLLATE {NOCASE}, recipients TEXT,
        sender TEXT, type TEXT, text TEXT, outcome TEXT NOT NULL, record TEXT NOT NULL,
        query BYTEA NOT NULL, body BYTEA NOT NULL""",
    "statuses": """seq BIGSERIAL PRIMARY KEY, message_id TEXT NOT NULL, recipient TEXT NOT NULL,
        status INTEGER NOT NULL, at_us BIGINT NOT NULL""",
    "attempts": f"""seq BIGSERIAL PRIMARY KEY, at_us BIGINT NOT NULL,
        account TEXT NOT NULL COLLATE {NOCASE}, message_id TEXT, outcome TEXT NOT NULL,
        record TEXT NOT NULL""",
    "pending": """id BIGINT PRIMARY KEY, holder BIGINT NOT NULL, due_us BIGINT NOT NULL,
        record TEXT NOT NULL""",
    "state": "key TEXT PRIMARY KEY, value TEXT NOT NULL",
    "accounts": "key TEXT PRIMARY KEY, record TEXT NOT NULL, credit NUMERIC NOT NULL",
    "rules": """position BIGSERIAL, name TEXT PRIMARY KEY, spec TEXT NOT NULL,
        enabled BOOLEAN NOT NULL""",
    "rule_counters": """rule TEXT PRIMARY KEY, matched BIGINT NOT NULL,
        fired BIGINT NOT NULL""",
    "rule_rates": "rule TEXT NOT NULL, key TEXT NOT NULL, at_us BIGINT NOT NULL",
}
"""Each table's columns, as its CREATE TABLE gives them."""

CREATE = [
    f"CREATE COLLATION IF NOT EXISTS {NOCASE} "
    "(provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
    *(f"CREATE TABLE {name} ({columns})" for name, columns in TABLES.items()),
    "CREATE INDEX statuses_by_message ON statuses (message_id)",
    "CREATE INDEX rule_rates_by_time ON rule_rates (rule, at_us)",
    "CREATE INDEX rule_rates_by_key ON rule_rates (rule, key)",
    "CREATE SEQUENCE message_ids MINVALUE 0 START WITH 1",
    "CREATE SEQUENCE replica_numbers START WITH 1",
    f"INSERT INTO gateway_sim_meta VALUES ('schema_version', '{PG_VERSION}')",
]


def prepare(connection: psycopg.Connection[Any]) -> None:
    """Make the database ready, or raise `Unusable` saying why not (before anything is written);
    under the advisory lock, so that replicas starting at once create the tables only once."""
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        tables = [
            str(row[0])
            for row in connection.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() ORDER BY table_name"
            ).fetchall()
        ]
        if not tables:
            for statement in CREATE:
                connection.execute(statement)
            return
        foreign = sorted(set(tables) - set(TABLES))
        if foreign:
            shown = ", ".join(repr(name[:40]) for name in foreign[:8])
            raise Unusable(f"it is not a gateway-sim database: it has the tables {shown}")
        found = connection.execute(
            "SELECT value FROM gateway_sim_meta WHERE key = 'schema_version'"
        ).fetchone()
        version = int(found[0]) if found and str(found[0]).isdigit() else None
        if version is None:
            raise Unusable("its gateway_sim_meta table names no schema version")
        if version > PG_VERSION:
            raise Unusable(
                f"it has schema version {version}, written by a newer gateway-sim (this one "
                f"writes version {PG_VERSION})"
            )
        missing = sorted(set(TABLES) - set(tables))
        if version != PG_VERSION or missing:
            raise Unusable(f"it has schema version {version}, lacking the tables {missing}")


_PLACEHOLDER = re.compile(r"\?")


class SqliteLike:
    """A PostgreSQL connection that runs the SQL of queries.py: `?` as `%s`, `instr(a, b)` as
    `strpos(a, b)` (both the 1-based place of `b` in `a`, 0 when absent); rows are `Row`s."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Row]:
        translated = _PLACEHOLDER.sub("%s", sql).replace("instr(", "strpos(")
        cursor = self.connection.cursor(row_factory=row_maker)
        return cursor.execute(translated, parameters)


class Row:
    """A row read by column name or by position, as `sqlite3.Row` is."""

    __slots__ = ("names", "values")

    def __init__(self, names: dict[str, int], values: Sequence[Any]) -> None:
        self.names = names
        self.values = values

    def __getitem__(self, key: int | str) -> Any:
        return self.values[self.names[key] if isinstance(key, str) else key]

    def __iter__(self) -> Any:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def row_maker(cursor: psycopg.Cursor[Any]) -> RowMaker[Row]:
    """psycopg's row factory for `Row`s (its documented `RowFactory` protocol)."""
    names = {column.name: n for n, column in enumerate(cursor.description or ())}

    def make(values: Sequence[Any]) -> Row:
        return Row(names, values)

    return make


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection in autocommit (transactions are explicit), its statements bounded in time."""
    return psycopg.connect(
        url,
        autocommit=True,
        connect_timeout=CONNECT_TIMEOUT_S,
        options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        application_name="gateway-sim",
    )


def take_number(db: psycopg.Connection[Any]) -> int:
    """This process's number among the replicas (never one an earlier one had), and the lock
    that says it is alive, held by its connection until it closes or the process dies."""
    row = db.execute("SELECT nextval('replica_numbers')").fetchone()
    assert row is not None
    number = int(row[0])
    db.execute("SELECT pg_advisory_lock(%s::int, %s::int)", (ALIVE, number))
    return number
