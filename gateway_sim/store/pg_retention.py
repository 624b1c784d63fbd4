"""The retention caps of a PostgreSQL store, held for the whole database: past
`--max-messages`, `--max-journal` and the status steps' and attempts' caps the oldest rows go;
past `--max-journal-bytes` the oldest journal entries go, and past `--max-content-bytes` the
oldest MMS parts lose their bytes (not their description), as a SQLite file's do (retention.py).

It runs about once a second, off the event loop on a connection of its own (`PgStore.retain`),
and by one replica at a time (an advisory lock that the others do not wait for): not in the
sends' transactions, where every replica's write deleted the same oldest rows as the others' and
replicas waited on each other's locks for seconds. Between two passes the tables can hold a
second's sends more than their caps.
"""

from __future__ import annotations

from typing import Any

import psycopg

from gateway_sim.store.retention import ROW_BYTES, Retention

RETAIN_KEY = 0x7265_7461_696E  # "retain": the advisory lock of the pass
JOURNAL_ROW_BYTES = ROW_BYTES.replace("length(", "octet_length(")
"""retention.ROW_BYTES in PostgreSQL's words: the same count of a journal row's bytes."""

DROP_JOURNAL = f"""
    DELETE FROM journal WHERE seq <= (
        SELECT seq FROM (
            SELECT seq, SUM({JOURNAL_ROW_BYTES}) OVER (ORDER BY seq DESC) AS newer
            FROM journal
        ) AS held WHERE newer > %s ORDER BY seq DESC LIMIT 1
    ) AND seq < (SELECT MAX(seq) FROM journal)"""
"""The oldest entries past the cap (the newest always stays)."""

DROP_CONTENT = """
    UPDATE parts SET data = NULL WHERE data IS NOT NULL AND message_seq <= (
        SELECT message_seq FROM (
            SELECT message_seq, SUM(size) OVER (ORDER BY message_seq DESC, n DESC) AS newer
            FROM parts WHERE data IS NOT NULL
        ) AS held WHERE newer > %s ORDER BY message_seq DESC LIMIT 1
    )"""
"""The bytes of the oldest messages' parts past the cap."""


def hold(db: psycopg.Connection[Any], retention: Retention) -> bool:
    """Hold the tables to their caps, in one transaction; False when another replica is at it
    now (it is left to that one)."""
    with db.transaction():
        taken = db.execute("SELECT pg_try_advisory_xact_lock(%s)", (RETAIN_KEY,)).fetchone()
        if not (taken and taken[0]):
            return False
        hold_counts(db, retention)
        db.execute(DROP_JOURNAL, (retention.max_journal_bytes,))
        db.execute(DROP_CONTENT, (retention.max_content_bytes,))
    return True


def hold_counts(db: psycopg.Connection[Any], retention: Retention) -> None:
    """The oldest messages (with their parts), journal entries,
    status steps and callback attempts past their counts go."""
    for table, cap in (
        ("messages", retention.max_messages),
        ("journal", retention.max_journal),
        ("statuses", retention.max_journal),
        ("attempts", retention.max_journal),
    ):
        cut = f"(SELECT MAX(seq) - {int(cap)} FROM {table})"
        if table == "messages":
            db.execute(f"DELETE FROM parts WHERE message_seq <= {cut}")
        db.execute(f"DELETE FROM {table} WHERE seq <= {cut}")
