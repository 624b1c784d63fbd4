"""Query-string filters of the control API: parsed and checked once (a value that cannot be used,
however long or odd, is a 400 naming its parameter), turned into store queries and into the
in-memory predicate that long-poll waiters use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway_sim.domain.numbers import is_digits, normalise
from gateway_sim.domain.records import KIND_TYPES, KINDS, OUTCOMES, Message
from gateway_sim.store.repository import ExchangeQuery, MessageQuery

MAX_LIMIT = 1000
MAX_SEQ = 2**63 - 1


class BadFilter(ValueError):
    """A filter value that cannot be used; answered with 400 and this message."""


@dataclass(frozen=True, slots=True)
class Filters:
    """The filters shared by `/_sim/messages`, `/_sim/messages/wait` and `/_sim/requests`."""

    to: str | None = None
    sender: str | None = None
    account: str | None = None
    type: int | None = None
    text: str | None = None
    since: float | None = None
    limit: int = 100
    cursor: int | None = None
    to_as_sent: str | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str], region: str) -> Filters:
        return cls(
            to=_recipient(params.get("to"), region),
            sender=params.get("from") or None,
            account=params.get("account") or None,
            type=_message_type(params.get("type")),
            text=params.get("text") or None,
            since=_since(params.get("since")),
            limit=_integer(params, "limit", 100, 1, MAX_LIMIT),
            cursor=_cursor(params.get("cursor")),
            to_as_sent=(params.get("to") or "").strip() or None,
        )

    def message_query(self) -> MessageQuery:
        return MessageQuery(
            to=self.to,
            sender=self.sender,
            account=self.account,
            type=self.type,
            text=self.text,
            since=self.since,
            limit=self.limit,
            cursor=self.cursor,
        )

    def exchange_query(self, params: Mapping[str, str]) -> ExchangeQuery:
        outcome = params.get("outcome") or None
        if outcome is not None and outcome not in OUTCOMES:
            raise BadFilter(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        return ExchangeQuery(
            to=self.to_as_sent,
            sender=self.sender,
            account=self.account,
            type=None if self.type is None else str(self.type),
            text=self.text,
            since=self.since,
            outcome=outcome,
            path=(params.get("path") or "").lower() or None,
            limit=self.limit,
            cursor=self.cursor,
        )

    def matches(self, message: Message) -> bool:
        """The same test as the store's query, for a message that has just been accepted."""
        return (
            (self.to is None or self.to in message.recipients)
            and (self.sender is None or self.sender == message.sender)
            and (self.account is None or self.account.casefold() == message.account.casefold())
            and (self.type is None or self.type == message.type)
            and (self.text is None or self.text in (message.text or ""))
            and (self.since is None or message.created_at.timestamp() >= self.since)
        )


def timeout_seconds(params: Mapping[str, str], default: float, most: float) -> float:
    raw = params.get("timeout")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadFilter(f"timeout must be a number of seconds, not {raw!r}") from None
    if not 0 <= value <= most:
        raise BadFilter(f"timeout must be from 0 to {most:g} seconds, not {raw!r}")
    return value


def _recipient(raw: str | None, region: str) -> str | None:
    """A recipient filter, normalised the way a send normalises it when it can be."""
    if not raw:
        return None
    entry = raw.strip()
    return normalise(entry, region, False) or entry.lstrip("+")


def _message_type(raw: str | None) -> int | None:
    if not raw:
        return None
    if raw in KIND_TYPES:
        return KIND_TYPES[raw]
    value = _whole_number(raw, max(KINDS))
    if value is not None and value in KINDS:
        return value
    allowed = ", ".join([*map(str, KINDS), *KIND_TYPES])
    raise BadFilter(f"type must be one of {allowed}, not {_shown(raw)}")


def _since(raw: str | None) -> float | None:
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace(" ", "+"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except (ValueError, OverflowError):  # year 1 east of UTC is before the calendar starts
        raise BadFilter(
            f"since must be an ISO 8601 time such as 2026-01-02T03:04:05Z, not {_shown(raw)}"
        ) from None


def _integer(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if not raw:
        return default
    value = _whole_number(raw, high)
    if value is None or value < low:
        raise BadFilter(f"{name} must be an integer from {low} to {high}, not {_shown(raw)}")
    return value


def _cursor(raw: str | None) -> int | None:
    if not raw:
        return None
    value = _whole_number(raw, MAX_SEQ)
    if value is None:
        shown = _shown(raw)
        raise BadFilter(f"cursor must be a next_cursor value from an earlier page, not {shown}")
    return value


def _whole_number(raw: str, most: int) -> int | None:
    """ASCII digits of a number from 0 to `most`, else None. Their count is checked before
    `int`, which refuses more than 4,300 digits (a 500 it was, for `limit=` and 5,000 digits)."""
    if not is_digits(raw):
        return None
    significant = raw.lstrip("0")
    if len(significant) > len(str(most)):
        return None
    value = int(significant or "0")
    return value if value <= most else None


def _shown(raw: str) -> str:
    """A refused value as the answer quotes it: at most 40 characters of it."""
    return repr(raw) if len(raw) <= 40 else f"{raw[:40]!r}…"
