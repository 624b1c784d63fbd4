"""The rules a scenario (or `POST /_sim/rules`) gives, as pydantic models: what a rule matches
(`Match`), what it does (`Action`: an error, a fault, a latency, a delivery plan, an automatic
reply), how often (`times`, `sequence`, `rate`). Validated once, loudly; the engine that applies
them is rules.py.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from gateway_sim.domain.errors import ErrorCode
from gateway_sim.domain.patterns import TextPattern, check_rule_text
from gateway_sim.domain.records import KIND_TYPES

Fault = Literal["reset", "close", "hang", "truncate", "garbage", "dribble"]
ENDPOINT_ALIASES = {
    "send": (
        "/smsgateway/sendmsg.aspx",
        "/smsgateway/default.aspx",
        "/api/https/sendmsg.aspx",
        "/api/json/sendmsg.aspx",
    ),
    "balance": (
        "/smsgateway/getbalance.aspx",
        "/smsgateway/getbalance/default.aspx",
        "/api/https/getbalance.aspx",
        "/api/json/getbalance.aspx",
    ),
    "subaccount": ("/smsgateway/createsubacc.aspx",),
}
RATE_WINDOW = 1.0


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class UniformLatency(_Model):
    """A latency drawn evenly between `min` and `max` milliseconds."""

    min: Annotated[float, Field(ge=0)]
    max: Annotated[float, Field(ge=0)]

    @model_validator(mode="after")
    def _ordered(self) -> UniformLatency:
        if self.max < self.min:
            raise ValueError("max must not be below min")
        return self


class LogNormalLatency(_Model):
    """A long-tailed latency: log-normal with this `median` (ms) and `sigma`."""

    median: Annotated[float, Field(gt=0)]
    sigma: Annotated[float, Field(ge=0)]


Latency = Annotated[float, Field(ge=0)] | UniformLatency | LogNormalLatency


class Delivery(_Model):
    """How the delivery reports of a matching message go (used by delivery reports).

    Each recipient gets `steps` then `final`, one report every `delay_seconds` (default: the
    scenario's `report_step_seconds`), or none at all with `never`. The pathologies bend that
    timeline: `duplicate` posts the final report a second time (one step later),
    `out_of_order` posts the reports in reverse (final first), and `before_answer` posts the
    first report before the send's HTTP answer is returned. They are left out of the record
    of a message (and of `/_sim/rules`) while off, so a rule without them shows as before.
    """

    final: Literal[4, 5, 6, 7, 8, 11, 12] = 4
    steps: tuple[Literal[2, 3], ...] = (2, 3)
    delay_seconds: Annotated[float, Field(ge=0)] | None = None
    never: bool = False
    duplicate: bool = Field(
        default=False,
        exclude_if=lambda on: not on,
        description="Post the final report twice: again one step after the first.",
    )
    out_of_order: bool = Field(
        default=False,
        exclude_if=lambda on: not on,
        description="Post the reports in reverse: the final first, then the steps backwards.",
    )
    before_answer: bool = Field(
        default=False,
        exclude_if=lambda on: not on,
        description=(
            "Post each recipient's first report (its first attempt) before the send's HTTP "
            "answer is returned; the other reports follow one step apart."
        ),
    )

    @model_validator(mode="after")
    def _never_alone(self) -> Delivery:
        bent = [
            name for name in ("duplicate", "out_of_order", "before_answer") if getattr(self, name)
        ]
        if self.never and bent:
            raise ValueError(f"never sends no report, so it does not go with {', '.join(bent)}")
        return self


class AutoReply(_Model):
    """Each recipient of a matching message replies after `after_seconds`: with `text` (a
    template: `{text}`, `{from}`, `{to}`, `{id}` of the message answered), or with a sentence
    from Faker, seeded, when `text` is not given."""

    after_seconds: Annotated[float, Field(ge=0)] = 3
    text: str | None = None

    @field_validator("text")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                value.format(text="", to="", id="", **{"from": ""})
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"use only {{text}}, {{from}}, {{to}}, {{id}}: {exc}") from exc
        return value


class Action(_Model):
    """What a fired rule does. `latency_ms` may go with any one of the other outcomes."""

    error: ErrorCode | None = None
    recipient_error: ErrorCode | None = None
    delay_reply: Annotated[int, Field(ge=0, le=3600)] | None = None
    http_status: Annotated[int, Field(ge=400, le=599)] | None = None
    body: str | None = None
    retry_after: Annotated[int, Field(ge=0)] | None = None
    fault: Fault | None = None
    dribble_ms: Annotated[float, Field(gt=0, le=10_000)] = 100
    latency_ms: Latency | None = None
    delivery: Delivery | None = None
    reply: AutoReply | None = None

    @model_validator(mode="after")
    def _one_outcome(self) -> Action:
        chosen = [
            name
            for name in ("error", "recipient_error", "delay_reply", "http_status", "fault")
            if getattr(self, name) is not None
        ]
        if len(chosen) > 1:
            raise ValueError(
                "choose one of error, recipient_error, delay_reply, http_status, fault; "
                f"got {chosen}"
            )
        if (self.body is not None or self.retry_after is not None) and self.http_status is None:
            raise ValueError("body and retry_after go with http_status")
        return self

    @property
    def awaited(self) -> bool:
        """Whether it is more than an answer (an HTTP error status, a connection fault), made
        by the app's ASGI path even without latency."""
        return self.fault is not None or self.http_status is not None


class RateLimit(_Model):
    """Matches once more than `per_second` requests came in the last second (per key)."""

    per_second: Annotated[float, Field(gt=0)]
    per: Literal["account", "sender"] = "account"


class Match(_Model):
    """Conditions; all given ones must hold. Text fields are globs unless noted."""

    account: str | None = None
    endpoint: str | None = None
    host: str | None = None
    """A glob on the Host header as the client sent it, port included (`"*:8081"`), ignoring
    case: tells apart the ports (or names) of one simulator, a client's primary and backup."""
    type: Annotated[int, Field(ge=1, le=6)] | str | None = None
    to: str | None = None
    sender: str | None = Field(default=None, alias="from")
    text: str | None = None
    nth: Annotated[int, Field(ge=1)] | None = None
    after: Annotated[float, Field(ge=0)] | None = None
    for_: Annotated[float, Field(gt=0)] | None = Field(default=None, alias="for")
    probability: Annotated[float, Field(ge=0, le=1)] | None = None
    seed: int | None = None
    rate: RateLimit | None = None

    @field_validator("type")
    @classmethod
    def _type(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, str) and value not in KIND_TYPES:
            raise ValueError(f"type must be 1-6 or one of {', '.join(KIND_TYPES)}")
        return value


class Rule(_Model):
    """A named rule: `match` -> `action` (or a `sequence` of actions), optionally `times` N."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")]
    match: Match = Field(default_factory=Match)
    action: Action | None = None
    sequence: Annotated[list[Action], Field(min_length=1)] | None = None
    times: Annotated[int, Field(ge=1)] | None = None
    # Compiled once, where the rule is validated (a scenario's in a worker thread): 5,000
    # patterns compiled again when the rules are installed held the event loop for 0.2 s.
    _text: TextPattern | None = PrivateAttr(default=None)

    @property
    def text_pattern(self) -> TextPattern | None:
        return self._text

    @model_validator(mode="after")
    def _action_or_sequence(self) -> Rule:
        if (self.action is None) == (self.sequence is None):
            raise ValueError("give exactly one of action and sequence")
        return self

    @model_validator(mode="after")
    def _runnable_text(self) -> Rule:
        self._text = check_rule_text(self.name, self.match.text)  # where the name is known
        return self
