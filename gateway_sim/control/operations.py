"""The shapes the OpenAPI document says an operation of the control API with, beyond what its
route and its views tell: its id and summary, its answers (a view, or the error codes it may
give), its query parameters and its body; and the parameters and answers several operations
share. `catalogue.OPERATIONS` holds each operation's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from gateway_sim.control.filters import MAX_LIMIT
from gateway_sim.control.views import SHOWN
from gateway_sim.domain.records import KINDS, OUTCOMES

Schema = dict[str, Any]
EVENT_NAMES = ("hello", "message", "status", "request", "callback", "reset", "lagged")


@dataclass(frozen=True, slots=True)
class Answer:
    """A successful answer: a view (its schema is generated), an inline schema, or no body."""

    description: str
    body: type[BaseModel] | Schema | None = None
    media: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Refusal:
    """An error answer, `{"error": one of codes, "detail": …}` (and `problems`, a list of
    strings, when `problems` is "always" or "sometimes")."""

    description: str
    codes: tuple[str, ...]
    problems: Literal["", "always", "sometimes"] = ""


@dataclass(frozen=True, slots=True)
class Body:
    """A request body: a model taken in (its validation schema), or an inline schema."""

    schema: type[BaseModel] | Schema
    media: tuple[str, ...] = ("application/json",)
    description: str = ""
    required: bool = True
    other: Mapping[str, Schema] = field(default_factory=dict)
    """Other media types it may come as, with their schemas."""


@dataclass(frozen=True, slots=True)
class Operation:
    id: str
    summary: str
    answers: Mapping[int, Answer | Refusal]
    query: tuple[Schema, ...] = ()
    body: Body | None = None


def refused(
    description: str, *codes: str, problems: Literal["", "always", "sometimes"] = ""
) -> Refusal:
    return Refusal(description, codes, problems)


def shown(view: type[BaseModel]) -> Schema:
    """A reference to the schema of something the API shows (its serialization schema)."""
    return {"$ref": SHOWN.format(model=view.__name__)}


def query(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def closed(**properties: Schema) -> Schema:
    return {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "additionalProperties": False,
    }


STRING: Schema = {"type": "string"}
CURSOR: Schema = {"type": "string", "pattern": "^[0-9]+$"}
PATH_PARAMETERS: dict[str, tuple[Schema, str, Any]] = {
    "id": (STRING, "A message id.", "10011000000000000001"),
    "n": ({"type": "integer", "minimum": 0}, "The part number (0-based).", 0),
    "username": (STRING, "An account's username (case-insensitive).", "demo"),
    "name": (STRING, "A rule's name.", "magic-delivery-fails"),
}
FILTERS = (
    query("to", STRING, "A recipient, normalised the way a send normalises it."),
    query("from", STRING, "The sender, exactly."),
    query("account", STRING, "The account (case-insensitive)."),
    query(
        "type",
        {"type": "string", "enum": [*map(str, KINDS), *KINDS.values()]},
        "A message type, 1-6, or its kind name.",
    ),
    query("text", STRING, "A substring of the text."),
    query(
        "since",
        {"type": "string", "format": "date-time"},
        "An ISO 8601 time (a `+` may come as a space); without an offset it is UTC.",
    ),
    query(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100},
        "The page size.",
    ),
    query("cursor", CURSOR, "The `next_cursor` of the previous page, to continue after it."),
)
JOURNAL_FILTERS = (
    query("outcome", {"type": "string", "enum": list(OUTCOMES)}, "How the request was answered."),
    query("path", STRING, "The gateway path (case-insensitive)."),
)
BAD_FILTER = refused("A filter value cannot be used.", "bad_filter")
BAD_JSON = refused("The body is not a JSON object.", "bad_json")
NO_ACCOUNT = refused("No account has this name.", "not_found")
NO_RULE = refused("No running rule has this name.", "not_found")
CLOCK: dict[str, Schema] = {
    "now": {"type": "string", "format": "date-time"},
    "mode": {"type": "string", "enum": ["real", "manual"]},
    "pending": {
        "type": "integer",
        "minimum": 0,
        "description": "Jobs (report steps, retries) still due.",
    },
}
PART_HEADERS = {
    "Content-Disposition": "inline (raster images, audio, video, plain text) or attachment "
    '(anything else, SVG and HTML included); filename="<the part\'s filename>"',
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}
EVENT: Schema = {
    "type": "object",
    "description": "One event: `event` names it, `data` is its JSON (`{}` for `hello`, `reset`, "
    "`lagged`).",
    "properties": {
        "event": {"type": "string", "enum": list(EVENT_NAMES)},
        "data": STRING,
        "retry": {"type": "integer", "minimum": 0},
    },
    "required": ["event", "data"],
}
