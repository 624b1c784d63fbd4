"""The byte caps of a PostgreSQL store (`--max-journal-bytes`, `--max-content-bytes`), held for
the whole database: the journal's oldest entries go, and the oldest MMS parts lose their bytes
(not their description), as a SQLite file's do (retention.py). Counting bytes takes a pass over
the table, so it runs about once a second on a connection of its own, off the event loop
(`PgStore.retain_bytes`); the counts (`--max-messages`, `--max-journal`) are held at every write.
"""

from __future__ import annotations

from typing import Any

import psycopg

from gateway_sim.store.retention import ROW_BYTES, Retention

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


def hold_bytes(db: psycopg.Connection[Any], retention: Retention) -> None:
    """Hold the journal and the content bytes to their caps, in one transaction."""
    with db.transaction():
        db.execute(DROP_JOURNAL, (retention.max_journal_bytes,))
        db.execute(DROP_CONTENT, (retention.max_content_bytes,))


def hold_counts(db: psycopg.Connection[Any], retention: Retention) -> None:
    """Inside a write's transaction: the oldest messages (with their parts), journal entries,
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
