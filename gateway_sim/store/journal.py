"""The journal of exchanges in memory (the default store; with a database file it is a SQLite
table, see queries.py): every exchange numbered as it comes, the newest kept within
`max_journal` entries and `max_journal_bytes` (each entry already cut by the store, see
entries.py), and found newest first by the filters of `GET /_sim/requests`, exactly as the SQL
query finds them.

Appending is all a request pays: a journal in SQLite cost more than the rest of a send, and under
load most of what it wrote was deleted by retention before anyone read it.
"""

from __future__ import annotations

import string
import threading
from datetime import datetime

from gateway_sim.domain.records import Exchange
from gateway_sim.store.entries import Entries
from gateway_sim.store.queries import ExchangeQuery

_ASCII_FOLD = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_GAP = Exchange(datetime.min, "", "", "", {}, 0, 0, "", "refused", "")
"""What stands in the place of a forgotten exchange (`forget_account`): never found."""


class Journal:
    """Exchanges in the order they came, the oldest dropped past the caps. An exchange's
    sequence number is its position: the newest has the last number given, the others count
    down from it (no number is stored per exchange)."""

    def __init__(self, cap: int, max_bytes: int, first_seq: int = 1) -> None:
        self._entries = Entries(cap, max_bytes)
        self._last = first_seq - 1
        self._lock = threading.Lock()  # the entries and the last number, read together

    def record(self, exchange: Exchange, size: int) -> None:
        """Keep `exchange`, cut by the store to what an entry may hold and of `size` bytes (see
        entries.fit)."""
        with self._lock:
            self._entries.append(exchange, size)
            self._last += 1

    def clear(self) -> None:
        """Forget every exchange; numbering carries on."""
        with self._lock:
            self._entries.clear()

    def forget_account(self, username: str) -> int:
        """Forget the exchanges of account `username` (ignoring ASCII case, as the filter
        does); how many. The others keep their numbers: each forgotten one leaves a gap, which
        counts against `max_journal` until it ages out."""
        with self._lock:
            return self._entries.replace(lambda e: _same_nocase(e.account, username), _GAP)

    def find(self, query: ExchangeQuery) -> list[tuple[int, Exchange]]:
        """Exchanges matching `query`, newest first, with their sequence numbers."""
        with self._lock:
            entries, seq = self._entries.items.copy(), self._last
        found: list[tuple[int, Exchange]] = []
        for exchange in reversed(entries):
            if (
                exchange is not _GAP
                and (query.cursor is None or seq < query.cursor)
                and matches(exchange, query)
            ):
                found.append((seq, exchange))
                if len(found) >= query.limit:
                    break
            seq -= 1
        return found


def matches(exchange: Exchange, query: ExchangeQuery) -> bool:
    """The SQL filter of `queries.exchanges`: `account` and `path` equal ignoring ASCII case
    (SQLite's NOCASE), `from`, `type` and `outcome` equal, `to` and `text` contained."""
    fields = exchange.fields
    return (
        (query.account is None or _same_nocase(exchange.account, query.account))
        and (query.sender is None or fields.get("from") == query.sender)
        and (query.type is None or fields.get("type") == query.type)
        and (query.outcome is None or exchange.outcome == query.outcome)
        and (query.path is None or _same_nocase(exchange.path, query.path))
        and (query.to is None or _contains(fields.get("to"), query.to))
        and (query.text is None or _contains(fields.get("text"), query.text))
        and (query.since is None or exchange.at.timestamp() >= query.since)
    )


def _same_nocase(value: str | None, wanted: str) -> bool:
    return value is not None and value.translate(_ASCII_FOLD) == wanted.translate(_ASCII_FOLD)


def _contains(value: str | None, part: str) -> bool:
    return value is not None and part in value
