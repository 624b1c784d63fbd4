"""The control API's answers as pydantic models, one per resource: the base every view shares
(JSON keys by alias, closed objects, times and credits shown as they always were), an account,
a rule, and the page that lists items; messages, journal entries and callback attempts are in
`views_records`. The API renders through them (`shown`), the OpenAPI document takes its schemas
from them, and the Python client (`gateway_sim.testing`) reads its answers into them.

Times are shown as Python's `isoformat` writes them (`+00:00`, not pydantic's `Z`), and credits
as `str(Decimal)`, as they always were.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

from gateway_sim.domain.accounts import Account
from gateway_sim.domain.records import MASK
from gateway_sim.domain.rule_schema import Rule

SHOWN = "#/components/schemas/{model}"
"""Where the document keeps the schemas of what the API shows (the views and their parts)."""

Moment = Annotated[
    datetime,
    PlainSerializer(datetime.isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Credits = Annotated[
    Decimal,
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "description": "An exact decimal number of credits, as Python's `str(Decimal)` "
            "writes it (`100`, `0.5`, `1E+5`).",
            "examples": ["100"],
        }
    ),
]
Seq = Annotated[
    int | None,
    WithJsonSchema({"type": "integer", "minimum": 1, "description": "Position in its list."}),
]
"""A listed item's sequence number (the live feed shows items without one)."""


def _key_ids(pairs: Any) -> Any:
    """Access key pairs as the JSON shows them, read back as the access keys alone."""
    if isinstance(pairs, list | tuple):
        return tuple(p["accesskey"] if isinstance(p, Mapping) else p for p in pairs)
    return pairs


AccessKeys = Annotated[
    tuple[str, ...],
    BeforeValidator(_key_ids),
    PlainSerializer(
        lambda keys: [{"accesskey": key, "secretkey": MASK} for key in keys],
        return_type=list[dict[str, str]],
        when_used="json",
    ),
    WithJsonSchema(
        {
            "type": "array",
            "description": "The account's key pairs; secret keys are never shown.",
            "items": {
                "type": "object",
                "required": ["accesskey", "secretkey"],
                "properties": {
                    "accesskey": {"type": "string"},
                    "secretkey": {"type": "string", "enum": [MASK], "description": "`***`."},
                },
                "additionalProperties": False,
            },
        }
    ),
]
"""An account's access keys: the client sees the keys, the JSON masked pairs."""


class View(BaseModel):
    """What every view shares: JSON keys by alias, a closed object with every key required."""

    model_config = ConfigDict(
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        json_schema_serialization_defaults_required=True,
        json_schema_extra={"additionalProperties": False},
    )

    # The API makes views from its records with `model_construct`: the records are typed
    # already, and an answer must not fail on a value the document's bounds did not foresee.

    def shown(self) -> dict[str, Any]:
        """The JSON object the API answers."""
        return self.model_dump(mode="json")


class AccountView(View):
    """An account: no password, secret keys masked; `balance` is whole credits (rounded down)."""

    username: str
    credit: Credits
    balance: int = Field(ge=0, description="The whole credits (what getbalance answers).")
    default_sender: str = ""
    default_country: str | None = Field(
        None, description="An ISO 3166 region code that libphonenumber knows, such as GB."
    )
    parent: str | None = Field(None, description="The parent account of a sub-account.")
    status_url: str | None = None
    inbound_url: str | None = None
    mms_url: str | None = None
    inbound_format: Literal["form", "json"] = "form"
    retry_seconds: float = Field(300.0, gt=0)
    report_all: bool = False
    access_keys: AccessKeys = ()
    daily_allowance: Annotated[int, Field(ge=0)] | None = Field(
        None,
        description="Most messages (one per recipient) a day, the UTC day of the simulator's "
        "clock, on every send path; null: no cap.",
    )
    daily_used: int = Field(0, ge=0, description="Messages counted today (UTC).")

    @classmethod
    def of(cls, account: Account, today: str) -> AccountView:
        return cls.model_construct(
            username=account.username,
            credit=account.credit,
            balance=int(account.credit),
            default_sender=account.default_sender,
            default_country=account.default_country,
            parent=account.parent,
            status_url=account.status_url,
            inbound_url=account.inbound_url,
            mms_url=account.mms_url,
            inbound_format=account.inbound_format,
            retry_seconds=account.retry_seconds,
            report_all=account.report_all,
            access_keys=tuple(pair["accesskey"] for pair in account.access_keys),
            daily_allowance=account.daily_allowance,
            daily_used=account.used_on(today),
        )


class RuleView(Rule):
    """A running rule as its scenario gives it (keys that are null left out), with its counters."""

    matched: int = Field(ge=0, description="Requests it matched.")
    fired: int = Field(ge=0, description="Times it fired.")
    retired: bool = Field(description="Whether `times` or its sequence ran out.")
    enabled: bool = Field(description="Whether it is switched on (PATCH to switch).")

    def shown(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


Item = TypeVar("Item", bound=View)


class Page(View, Generic[Item]):
    """A page of a list, newest first; `next_cursor` continues it when the page is full. Each
    list names its items after itself (`messages`, `requests`, `callbacks`)."""

    items: list[Item]
    next_cursor: Annotated[str, Field(pattern="^[0-9]+$")] | None

    def shown(self) -> dict[str, Any]:
        return {
            type(self).model_fields["items"].alias or "items": [
                item.shown() for item in self.items
            ],
            "next_cursor": self.next_cursor,
        }


def cursor_of(found: list[tuple[int, Any]], limit: int) -> str | None:
    """The next page's cursor: the last item's sequence number when the page is full."""
    return str(found[-1][0]) if len(found) == limit else None
