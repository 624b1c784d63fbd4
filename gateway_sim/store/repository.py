"""The store as the rest of the simulator sees it: `Repository`, every read and write the
layers above need, and nothing of the engine behind it. `store.Store` (SQLite, written behind
the request path by batching.py) implements it; `open_store` opens one for `--db` (or in
memory), so that nothing above the store names the engine it has. The queries a read takes, the
retention limits, and what opening a file may raise (`Unusable`, a file of another schema or
version) come from here too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from gateway_sim.domain.clock import IdSource
from gateway_sim.domain.errors import GatewayError, InternalError
from gateway_sim.domain.records import Attempt, ContentPart, Exchange, Message, StatusChange
from gateway_sim.domain.rules import SharedCounters
from gateway_sim.store.batching import Observer
from gateway_sim.store.migration import Migrated
from gateway_sim.store.queries import AttemptQuery, ExchangeQuery, MessageQuery
from gateway_sim.store.retention import Retention
from gateway_sim.store.rows import VERSION, Unusable

__all__ = [
    "VERSION",
    "AttemptQuery",
    "ExchangeQuery",
    "MessageQuery",
    "Observer",
    "Repository",
    "Retention",
    "Shared",
    "Unavailable",
    "Unusable",
    "is_url",
    "shown",
]


class Repository(Protocol):
    """Messages, their parts and statuses, the request journal, callback attempts, callbacks
    still to deliver, and the saved state (accounts, credit, id counter)."""

    retention: Retention
    migrated: Migrated | None
    """What the migration of an older database file kept and dropped, if it had one."""
    observers: list[Observer]
    """Each is handed, every few milliseconds, the messages, journal entries, status steps and
    callback attempts the store was given since, in the order they came (batching.py)."""
    snapshot: Callable[[], dict[str, str]] | None
    """Called at each write of a persistent store: the state to save."""
    unstored: Callable[[Message], None] | None
    """Told of each message that could not be written (its cost is refunded)."""

    @property
    def persistent(self) -> bool:
        """Whether what is kept outlives the process (a database file)."""
        ...

    @property
    def keeps_journal_in_memory(self) -> bool:
        """Whether the journal is held in memory (so its raw bytes can be parsed again)."""
        ...

    # -- writes
    def add(self, message: Message) -> None: ...
    def record(self, exchange: Exchange) -> None: ...
    def add_status(self, change: StatusChange) -> None: ...
    def record_attempt(self, attempt: Attempt) -> None: ...
    def keep_pending(self, item_id: int, due: datetime, record: Mapping[str, Any]) -> None: ...
    def forget_pending(self, item_id: int) -> None: ...
    def state_changed(self) -> None: ...
    def clear(self, *, journal: bool = False) -> int: ...
    def forget_account(self, username: str) -> int:
        """Delete what account `username` (ignoring case) left, and nothing of any other:
        its messages, sent and received (with their parts and status steps), its journal
        entries, its callback attempts and the callbacks still to deliver to it; how many
        messages. What was pending is written first, so nothing of it comes after."""
        ...

    def flush(self) -> None: ...
    def close(self) -> None: ...

    def credit_changed(
        self, username: str, *, add: Decimal | None = None, to: Decimal | None = None
    ) -> Decimal | None:
        """An account's credit was topped up (`add`) or set (`to`) outside a send; the credit the
        ledger has then, when the ledger is shared (None: the account's own is right)."""
        ...

    def started_over(self, scenario: str) -> None:
        """Accounts and the id counter were replaced whole, from `scenario` (its JSON): a reset or
        a scenario load."""
        ...

    def problem(self) -> str | None:
        """Why the store cannot serve now (a shared database out of reach), or None."""
        ...

    def refusal(self, message_id: str) -> GatewayError | None:
        """Why message `message_id` was not stored, when a shared ledger refused it (its credit
        there did not cover it), rather than a write failing."""
        ...

    async def committed(self, message_id: str) -> bool:
        """Wait until what was added so far is written; whether message `message_id` was."""
        ...

    def when_committed(self, message_id: str, then: Callable[[bool], None]) -> None:
        """`committed`, for a send that can no longer wait: `then(written)` once it is done."""
        ...

    # -- reads (each first writes what is pending)
    def get(self, message_id: str) -> Message | None: ...
    def messages(self, query: MessageQuery) -> list[tuple[int, Message]]: ...
    def part(self, message_id: str, n: int) -> ContentPart | None: ...
    def statuses(self, message_id: str) -> list[StatusChange]: ...
    def attempts(self, query: AttemptQuery) -> list[tuple[int, Attempt]]: ...
    def exchanges(self, query: ExchangeQuery) -> list[tuple[int, Exchange]]: ...
    def pending(self) -> list[tuple[datetime, dict[str, Any]]]: ...
    def state(self) -> dict[str, str]: ...
    def __iter__(self) -> Iterator[Message]: ...
    def __len__(self) -> int: ...


class Unavailable(InternalError):
    """A shared database cannot be reached now, or refused a statement: a send is answered
    `ERR:INTERNAL_ERROR` (clients fail over), the control API 503."""


@runtime_checkable
class Shared(Repository, Protocol):
    """A store that several replicas share (PostgreSQL): the ledger, the ids and the news of
    what other replicas changed are the database's."""

    shared: bool
    credited: Callable[[str, Decimal], None] | None
    """Told of an account's credit as the ledger has it after a write."""

    def ids(self, start: int) -> IdSource:
        """The gateway's id source: the shared sequence."""
        ...

    def seed(self, scenario: str) -> bool:
        """Give a fresh database this replica's scenario (its JSON) and saved state; whether it
        was fresh."""
        ...

    def credit_of(self, username: str) -> Decimal | None:
        """An account's credit in the shared ledger now."""
        ...

    def accounts(self) -> list[dict[str, Any]]:
        """Every account as the database has it (`Accounts.from_saved`)."""
        ...

    def scenario(self) -> str | None:
        """The scenario in force (its JSON), as the last start-over stored it."""
        ...

    def clock_moved(self, now: str) -> None:
        """A manual clock was moved to `now` (ISO 8601): every replica's moves with it."""
        ...

    def clock(self) -> str | None:
        """Where the manual clocks were last moved to, if they were."""
        ...

    def adopt(self) -> list[tuple[datetime, dict[str, Any]]]:
        """The callbacks held by replicas that are gone, now this one's to deliver."""
        ...

    def retain(self) -> None:
        """Hold the tables to their caps (a pass over them: off the event loop)."""
        ...

    def callback_ids_from(self) -> int:
        """Where this replica's callback ids start (each replica has its own range)."""
        ...

    def counters(self) -> SharedCounters:
        """The rule counters the replicas share."""
        ...

    def rule_added(self, name: str, spec: str) -> bool:
        """A rule (`spec`, its JSON) added, for every replica; False when one of that name is."""
        ...

    def rule_removed(self, name: str) -> None: ...
    def rule_switched(self, name: str, enabled: bool) -> None: ...

    def rules(self) -> list[tuple[dict[str, Any], bool]]:
        """The rules in force, in order, each with whether it is on."""
        ...

    def notifications(self) -> AsyncIterator[tuple[str, list[str]]]:
        """What the other replicas tell, as a kind and its words."""
        ...


def shared(store: Repository) -> Shared | None:
    """`store`, if replicas share it."""
    return store if isinstance(store, Shared) else None


def is_url(db: str) -> bool:
    """Whether `--db` names a PostgreSQL database (a URL) rather than a SQLite file."""
    return db.startswith(("postgresql://", "postgres://"))


def shown(db: str) -> str:
    """`--db` as a line may show it: a URL's password left out."""
    if not is_url(db):
        return db
    parts = urlsplit(db)
    if parts.password is None:
        return db
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
