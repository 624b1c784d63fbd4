"""The control API's views of what the simulator keeps: a message (with its content parts and
delivery statuses), a journal entry and a callback attempt, their pages, and the live feed's
events made from them (`live_event`, handed to `inbox.feed.Feed`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, WithJsonSchema

from gateway_sim.control.views import SHOWN, Credits, Moment, Page, Seq, View
from gateway_sim.domain.records import (
    KINDS,
    MASK,
    SECRET_FIELDS,
    Attempt,
    ContentPart,
    Exchange,
    JournalOutcome,
    KeptFields,
    Message,
    StatusChange,
    masked_raw,
)
from gateway_sim.domain.rule_schema import AutoReply, Delivery

AttemptOutcome = Literal["delivered", "retrying", "failed"]
ATTEMPT_OUTCOMES: tuple[AttemptOutcome, ...] = get_args(AttemptOutcome)


def _shown_plan(model: type[BaseModel]) -> Any:
    """A message's delivery or reply plan: shown as the rule's model shows it."""
    ref = {"$ref": SHOWN.format(model=model.__name__)}
    return WithJsonSchema({"anyOf": [ref, {"type": "null"}]})


class ContentPartView(View):
    """One MMS content part; its bytes are at `/_sim/messages/{id}/parts/{n}`."""

    n: int = Field(ge=0, description="The part's position (0-based).")
    filename: str
    content_type: str
    size: Annotated[int, Field(ge=0)] | None = Field(
        description="Bytes; null once retention dropped them."
    )
    dropped: bool = False

    @classmethod
    def of(cls, part: ContentPart, n: int) -> ContentPartView:
        size = None if part.dropped else len(part.data)
        return cls.model_construct(
            n=n,
            filename=part.filename,
            content_type=part.content_type,
            size=size,
            dropped=part.dropped,
        )


class StatusView(View):
    """One step of a recipient's delivery status."""

    to: str = Field(description="The recipient.")
    status: int = Field(
        ge=0, le=12, description="2 queued, 3 sent, 4 delivered, ... (README: delivery reports)."
    )
    at: Moment

    @classmethod
    def of(cls, change: StatusChange) -> StatusView:
        return cls.model_construct(to=change.recipient, status=change.status, at=change.at)


class MessageView(View):
    """An accepted message (`sender` is the JSON `from`), with its delivery status history."""

    id: str = Field(pattern="^[0-9]+$", examples=["10011000000000000001"])
    account: str = Field(description="The account that sent it.")
    endpoint: str = Field("", description="The gateway path it came in on.")
    type: int = Field(ge=min(KINDS), le=max(KINDS))
    kind: str = Field(json_schema_extra={"enum": list(KINDS.values())})
    sender: str = Field(
        validation_alias=AliasChoices("from", "sender"),
        serialization_alias="from",
        description="The sender as given, else the account's default sender.",
    )
    to: tuple[str, ...] = Field(description="Routable recipients, international digits.")
    rejected: tuple[str, ...] = Field((), description="Entries of `to` that were not accepted.")
    text: str | None
    encoding: Literal["gsm7", "ucs2"] | None = None
    parts: int = Field(ge=0)
    cost: Credits
    truncated: bool = False
    created_at: Moment
    content: tuple[ContentPartView, ...] = ()
    udh: str | None = None
    ud: str | None = None
    href: str | None = None
    delivery_report: bool = False
    user_context: str | None = None
    rule: str | None = Field(None, description="The scenario rule that fired for it, if one did.")
    delivery: Annotated[dict[str, Any] | None, _shown_plan(Delivery)] = None
    direction: Literal["outbound", "inbound"] = "outbound"
    reply_to: str | None = Field(None, description="The message an inbound reply answers.")
    network_code: str | None = Field(None, description="Of an inbound message on a short code.")
    auto_reply: Annotated[dict[str, Any] | None, _shown_plan(AutoReply)] = None
    statuses: tuple[StatusView, ...] = ()

    @classmethod
    def of(cls, message: Message, statuses: tuple[StatusChange, ...] = ()) -> MessageView:
        delivery, reply = message.delivery, message.auto_reply
        return cls.model_construct(
            id=message.id,
            account=message.account,
            endpoint=message.endpoint,
            type=message.type,
            kind=message.kind,
            sender=message.sender,
            to=message.recipients,
            rejected=message.rejected,
            text=message.text,
            encoding=message.encoding,
            parts=message.parts,
            cost=message.cost,
            truncated=message.truncated,
            created_at=message.created_at,
            content=tuple(ContentPartView.of(part, n) for n, part in enumerate(message.content)),
            udh=message.udh,
            ud=message.ud,
            href=message.href,
            delivery_report=message.delivery_report,
            user_context=message.user_context,
            rule=message.rule,
            delivery=None if delivery is None else delivery.to_json(),
            direction=message.direction,
            reply_to=message.reply_to,
            network_code=message.network_code,
            auto_reply=None if reply is None else reply.to_json(),
            statuses=tuple(StatusView.of(change) for change in statuses),
        )


class FileView(View):
    """A file of a multipart request, as the journal describes it."""

    filename: str
    content_type: str
    size: int = Field(ge=0)


class RequestView(View):
    """A journal entry: one request to the emulated gateway, its answer and the reason."""

    seq: Seq = None
    at: Moment
    method: str
    path: str
    client: str = Field("", description="The client's host:port.")
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="The request's fields; passwords and secret keys as `***`. In an entry cut "
        "to `--max-journal-body-bytes`, about twice that in all, the longest values cut first.",
    )
    fields_truncated: bool = Field(
        False,
        description="Field values, file descriptions or the account were cut to fit "
        "`--max-journal-body-bytes`.",
    )
    files: tuple[FileView, ...] = ()
    body_size: int = Field(0, ge=0, description="The request body's full size in bytes.")
    body_truncated: bool = Field(
        False,
        description="`raw_body` holds only the body's first `--max-journal-body-bytes` "
        "(a multipart body is never kept raw: its `raw_body` is empty).",
    )
    query_size: int = Field(0, ge=0, description="The raw query's full size in bytes.")
    query_truncated: bool = Field(
        False, description="`raw_query` holds only the query's first `--max-journal-body-bytes`."
    )
    status: int = Field(ge=0, le=599, description="0: a rule's connection fault answered nothing.")
    answer: str = Field(
        description="The exact body answered (its first `--max-journal-body-bytes`)."
    )
    answer_truncated: bool = Field(False, description="`answer` was cut.")
    outcome: JournalOutcome
    reason: str = Field("", description="Which check failed, or what was accepted.")
    account: str | None = None
    message_id: str | None = None
    rule: str | None = Field(None, description="The scenario rule that fired, if one did.")
    raw_query: str = Field(
        "",
        description="The raw query string (its first `--max-journal-body-bytes`), secrets masked.",
    )
    raw_body: str = Field(
        "", description="The raw body (its first `--max-journal-body-bytes`), secrets masked."
    )

    @classmethod
    def of(cls, exchange: Exchange, seq: int | None = None) -> RequestView:
        kept = exchange.parsed if isinstance(exchange.parsed, KeptFields) else None
        fields = exchange.fields
        return cls.model_construct(
            seq=seq,
            at=exchange.at,
            method=exchange.method,
            path=exchange.path,
            client=exchange.client,
            fields={k: MASK if k in SECRET_FIELDS else v for k, v in fields.items()},
            fields_truncated=kept is not None and kept.fields_cut,
            files=tuple(FileView.model_construct(**f) for f in exchange.files),
            body_size=exchange.body_size,
            body_truncated=kept is not None and kept.body_cut,
            query_size=len(exchange.query) if kept is None else kept.query_size,
            query_truncated=kept is not None and len(exchange.query) < kept.query_size,
            status=exchange.status,
            answer=exchange.answer,
            answer_truncated=kept is not None and kept.answer_cut,
            outcome=exchange.outcome,
            reason=exchange.reason,
            account=exchange.account,
            message_id=exchange.message_id,
            rule=exchange.rule,
            raw_query=masked_raw(exchange.query),
            raw_body=masked_raw(exchange.body),
        )

    def shown(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"seq"} if self.seq is None else None)


class AttemptView(View):
    """One try at delivering a callback, and how it went."""

    seq: Seq = None
    at: Moment
    callback: int = Field(ge=1, description="The item; its retries share the number.")
    attempt: int = Field(ge=1)
    kind: Literal["status", "inbound", "mms"]
    account: str
    message_id: str | None
    url: str
    fields: Any = Field(description="The form fields (or JSON body) posted.")
    status: Annotated[int, Field(ge=100, le=599)] | None = Field(
        description="null: no HTTP answer."
    )
    latency_ms: float = Field(ge=0)
    error: str | None
    outcome: AttemptOutcome

    @classmethod
    def of(cls, attempt: Attempt, seq: int | None = None) -> AttemptView:
        kept = {name: getattr(attempt, name) for name in cls.model_fields if name != "seq"}
        return cls.model_construct(seq=seq, **kept)  # the same fields, by name

    def shown(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"seq"} if self.seq is None else None)


def _keyed(key: str) -> ConfigDict:
    return ConfigDict(alias_generator=lambda name: key if name == "items" else name)


class MessagePage(Page[MessageView]):
    model_config = _keyed("messages")


class RequestPage(Page[RequestView]):
    model_config = _keyed("requests")


class AttemptPage(Page[AttemptView]):
    model_config = _keyed("callbacks")


FEED_REQUEST_KEYS = {
    *("at", "method", "path", "client", "fields", "files", "body_size", "status", "answer"),
    *("outcome", "reason", "account", "message_id", "rule"),
}
"""What the live feed shows of a journal entry (the lists show all of it)."""


def live_event(record: object) -> tuple[str, dict[str, Any]] | None:
    """A record the store just queued, as the live feed (`/_sim/events`) shows it."""
    if isinstance(record, Message):
        return "message", MessageView.of(record).shown()
    if isinstance(record, StatusChange):
        return "status", {"id": record.message_id, **StatusView.of(record).shown()}
    if isinstance(record, Exchange):
        return "request", RequestView.of(record).model_dump(mode="json", include=FEED_REQUEST_KEYS)
    if isinstance(record, Attempt):
        return "callback", AttemptView.of(record).shown()
    return None
