"""Messages from handsets to an account (README "What is simulated": received SMS, received MMS):
injected through the control API, kept like any message (direction `inbound`), and forwarded to
the account's `inbound_url` (SMS; form fields or the newer JSON shape) or `mms_url` (MMS, whose
parts the customer then fetches with `retrievemms.aspx`). What is refused: an unknown account, a
`reply_to` of another account, an SMS without text, a `sent` time outside 1970-9999 (UTC), and a
part whose content type is no media type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from gateway_sim.domain.accounts import Account
from gateway_sim.domain.billing import encoding_of
from gateway_sim.domain.clock import Clock, IdSource
from gateway_sim.domain.records import ContentPart, Message
from gateway_sim.domain.text import checked_media_type
from gateway_sim.effects.callbacks import CallbackQueue
from gateway_sim.effects.scheduler import Scheduler
from gateway_sim.store.repository import Repository

UK = ZoneInfo("Europe/London")
"""The gateway's time zone: inbound `sent` times are written in UK local time."""
EARLIEST_SENT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_SENT = datetime(9999, 12, 31, tzinfo=UTC)
"""The range of `sent` (in UTC) taken: from the epoch (the store keeps times as microseconds
since it) to a day short of year 9999's end, so that no time zone's offset (under a day) can
carry a time shown in that zone into year 10000, which no date type can hold."""


class InboundError(ValueError):
    """An inbound message that cannot be taken; the control API answers 404 or 422 with it."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


@dataclass(frozen=True, slots=True)
class Arrival:
    """What a handset sent: to which account, from which number, what."""

    account: str
    sender: str
    text: str | None = None
    to: str | None = None
    sent: datetime | None = None
    network_code: str | None = None
    reply_to: str | None = None
    subject: str | None = None
    parts: Sequence[ContentPart] = ()


class Inbound:
    """Takes arrivals in, records them, and forwards them to the account."""

    def __init__(
        self,
        *,
        clock: Clock,
        ids: Callable[[], IdSource],
        store: Repository,
        callbacks: CallbackQueue,
        account_of: Callable[[str], Account | None],
        international: Callable[[str, Account], str],
        publish: Callable[[Message], None],
    ) -> None:
        self.clock = clock
        self.ids = ids
        self.store = store
        self.callbacks = callbacks
        self.account_of = account_of
        self.international = international
        self.publish = publish

    def receive(self, arrival: Arrival) -> Message:
        account = self.account_of(arrival.account)
        if account is None:
            raise InboundError(404, f"no account named {arrival.account!r}")
        original = self.store.get(arrival.reply_to) if arrival.reply_to else None
        if arrival.reply_to and (original is None or original.account != account.username):
            raise InboundError(422, f"reply_to: account has no message {arrival.reply_to!r}")
        mms = bool(arrival.parts)
        if not mms and not arrival.text:
            raise InboundError(422, "text: an SMS needs text (or send parts for an MMS)")
        _check_sent(arrival.sent)
        _check_parts(arrival.parts)
        to = arrival.to or (original.sender if original else "") or account.default_sender
        to = self.international(to, account) if to else to
        message = Message(
            id=self.ids().take(),
            account=account.username,
            endpoint="/_sim/inbound",
            type=5 if mms else 1,
            kind="mms" if mms else "text",
            sender=self.international(arrival.sender, account),
            recipients=(to,) if to else (),
            rejected=(),
            text=arrival.subject if mms else arrival.text,
            encoding=None,
            parts=1,
            cost=Decimal(0),
            truncated=False,
            created_at=arrival.sent or self.clock.now(),
            content=tuple(arrival.parts),
            user_context=original.user_context if original else None,
            direction="inbound",
            reply_to=original.id if original else None,
            network_code=arrival.network_code,
        )
        self.store.add(message)
        self.publish(message)
        self._forward(account, message)
        return message

    def _forward(self, account: Account, message: Message) -> None:
        sent = uk_local_time(message.created_at)
        if message.type == 5:
            if account.mms_url:
                form = {
                    "from": message.sender,
                    "text": message.text or "",
                    "msgid": message.id,
                    "type": "5",
                    "filelist": ",".join(part.filename for part in message.content),
                }
                self.callbacks.send(
                    "mms", account, account.mms_url, form=form, message_id=message.id
                )
            return
        if not account.inbound_url:
            return
        if account.inbound_format == "json":
            body = {"messages": [_json_message(message, sent)]}
            self.callbacks.send(
                "inbound", account, account.inbound_url, json=body, message_id=message.id
            )
            return
        form = {
            "from": message.sender,
            "text": message.text or "",
            "msgid": message.id,
            "sent": sent,
        }
        if message.network_code:
            form["networkcode"] = message.network_code
        self.callbacks.send(
            "inbound", account, account.inbound_url, form=form, message_id=message.id
        )


def uk_local_time(at: datetime) -> str:
    """`at` as the gateway writes an inbound message's `sent`: W3CDTF in UK local time, to the
    second, `-00:00` while the UK is on GMT (`2010-02-03T13:50:05-00:00`) and `+01:00` on BST
    (`2010-06-10T14:45:12+01:00`), as the vendor's two examples show."""
    local = at.astimezone(UK)
    written = local.isoformat(timespec="seconds")
    return written[:-6] + "-00:00" if local.utcoffset() == timedelta(0) else written


def _check_sent(sent: datetime | None) -> None:
    """Refuse a `sent` time that the store could keep but not read back: it keeps a POSIX
    timestamp and reads it as a UTC time, which must fall within years 1-9999 (`0001-01-01`
    at `+14:00` is in year 0 in UTC, and once kept, every listing failed)."""
    if sent is None:
        return
    try:
        utc = sent.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST_SENT <= utc < LATEST_SENT:
        raise InboundError(
            422,
            f"sent: {sent.isoformat()} is out of range; give a time from "
            f"{EARLIEST_SENT.isoformat()} to before {LATEST_SENT.isoformat()}",
        )


def _check_parts(parts: Sequence[ContentPart]) -> None:
    """Refuse a part whose content type is no media type: it is served back in a header
    (`retrievemms.aspx`, the inbox), where a line break would add headers of its own."""
    for n, part in enumerate(parts):
        if checked_media_type(part.content_type) is None:
            raise InboundError(
                422,
                f"parts[{n}].content_type: {part.content_type[:60]!r} (part {part.filename!r}) "
                "is not a media type such as image/png or text/plain; charset=utf-8",
            )


def _json_message(message: Message, sent: str) -> dict[str, Any]:
    text = message.text or ""
    unicode = encoding_of(text) == "ucs2"
    return {
        "from": message.sender,
        "to": message.recipients[0] if message.recipients else "",
        "messageid": message.id,
        "channel": "sms",
        "sent": sent,
        "content": {"msgtype": "unicode" if unicode else "text", "text": text},
    }


class AutoReplies:
    """Answers messages a rule marked with `reply`: each recipient replies after a while, with
    the rule's template or with a seeded Faker sentence (Faker is loaded on first use)."""

    def __init__(self, *, inbound: Inbound, scheduler: Scheduler, seed: int) -> None:
        self.inbound = inbound
        self.scheduler = scheduler
        self.seed = seed
        self._faker: Any = None

    def reset(self) -> None:
        """Start the seeded texts over, as after a fresh start."""
        self._faker = None

    def on_message(self, message: Message) -> None:
        plan = message.auto_reply
        if plan is None or message.direction != "outbound":
            return
        for recipient in message.recipients:
            if plan.only is not None and recipient not in plan.only:
                continue
            text = self._text(plan.text, message, recipient)
            arrival = Arrival(message.account, recipient, text=text, reply_to=message.id)
            self.scheduler.after(plan.after_seconds, self._reply(arrival))

    def _text(self, template: str | None, message: Message, recipient: str) -> str:
        if template is not None:
            fields = {"text": message.text or "", "from": message.sender, "to": recipient}
            return template.format(id=message.id, **fields)
        if self._faker is None:
            from faker import Faker  # noqa: PLC0415 (a heavy import, only when replies need it)

            self._faker = Faker("en_GB")
            self._faker.seed_instance(self.seed)
        sentence: str = self._faker.sentence()
        return sentence

    def _reply(self, arrival: Arrival) -> Callable[[], Awaitable[None]]:
        async def reply() -> None:
            self.inbound.receive(arrival)

        return reply
