"""Which format a database file is in, and making it ready: the schema version it carries
(`PRAGMA user_version`) and its tables decide whether it is made (a new or empty file), opened
(this version, rows.py), migrated (version 0, migration.py) or refused with `Unusable` (a newer
version, tables or columns that are not gateway-sim's, a file that is not SQLite, a version 0
record that is not plain data). `inspect` only reads, so a refused file is left as it was; all
of it happens before the server says it listens.
"""

from __future__ import annotations

import sqlite3
from typing import Literal

from gateway_sim.store import rows
from gateway_sim.store.migration import OLD_REQUIRED, OLD_TABLES, Migrated, migrate
from gateway_sim.store.rows import VERSION, Unusable

Found = Literal["empty", "current", "old"]


def inspect(db: sqlite3.Connection) -> tuple[Found, list[str]]:
    """What `db` holds: nothing yet, this version, or version 0; and its tables. Reads only."""
    try:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        tables = {name: _columns(db, name) for name in _tables(db)}
    except sqlite3.DatabaseError as error:
        raise Unusable(f"it is not an SQLite database ({error})") from None
    if version > VERSION:
        raise Unusable(
            f"it has schema version {version}, written by a newer gateway-sim (this one reads "
            f"version {VERSION} and migrates version 0)"
        )
    if not tables and version in (0, VERSION):
        return "empty", []
    if version == VERSION:
        expected = {name: tuple(rows.columns_of(name)) for name in rows.TABLES}
        _check(tables, expected, set(expected), version)
        return "current", sorted(tables)
    if version == 0:
        _check(tables, OLD_TABLES, OLD_REQUIRED, version)
        return "old", sorted(tables)
    raise Unusable(f"it has schema version {version}, which no gateway-sim writes")


def prepare(db: sqlite3.Connection, found: Found) -> Migrated | None:
    """Make an inspected file ready for this version: create its tables, or migrate it (and
    tell what the migration kept and dropped), in one transaction. It is inspected again once
    the transaction holds the write lock: another process may have made it ready meanwhile."""
    if found == "current":
        return None
    db.execute("BEGIN IMMEDIATE")
    try:
        found, tables = inspect(db)
        migrated = None
        if found == "empty":
            for statement in rows.create_statements():
                db.execute(statement)
        elif found == "old":
            migrated = migrate(db, tables)
        db.execute(f"PRAGMA user_version = {VERSION}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return migrated


def _tables(db: sqlite3.Connection) -> list[str]:
    """The tables of `db`, SQLite's own left out (views, indexes and triggers are let be: a
    user's trigger on gateway-sim's tables is theirs to add)."""
    found = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
        "ESCAPE '\\'"
    ).fetchall()
    return [str(name) for (name,) in found]


def _columns(db: sqlite3.Connection, table: str) -> tuple[str, ...]:
    quoted = table.replace('"', '""')
    return tuple(str(row[1]) for row in db.execute(f'PRAGMA table_info("{quoted}")'))


def _check(
    tables: dict[str, tuple[str, ...]],
    expected: dict[str, tuple[str, ...]],
    required: set[str] | frozenset[str],
    version: int,
) -> None:
    """Refuse tables that are not gateway-sim's (of `version`), or columns other than its."""
    foreign = sorted(set(tables) - set(expected))
    if foreign:
        raise Unusable(
            f"it is not a gateway-sim database: it has the tables {_names(foreign)} (schema "
            f"version {version})"
        )
    missing = sorted(required - set(tables))
    if missing:
        raise Unusable(
            f"it lacks gateway-sim's tables {_names(missing)} (schema version {version})"
        )
    for name, columns in sorted(tables.items()):
        if columns != expected[name]:
            raise Unusable(
                f"its table {name!r} has the columns {_names(columns)}, not gateway-sim's "
                f"{_names(expected[name])} (schema version {version})"
            )


def _names(names: tuple[str, ...] | list[str]) -> str:
    """Names from the file, quoted (so that the message stays one line), at most eight."""
    shown = ", ".join(repr(name[:40]) for name in names[:8])
    return shown + (", ..." if len(names) > 8 else "")
