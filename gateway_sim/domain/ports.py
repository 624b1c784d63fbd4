"""What the domain needs from the world below it, as protocols: the store implements them, and
the domain names no store (so a store of another engine can stand behind the same gateway)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from gateway_sim.domain.records import Message


class MessageLog(Protocol):
    """Where the gateway keeps the messages it accepts."""

    unstored: Callable[[Message], None] | None
    """Told of each message that could not be written (the gateway refunds its cost)."""

    @property
    def persistent(self) -> bool:
        """Whether messages outlive the process (then a send waits for its commit)."""
        ...

    def add(self, message: Message) -> None:
        """Keep `message` (written in a batch soon after)."""
        ...

    def get(self, message_id: str) -> Message | None:
        """The message of that id, if it is kept."""
        ...

    def state_changed(self) -> None:
        """Accounts or the id counter changed outside a send: save them at the next write."""
        ...
