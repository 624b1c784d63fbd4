"""The request bodies of the control API: parsed and validated once, or refused with a 4xx that
names every problem (`Problem`, rendered as `{"error": …, "detail": …}` by the control API).
Their text comes out storable (`domain/text.py`), as the gateway paths' does.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import replace
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from starlette.requests import Request

from gateway_sim.domain.records import ContentPart
from gateway_sim.domain.rule_schema import Rule
from gateway_sim.domain.scenario import (
    AccessKey,
    callback_url,
    describe_errors,
    region_code,
    unique_access_keys,
)
from gateway_sim.domain.text import storable_json
from gateway_sim.effects.inbound import Arrival
from gateway_sim.wire.multipart import MalformedBody, MultipartReader

NULLABLE_CHANGES = frozenset({"daily_allowance"})
"""Keys of an account change that may be null: `daily_allowance: null` lifts the cap."""


class Problem(Exception):
    """A refused control request: HTTP status, short error code, and what is wrong."""

    def __init__(self, status: int, error: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail, self.extra = status, error, detail, extra


def _base64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"not base64: {exc}") from exc


class InboundPart(BaseModel):
    """An MMS part in a JSON inbound message: its bytes in base64."""

    model_config = ConfigDict(extra="forbid")

    filename: Annotated[str, Field(min_length=1)]
    content_type: str = "application/octet-stream"
    data: Annotated[bytes, BeforeValidator(_base64)]


class InboundBody(BaseModel):
    """The JSON body of `POST /_sim/inbound`: an SMS (`text`) or an MMS (`subject`, `parts`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    account: Annotated[str, Field(min_length=1)]
    sender: Annotated[str, Field(min_length=1, alias="from")]
    text: str | None = None
    to: str | None = None
    sent: AwareDatetime | None = None
    networkcode: str | None = None
    reply_to: str | None = None
    subject: str | None = None
    parts: list[InboundPart] = Field(default_factory=list)

    def arrival(self) -> Arrival:
        return Arrival(
            account=self.account,
            sender=self.sender,
            text=self.text,
            to=self.to,
            sent=self.sent,
            network_code=self.networkcode,
            reply_to=self.reply_to,
            subject=self.subject,
            parts=[ContentPart(p.filename, p.content_type, p.data) for p in self.parts],
        )


async def read_arrival(request: Request) -> Arrival:
    """An inbound message from a JSON body, or from multipart (fields and file parts)."""
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        data, parts = await _read_multipart_form(request, content_type)
    else:
        data, parts = await json_body(request), []
        if not isinstance(data, dict):
            raise Problem(400, "bad_json", "the body must be a JSON object")
    try:
        body = InboundBody.model_validate(data)
    except ValidationError as error:
        problems = describe_errors(error, InboundBody)
        raise Problem(422, "invalid_inbound", "; ".join(problems), problems=problems) from None
    arrival = body.arrival()
    return replace(arrival, parts=[*arrival.parts, *parts]) if parts else arrival


async def _read_multipart_form(
    request: Request, content_type: str
) -> tuple[dict[str, str], list[ContentPart]]:
    try:
        reader = MultipartReader(content_type, None)
        async for chunk in request.stream():
            reader.feed(chunk)
        fields, files = reader.finish()
    except MalformedBody as malformed:
        raise Problem(400, "bad_multipart", str(malformed)) from None
    for n, upload in enumerate(files):
        if upload.problem:
            raise Problem(422, "invalid_inbound", upload.problem)
        if upload.unusable_type is not None:  # the part is no use as octets here: say so
            shown = upload.unusable_type[:60]
            problem = f"parts[{n}].content_type: {shown!r} is not a media type"
            raise Problem(422, "invalid_inbound", problem, problems=[problem])
    return fields, [upload.part for upload in files]


class AccountChange(BaseModel):
    """The body of `PUT /_sim/accounts/{username}`: any of these keys."""

    model_config = ConfigDict(extra="forbid")

    password: Annotated[str, Field(min_length=1)] | None = None
    credit: Annotated[Decimal, Field(ge=0, max_digits=30, decimal_places=6)] | None = None
    default_sender: str | None = None
    default_country: str | None = None
    status_url: str | None = None
    inbound_url: str | None = None
    mms_url: str | None = None
    inbound_format: Literal["form", "json"] | None = None
    retry_seconds: Annotated[float, Field(gt=0)] | None = None
    report_all: bool | None = None
    access_keys: list[AccessKey] | None = None
    daily_allowance: Annotated[int, Field(ge=0)] | None = None

    @field_validator("default_country")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return None if value is None else region_code(value)

    @field_validator("status_url", "inbound_url", "mms_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return callback_url(value)

    @field_validator("access_keys")
    @classmethod
    def _unique_keys(cls, keys: list[AccessKey] | None) -> list[AccessKey] | None:
        return None if keys is None else unique_access_keys(keys)


class TopUp(BaseModel):
    """The body of `POST /_sim/accounts/{username}/topup`."""

    model_config = ConfigDict(extra="forbid")

    credit: Annotated[Decimal, Field(gt=0, max_digits=30, decimal_places=6)]


def parse_top_up(data: Any) -> Decimal:
    if not isinstance(data, dict):
        raise Problem(400, "bad_json", "the body must be a JSON object")
    try:
        return TopUp.model_validate(data).credit
    except ValidationError as error:
        problems = describe_errors(error, TopUp)
        raise Problem(422, "invalid_top_up", "; ".join(problems), problems=problems) from None


async def json_body(request: Request) -> Any:
    body = await request.body()
    try:
        # Storable: a `\udfff` escape would otherwise reach accounts, rules and messages.
        return storable_json(json.loads(body or b"{}"))
    except (ValueError, UnicodeDecodeError):
        raise Problem(400, "bad_json", "the body must be a JSON object") from None
    except RecursionError:
        raise Problem(400, "bad_json", "the body's JSON is nested too deeply") from None


def parse_account_change(data: Any) -> AccountChange:
    if not isinstance(data, dict):
        raise Problem(400, "bad_json", "the body must be a JSON object")
    try:
        change = AccountChange.model_validate(data)
    except ValidationError as error:
        problems = describe_errors(error, AccountChange)
        raise Problem(422, "invalid_account", "; ".join(problems), problems=problems) from None
    nulls = [
        f"{key}: must not be null"
        for key, value in data.items()
        if value is None and key not in NULLABLE_CHANGES
    ]
    if nulls:
        raise Problem(422, "invalid_account", "; ".join(nulls), problems=nulls)
    return change


def parse_rule(data: Any) -> Rule:
    if not isinstance(data, dict):
        raise Problem(400, "bad_json", "the body must be a JSON object")
    try:
        return Rule.model_validate(data)
    except ValidationError as error:
        problems = describe_errors(error, Rule)
        raise Problem(422, "invalid_rule", "; ".join(problems), problems=problems) from None
