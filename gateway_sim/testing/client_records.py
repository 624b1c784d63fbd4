"""The control API's answers as typed Python objects (frozen dataclasses made from its JSON), and
the errors `gateway_sim.testing.client.SimClient` raises: a refused control request
(`SimApiError`), and the two `AssertionError`s of its waiting and checking helpers, whose
messages say what happened instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from gateway_sim.domain.records import JournalOutcome

Outcome = JournalOutcome
"""How the journal classifies an answer (the one list, domain/records.py)."""


class SimApiError(Exception):
    """A control request the simulator refused (4xx/5xx): status, error code and detail."""

    def __init__(self, status: int, error: str, detail: str, body: Any = None) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail
        self.body = body


class MessageNotArrived(AssertionError):
    """`wait_for_message` timed out; the message lists what did arrive instead."""

    def __init__(
        self, text: str, *, filters: Mapping[str, str], recent: tuple[SimMessage, ...]
    ) -> None:
        super().__init__(text)
        self.filters = dict(filters)
        self.recent = recent


class RefusedRequests(AssertionError):
    """`assert_no_refused_requests` found requests that were not (wholly) accepted."""

    def __init__(self, text: str, requests: tuple[SimRequest, ...]) -> None:
        super().__init__(text)
        self.requests = requests


@dataclass(frozen=True, slots=True)
class SimContentPart:
    """The description of one MMS content part; fetch its bytes with `SimClient.part`."""

    n: int
    filename: str
    content_type: str
    size: int | None
    dropped: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SimContentPart:
        size = data.get("size")
        return cls(
            n=int(data["n"]),
            filename=str(data["filename"]),
            content_type=str(data["content_type"]),
            size=None if size is None else int(size),
            dropped=bool(data.get("dropped", False)),
        )


@dataclass(frozen=True, slots=True)
class SimMessage:
    """An accepted message, as `GET /_sim/messages` shows it (`sender` is the JSON `from`)."""

    id: str
    account: str
    endpoint: str
    type: int
    kind: str
    sender: str
    to: tuple[str, ...]
    rejected: tuple[str, ...]
    text: str | None
    encoding: str | None
    parts: int
    cost: Decimal
    truncated: bool
    created_at: datetime
    content: tuple[SimContentPart, ...]
    udh: str | None
    ud: str | None
    href: str | None
    delivery_report: bool
    user_context: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False, hash=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SimMessage:
        return cls(
            id=str(data["id"]),
            account=str(data["account"]),
            endpoint=str(data.get("endpoint", "")),
            type=int(data["type"]),
            kind=str(data["kind"]),
            sender=str(data["from"]),
            to=tuple(str(number) for number in data["to"]),
            rejected=tuple(str(number) for number in data.get("rejected", ())),
            text=_optional_str(data.get("text")),
            encoding=_optional_str(data.get("encoding")),
            parts=int(data["parts"]),
            cost=Decimal(str(data["cost"])),
            truncated=bool(data.get("truncated", False)),
            created_at=datetime.fromisoformat(str(data["created_at"])),
            content=tuple(SimContentPart.from_json(part) for part in data.get("content", ())),
            udh=_optional_str(data.get("udh")),
            ud=_optional_str(data.get("ud")),
            href=_optional_str(data.get("href")),
            delivery_report=bool(data.get("delivery_report", False)),
            user_context=_optional_str(data.get("user_context")),
            raw=dict(data),
        )

    def describe(self) -> str:
        """One line for a failure message: id, account, sender, recipients and text."""
        shown = self.text if self.text is not None else f"({self.kind})"
        return (
            f"{self.id} [{self.account}] from {self.sender or '(none)'} "
            f"to {', '.join(self.to)}: {shown!r} at {self.created_at.isoformat()}"
        )


@dataclass(frozen=True, slots=True)
class SimRequest:
    """One journal entry: a request to the emulated gateway, its answer and the reason."""

    seq: int | None
    at: datetime
    method: str
    path: str
    client: str
    fields: Mapping[str, str] = field(hash=False)
    files: tuple[Mapping[str, Any], ...] = field(hash=False)
    body_size: int
    """The request body's full size in bytes."""
    truncated: bool
    """The journal kept only part of this request (`raw_body`, `raw_query`, field values or the
    answer), to fit `--max-journal-body-bytes`; `raw` tells which."""
    status: int
    answer: str
    outcome: Outcome
    reason: str
    account: str | None
    message_id: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False, hash=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SimRequest:
        seq = data.get("seq")
        return cls(
            seq=None if seq is None else int(seq),
            at=datetime.fromisoformat(str(data["at"])),
            method=str(data["method"]),
            path=str(data["path"]),
            client=str(data.get("client", "")),
            fields={str(k): str(v) for k, v in dict(data.get("fields") or {}).items()},
            files=tuple(dict(f) for f in data.get("files") or ()),
            body_size=int(data.get("body_size", 0)),
            truncated=any(
                data.get(f"{part}_truncated") for part in ("body", "query", "fields", "answer")
            ),
            status=int(data["status"]),
            answer=str(data["answer"]),
            outcome=data["outcome"],
            reason=str(data.get("reason", "")),
            account=_optional_str(data.get("account")),
            message_id=_optional_str(data.get("message_id")),
            raw=dict(data),
        )

    def describe(self) -> str:
        """One line for a failure message: path, outcome, the exact answer and why."""
        shown = {k: v for k, v in self.fields.items() if k in ("username", "to", "from", "type")}
        given = " ".join(f"{k}={v!r}" for k, v in shown.items())
        status = "" if self.status == 200 else f"HTTP {self.status} "
        return (
            f"{self.method} {self.path} [{given}] -> {status}{self.answer.strip()!r} "
            f"({self.outcome}; reason: {self.reason})"
        )


@dataclass(frozen=True, slots=True)
class SimAccount:
    """An account as `GET /_sim/accounts` shows it; `balance` is whole credits (rounded down)."""

    username: str
    credit: Decimal
    balance: int
    default_sender: str
    default_country: str | None
    parent: str | None
    access_keys: tuple[str, ...] = ()
    """The account's access keys (their secret keys are never shown)."""
    daily_allowance: int | None = None
    daily_used: int = 0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SimAccount:
        allowance = data.get("daily_allowance")
        return cls(
            username=str(data["username"]),
            credit=Decimal(str(data["credit"])),
            balance=int(data["balance"]),
            default_sender=str(data.get("default_sender") or ""),
            default_country=_optional_str(data.get("default_country")),
            parent=_optional_str(data.get("parent")),
            access_keys=tuple(str(pair["accesskey"]) for pair in data.get("access_keys") or ()),
            daily_allowance=None if allowance is None else int(allowance),
            daily_used=int(data.get("daily_used") or 0),
        )


@dataclass(frozen=True, slots=True)
class SimHealth:
    """`GET /_sim/health`."""

    status: str
    version: str
    uptime_seconds: float


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)
