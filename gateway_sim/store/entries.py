"""What one journal entry may hold and what it costs: `cut` keeps at most
`Retention.max_journal_body_bytes` of each thing a client sent into an exchange (the raw body and
query, each string echoed from the request, the answer; the fields twice that in all),
`entry_bytes` estimates the bytes an exchange holds (`fit` does both at once), and `Entries`
holds exchanges to a count and to `Retention.max_journal_bytes` of those estimates, the oldest
dropped first.

Without the cut an entry held every byte sent (bench/RESULTS.md, "Measures behind the bounds").
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gateway_sim.domain.records import Exchange, KeptFields

ENTRY_BYTES = 500
"""What an exchange holds besides the characters `entry_bytes` counts: the record and its slots,
its time, its strings' headers, its short strings, its place in the queue and its size's (about
400 bytes for a plain send, measured with tracemalloc; rounded up)."""
FIELD_BYTES = 100
"""What a kept field holds besides its characters: two string headers and a dictionary slot."""
FILE_BYTES = 300
"""What a file's description holds besides its name and type: a small dictionary."""
FILE_CHARACTERS = 64
"""What a file's description counts for besides its name and type when an entry is cut: about
what the part's headers take on the wire, so the descriptions kept are about what a raw body of
`limit` bytes could describe."""


def fit(exchange: Exchange, limit: int, raw_limit: int | None = None) -> tuple[Exchange, int]:
    """`cut(exchange, limit, raw_limit)` and its `entry_bytes`, the lengths read once for the
    common case, a small request whose fields are parsed again when read."""
    raw = limit if raw_limit is None else raw_limit
    account = exchange.account
    body, query = len(exchange.body), len(exchange.query)
    answer, reason = len(exchange.answer), len(exchange.reason)
    named = 0 if account is None else len(account)
    if (
        exchange.parsed is None
        and not exchange.files
        and body <= raw
        and query <= raw
        and answer <= limit
        and reason <= limit
        and named <= limit
        and len(exchange.method) <= limit
    ):
        return exchange, ENTRY_BYTES + body + query + answer + reason + named
    exchange = cut(exchange, limit, raw)
    return exchange, entry_bytes(exchange)


def cut(exchange: Exchange, limit: int, raw_limit: int | None = None) -> Exchange:
    """`exchange` itself if it holds no more than `limit` characters of anything a client sent
    (and no more than `raw_limit`, default `limit`, bytes of raw body and of raw query), else a
    copy cut to them. A cut copy keeps its fields parsed (`KeptFields`: the cut raw bytes could
    not give them again), no more than a whole query and body of `limit` bytes each could give:
    `2 * limit` characters and `limit` fields."""
    raw = limit if raw_limit is None else raw_limit
    parsed = exchange.parsed
    if (
        len(exchange.body) <= raw
        and len(exchange.query) <= raw
        and len(exchange.answer) <= limit
        and len(exchange.reason) <= limit
        and len(exchange.method) <= limit
        and (exchange.account is None or len(exchange.account) <= limit)
        and (parsed is None or (len(parsed) <= limit and _characters(parsed) <= 2 * limit))
        and (not exchange.files or _file_characters(exchange.files) <= limit)
    ):
        return exchange
    fields, fields_cut = _cut_fields(exchange.fields, limit)  # parsed from the whole bytes
    files, files_cut = _cut_files(exchange.files, limit)
    account = exchange.account
    account_cut = account is not None and len(account) > limit
    kept = KeptFields(
        fields,
        body_cut=len(exchange.body) > raw,
        query_size=len(exchange.query),
        fields_cut=fields_cut or files_cut or account_cut,
        answer_cut=len(exchange.answer) > limit,
    )
    reason = exchange.reason
    return dataclasses.replace(
        exchange,
        parsed=kept,
        body=exchange.body[:raw],
        query=exchange.query[:raw],
        answer=exchange.answer[:limit],
        # the reason is the simulator's prose (quoting what was sent): a mark says it goes on
        reason=reason if len(reason) <= limit else reason[:limit] + "\u2026",
        method=exchange.method[:limit],
        account=None if account is None else account[:limit],
        files=files,
    )


def entry_bytes(exchange: Exchange) -> int:
    """An estimate of the bytes `exchange` holds: the lengths of the strings a client can make
    long, and a fixed overhead that covers the short ones (message id, rule name, `host:port`;
    the method and path are interned, one string for every request that sends them)."""
    account = exchange.account
    size = (
        ENTRY_BYTES
        + len(exchange.body)
        + len(exchange.query)
        + len(exchange.answer)
        + len(exchange.reason)
        + (0 if account is None else len(account))
    )
    if exchange.parsed is not None:
        size += _fields_bytes(exchange.parsed)
    if exchange.files:
        size += _files_bytes(exchange.files)
    return size


class Entries:
    """Exchanges oldest first, held to `count` of them and to `max_bytes` of their
    `entry_bytes`; the oldest go first, but the newest always stays (a journal that dropped the
    request just made would only confuse). Not thread-safe: its owner locks."""

    def __init__(self, count: int, max_bytes: int) -> None:
        self.items: deque[Exchange] = deque()
        self._sizes: deque[int] = deque()
        """Each item's `entry_bytes`, kept rather than worked out again as it goes: a few
        dozen bytes each, and the request path pays one estimate, not two."""
        self.bytes = 0
        self.count = count
        self.max_bytes = max_bytes

    def append(self, exchange: Exchange, size: int) -> int:
        """Add `exchange` (of `entry_bytes` `size`) and drop the oldest past the caps; how many
        were dropped."""
        items, sizes = self.items, self._sizes
        items.append(exchange)
        sizes.append(size)
        self.bytes += size
        dropped = 0
        while items and (
            len(items) > self.count or (len(items) > 1 and self.bytes > self.max_bytes)
        ):
            items.popleft()
            self.bytes -= sizes.popleft()
            dropped += 1
        return dropped

    def replace(self, gone: Callable[[Exchange], bool], by: Exchange) -> int:
        """Put `by` (of no size) in the place of each item `gone` says to drop, so that the
        others keep their places; how many were."""
        items: deque[Exchange] = deque()
        sizes: deque[int] = deque()
        replaced = 0
        for exchange, size in zip(self.items, self._sizes, strict=True):
            dropped = exchange is not by and gone(exchange)
            items.append(by if dropped else exchange)
            sizes.append(0 if dropped else size)
            if dropped:
                self.bytes -= size
                replaced += 1
        self.items, self._sizes = items, sizes
        return replaced

    def take_all(self) -> list[Exchange]:
        taken = list(self.items)
        self.clear()
        return taken

    def clear(self) -> None:
        self.items.clear()
        self._sizes.clear()
        self.bytes = 0


def _fields_bytes(fields: Mapping[str, str]) -> int:
    return sum(len(name) + len(value) + FIELD_BYTES for name, value in fields.items())


def _files_bytes(files: Sequence[Mapping[str, Any]]) -> int:
    return sum(
        FILE_BYTES + len(str(f.get("filename", ""))) + len(str(f.get("content_type", "")))
        for f in files
    )


def _characters(fields: Mapping[str, str]) -> int:
    return sum(len(name) + len(value) for name, value in fields.items())


def _file_characters(files: Sequence[Mapping[str, Any]]) -> int:
    return sum(
        FILE_CHARACTERS + len(str(f.get("filename", ""))) + len(str(f.get("content_type", "")))
        for f in files
    )


def _cut_fields(fields: Mapping[str, str], limit: int) -> tuple[dict[str, str], bool]:
    """`fields` within `limit` fields and `2 * limit` characters, and whether anything was cut.
    The names (each cut to `limit`) may take half of those characters, in order (only thousands
    of fields fill that); the values share the rest, the longest cut first."""
    if len(fields) <= limit and _characters(fields) <= 2 * limit:
        return dict(fields), False
    names: list[tuple[str, str]] = []
    room = limit
    for name, value in fields.items():
        if len(names) >= limit or min(len(name), limit) > room:
            break
        room -= min(len(name), limit)
        names.append((name[:limit], value))
    level = _level([len(value) for _, value in names], limit + room)
    kept = {name: value[:level] for name, value in names}
    return kept, True


def _level(lengths: list[int], room: int) -> int:
    """The longest a value may stay so that all of `lengths` fit in `room` characters: the
    shortest are kept whole and the rest share what they leave equally."""
    left = len(lengths)
    for length in sorted(lengths):
        if length * left > room:
            return room // left
        room -= length
        left -= 1
    return max(lengths, default=0)


def _cut_files(
    files: Sequence[dict[str, Any]], limit: int
) -> tuple[Sequence[dict[str, Any]], bool]:
    """The descriptions of `files` that fit in `limit` (as `_file_characters` counts), in
    order, each name and type cut to it; and whether any was cut or left out."""
    if not files or _file_characters(files) <= limit:
        return files, False
    kept: list[dict[str, Any]] = []
    room = limit
    for described in files:
        shown = {
            **described,
            "filename": str(described.get("filename", ""))[:limit],
            "content_type": str(described.get("content_type", ""))[:limit],
        }
        cost = _file_characters([shown])
        if cost > room:
            break
        room -= cost
        kept.append(shown)
    return tuple(kept), True
