"""The injected sources of nondeterminism: the clock and the message id counter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the current time; the domain never reads the system clock itself."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until moved (`--clock manual`, and tests)."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    def set(self, moment: datetime) -> None:
        """Move to `moment` (never backwards)."""
        self._now = max(self._now, moment)


ID_DIGITS = 20


class IdSource(Protocol):
    """Where message ids come from: a counter in this process, or a database's sequence that
    replicas share."""

    @property
    def next_value(self) -> int: ...

    def take(self) -> str: ...


class IdCounter:
    """Hands out message ids: decimal, zero-padded to 20 digits, one per accepted submission."""

    def __init__(self, start: int) -> None:
        self._next = start

    @property
    def next_value(self) -> int:
        return self._next

    def take(self) -> str:
        value = self._next
        self._next += 1
        return str(value).zfill(ID_DIGITS)
