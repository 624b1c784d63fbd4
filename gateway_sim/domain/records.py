"""The records the simulator keeps: accepted messages, their content parts, and exchanges (one per
request, with its answer and the reason for it). The control API shows them through its views
(`gateway_sim.control.views`).

`Message` and `Exchange` are made on every request, so they are plain slotted dataclasses, not
frozen ones (whose initialiser is several times slower); nothing changes them after creation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, get_args

from gateway_sim.domain.limits import DEFAULT_LIMITS

KINDS = {1: "text", 2: "unicode", 3: "binary", 4: "wap_push", 5: "mms", 6: "voice"}
"""Message types (README, "What is simulated") and the kind names the control API and rules use."""
KIND_TYPES = {kind: number for number, kind in KINDS.items()}

JournalOutcome = Literal["accepted", "partial", "refused", "answered", "http_error"]
OUTCOMES: tuple[JournalOutcome, ...] = get_args(JournalOutcome)
SECRET_FIELDS = frozenset({"password", "secretkey", "subacc_password"})
MASK = "***"
RAW_LIMIT = DEFAULT_LIMITS.max_journal_body_bytes
"""The default of how much of its raw body and query a journal entry keeps (the store is handed
the `Retention.max_journal_body_bytes` in force; a database file's rows keep no more than this)."""
_SECRET_RAW = re.compile(rb"(?i)(^|&)(password|secretkey|subacc_password)=[^&]*")
_SECRET_JSON = re.compile(  # a secret cut off with the raw body has no closing quote
    rb'(?i)("(?:password|secretkey|subacc_password)"\s*:\s*)"(?:[^"\\]|\\.)*(?:"|\\?\Z)'
)


@dataclass(frozen=True, slots=True)
class ContentPart:
    """One MMS content file, kept byte for byte (until retention drops the bytes)."""

    filename: str
    content_type: str
    data: bytes
    dropped: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryPlan:
    """How a message's delivery reports go: a rule's `delivery` (rule_schema.Delivery), or the
    default timeline (2, 3, then 4, a step apart)."""

    final: int = 4
    steps: tuple[int, ...] = (2, 3)
    delay_seconds: float | None = None
    never: bool = False
    duplicate: bool = False
    out_of_order: bool = False
    before_answer: bool = False

    def to_json(self) -> dict[str, Any]:
        """As the control API and the store show it: the pathologies only while on."""
        shown: dict[str, Any] = {
            "final": self.final,
            "steps": list(self.steps),
            "delay_seconds": self.delay_seconds,
            "never": self.never,
        }
        for bent in ("duplicate", "out_of_order", "before_answer"):
            if getattr(self, bent):
                shown[bent] = True
        return shown

    @classmethod
    def of_json(cls, shown: Mapping[str, Any]) -> DeliveryPlan:
        return cls(**{**shown, "steps": tuple(shown.get("steps", (2, 3)))})


@dataclass(frozen=True, slots=True)
class ReplyPlan:
    """A message's automatic replies (a rule's `reply`): each recipient (of `only`, when the
    rule's `to` chose some) replies after `after_seconds`, with `text` or a seeded sentence."""

    after_seconds: float = 3
    text: str | None = None
    only: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"after_seconds": self.after_seconds, "text": self.text}
        if self.only is not None:
            shown["only"] = list(self.only)
        return shown

    @classmethod
    def of_json(cls, shown: Mapping[str, Any]) -> ReplyPlan:
        only = shown.get("only")
        return cls(shown["after_seconds"], shown.get("text"), None if only is None else tuple(only))


@dataclass(slots=True)
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
    rule: str | None = None
    delivery: DeliveryPlan | None = None
    direction: Literal["outbound", "inbound"] = "outbound"
    reply_to: str | None = None
    network_code: str | None = None
    auto_reply: ReplyPlan | None = None


FieldParser = Callable[[bytes, bytes, str], dict[str, str]]
"""The wire's parser of a request's fields: (query, body, content type) -> fields."""


class KeptFields(dict[str, str]):
    """The fields of a journal entry that was cut to `max_journal_body_bytes` (kept parsed, as
    the cut raw bytes could not give them again), and what was cut: whether the raw body was,
    the raw query's full size, whether field values (or file descriptions, or the account) were
    cut, and whether the answer was. The notes ride with the fields so that a database file's
    journal keeps them too (rows.py writes them beside the fields)."""

    __slots__ = ("answer_cut", "body_cut", "fields_cut", "query_size")

    def __init__(
        self,
        fields: Mapping[str, str],
        *,
        body_cut: bool,
        query_size: int,
        fields_cut: bool,
        answer_cut: bool,
    ) -> None:
        super().__init__(fields)
        self.body_cut = body_cut
        self.query_size = query_size
        self.fields_cut = fields_cut
        self.answer_cut = answer_cut


@dataclass(slots=True)
class Exchange:
    """One request to the emulated gateway and what it was answered, with the reason why.

    Its fields are either `parsed` (kept as they were parsed) or, with `parsed` None, parsed
    again from the raw query and body and `content_type` when read, by the `parser` the wire
    hands over with them (so the domain needs no wire): the journal holds tens of thousands of
    exchanges, most never read, and a fields dictionary with its strings is most of what one
    would hold (keeping it costs send rate under load, in memory traffic).
    """

    at: datetime
    method: str
    path: str
    client: str
    parsed: dict[str, str] | None
    body_size: int
    status: int
    answer: str
    outcome: JournalOutcome
    reason: str
    account: str | None = None
    message_id: str | None = None
    rule: str | None = None
    files: Sequence[dict[str, Any]] = ()
    query: bytes = b""
    body: bytes = b""
    seconds: float = 0.0
    """From the request's start to its answer sent (for the latency metric; not stored)."""
    content_type: str = ""
    parser: FieldParser | None = None
    """With `parsed` None: how the wire reads fields from (query, body, content type)."""

    @property
    def fields(self) -> dict[str, str]:
        """The request's fields (query and body merged), as the gateway read them."""
        if self.parsed is not None:
            return self.parsed
        if self.parser is None:
            return {}
        return self.parser(self.query, self.body, self.content_type)


@dataclass(slots=True)
class StatusChange:
    """One step of a recipient's delivery status (README, "What is simulated": delivery reports)."""

    message_id: str
    recipient: str
    status: int
    at: datetime


@dataclass(slots=True)
class Attempt:
    """One try at delivering a callback, and how it went."""

    at: datetime
    callback: int
    attempt: int
    kind: str
    account: str
    message_id: str | None
    url: str
    fields: Any
    status: int | None
    latency_ms: float
    error: str | None
    outcome: str


Record = Message | Exchange | StatusChange | Attempt
"""Anything the store keeps that its observers are handed."""


def outcome_of_answer(status: int, answer: str) -> JournalOutcome:
    """Classify an answer: accepted, partly accepted, refused, answered (non-send), HTTP error."""
    if status != 200:
        return "http_error"
    has_id = "ID:" in answer
    has_error = "ERR:" in answer
    if has_id:
        return "partial" if has_error else "accepted"
    return "refused" if has_error else "answered"


def masked_raw(raw: bytes) -> str:
    """Raw form or JSON bytes as text, with passwords and secret keys replaced by `***`."""
    masked = _SECRET_RAW.sub(rb"\1\2=***", raw)
    if b'"' in masked:
        masked = _SECRET_JSON.sub(rb'\1"***"', masked)
    return masked.decode("utf-8", "backslashreplace")
