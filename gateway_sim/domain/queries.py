"""The read queries of the listed resources, one model each: messages, journal entries and
callback attempts. The control API parses its query strings straight into them
(`control/filters.py`), and the store answers them; a message's query also tells whether a
message just accepted matches it (for the long-poll's waiters).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway_sim.domain.records import Message


@dataclass(frozen=True, slots=True)
class MessageQuery:
    """Filters of `GET /_sim/messages` and its long-poll; newest first, `cursor` continues
    after a page. `to` is normalised the way a send normalises a recipient."""

    to: str | None = None
    sender: str | None = None
    account: str | None = None
    type: int | None = None
    text: str | None = None
    since: float | None = None
    limit: int = 100
    cursor: int | None = None

    def matches(self, message: Message) -> bool:
        """The same test as the store's, for a message that has just been accepted."""
        return (
            (self.to is None or self.to in message.recipients)
            and (self.sender is None or self.sender == message.sender)
            and (self.account is None or self.account.casefold() == message.account.casefold())
            and (self.type is None or self.type == message.type)
            and (self.text is None or self.text in (message.text or ""))
            and (self.since is None or message.created_at.timestamp() >= self.since)
        )


@dataclass(frozen=True, slots=True)
class ExchangeQuery:
    """Filters of `GET /_sim/requests`; newest first. `to` and `type` are matched as the
    request gave them."""

    to: str | None = None
    sender: str | None = None
    account: str | None = None
    type: str | None = None
    text: str | None = None
    since: float | None = None
    outcome: str | None = None
    path: str | None = None
    limit: int = 100
    cursor: int | None = None


@dataclass(frozen=True, slots=True)
class AttemptQuery:
    """Filters of `GET /_sim/callbacks`; newest first."""

    message_id: str | None = None
    account: str | None = None
    outcome: str | None = None
    limit: int = 100
    cursor: int | None = None
