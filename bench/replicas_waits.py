"""What the replicas' database connections were doing during a measured run: pg_stat_activity
sampled every `INTERVAL` s from a thread, counted by state and wait event (a COMMIT waiting on
the WAL's fsync, a debit waiting on another transaction's row lock, a transaction idle while its
replica runs Python). One more connection, a few queries a second: a small cost to the server.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

INTERVAL = 0.05
_QUERY = (
    "SELECT state, wait_event_type, wait_event, left(query, 60) FROM pg_stat_activity "
    "WHERE datname = current_database() AND application_name = 'gateway-sim' "
    "AND pid <> pg_backend_pid() AND query NOT LIKE 'LISTEN%'"
)


class Waits:
    """Samples the connections of the database of `url`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.counts: Counter[str] = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self.rates: dict[str, float] = {}

    @contextmanager
    def sampling(self) -> Iterator[Waits]:
        """Sample from a thread for as long as the block runs."""
        thread = threading.Thread(target=self._sample, name="pg-waits", daemon=True)
        before = self._counters()
        started = time.monotonic()
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(10)
            seconds = time.monotonic() - started
            after = self._counters()
            self.rates = {name: (after[name] - before[name]) / seconds for name in after}

    def _counters(self) -> dict[str, int]:
        """The server's WAL flushes (all databases: only this run's write) and this database's
        commits (read-only autocommit statements, such as a `nextval`, included)."""
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as connection:
            wal = connection.execute("SELECT wal_sync FROM pg_stat_wal").fetchone()
            commits = connection.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
        return {
            "WAL flushes": int(wal[0]) if wal else 0,
            "commits": int(commits[0]) if commits else 0,
        }

    def _sample(self) -> None:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as connection:
            while not self._stop.wait(INTERVAL):
                self.samples += 1
                for state, kind, event, query in connection.execute(_QUERY).fetchall():
                    self.counts[describe(state, kind, event, query)] += 1

    def top(self, most: int = 6) -> str:
        """The counters' rates, then the commonest states, as the share of samples a connection
        was seen in them."""
        rates = ", ".join(f"{rate:,.0f} {name}/s" for name, rate in self.rates.items())
        if not self.samples:
            return f"{rates}; no samples"
        return f"{rates}; " + ", ".join(
            f"{what} {count / self.samples:.0%}" for what, count in self.counts.most_common(most)
        )


def describe(state: str | None, kind: str | None, event: str | None, query: str) -> str:
    """A connection's state in a few words: what it waits on, and in which statement."""
    words = query.split() or ["?"]
    # A savepoint's name changes with its depth: the verb alone.
    statement = words[0] if words[0] in ("SAVEPOINT", "RELEASE") else " ".join(words[:2])
    if state == "active":
        waiting = f"{kind}:{event}" if kind else "on CPU"
        return f"active {waiting} ({statement})"
    if state == "idle in transaction":
        return f"idle in transaction after {statement}"
    return str(state)
