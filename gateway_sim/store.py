"""The record of accepted messages, behind one small interface (`MessageStore`).

`MemoryStore` keeps them in process memory, oldest first; a SQLite-backed store can replace it
without touching the domain.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ContentPart:
    """One MMS content file, kept byte for byte."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Message:
    """An accepted submission: one id shared by all its routable recipients."""

    id: str
    account: str
    endpoint: str
    type: int
    kind: str
    sender: str
    recipients: tuple[str, ...]
    rejected: tuple[str, ...]
    text: str | None
    encoding: str | None
    parts: int
    cost: Decimal
    truncated: bool
    created_at: datetime
    content: tuple[ContentPart, ...] = ()
    udh: str | None = None
    ud: str | None = None
    href: str | None = None
    delivery_report: bool = False
    user_context: str | None = None


class MessageStore(Protocol):
    """Where accepted messages are kept."""

    def add(self, message: Message) -> None: ...

    def get(self, message_id: str) -> Message | None: ...

    def __iter__(self) -> Iterator[Message]: ...

    def __len__(self) -> int: ...

    def clear(self) -> None: ...


class MemoryStore:
    """Messages in a dict, in the order they were accepted."""

    def __init__(self) -> None:
        self._messages: dict[str, Message] = {}

    def add(self, message: Message) -> None:
        self._messages[message.id] = message

    def get(self, message_id: str) -> Message | None:
        return self._messages.get(message_id)

    def __iter__(self) -> Iterator[Message]:
        return iter(list(self._messages.values()))

    def __len__(self) -> int:
        return len(self._messages)

    def clear(self) -> None:
        self._messages.clear()
