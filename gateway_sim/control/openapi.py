"""The OpenAPI 3.1 description of the control API, served at `/_sim/openapi.json`.

Paths are written in full (`/_sim/messages`, ...) so that the document needs no `servers` entry:
tools resolve them against the host the document was fetched from.

The shapes of messages, content parts, journal entries and accounts mirror `Message.to_json`,
`ContentPart.to_json`, `Exchange.to_json` and `control._account_json` key for key (closed
objects, every key required), so any drift between the code and this document fails
`tests/test_openapi.py`. The scenario schemas are derived from the pydantic models in
`gateway_sim.domain.scenario` (validation mode for what `PUT /_sim/scenario` takes,
serialization mode for what `GET /_sim/scenario` shows), so they follow the models as these grow.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic.json_schema import JsonSchemaMode

from gateway_sim import __version__
from gateway_sim.control.bodies import InboundBody
from gateway_sim.control.filters import MAX_LIMIT
from gateway_sim.domain.records import KINDS as KIND_NAMES
from gateway_sim.domain.records import OUTCOMES
from gateway_sim.domain.scenario import KEY_MAX_LENGTH, Scenario

Schema = dict[str, Any]

PREFIX = "/_sim"
JSON = "application/json"
KINDS = list(KIND_NAMES.values())
EVENT_NAMES = ("hello", "message", "status", "request", "callback", "reset", "lagged")
MAX_WAIT = 300  # control.WAIT_MOST (control imports this module)
DESCRIPTION = (
    "Inspect what the simulator accepted, wait for messages, manage accounts, and load or reset "
    "the scenario. Every refused request gets a 4xx with "
    '`{"error": <short code>, "detail": <what is wrong>}`. Every GET also answers HEAD; a '
    "method a path does not support gets 405 (`method_not_allowed`) and an unknown path under "
    "`/_sim` gets 404 (`not_found`), both with the error shape. With `--control-token T` every "
    "request needs `Authorization: Bearer T` (else 401); `/_sim/events` also takes `?token=T`."
)


# -- schema helpers ---------------------------------------------------------------------------


CALLBACK_URLS = ("status_url", "inbound_url", "mms_url")
URL: Schema = {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"}
INBOUND_FORMAT: Schema = {"type": "string", "enum": ["form", "json"]}
RETRY_SECONDS: Schema = {"type": "number", "exclusiveMinimum": 0}
KEY: Schema = {
    "type": "string",
    "pattern": f"^[!-~]{{1,{KEY_MAX_LENGTH}}}$",
    "description": "1 to 128 printable ASCII characters, no spaces.",
}
DAILY_ALLOWANCE: Schema = {
    "anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}],
    "description": "Most messages (one per recipient) a day, the UTC day of the simulator's "
    "clock, on every send path; null: no cap.",
}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict[str, Schema], *, optional: tuple[str, ...] = ()) -> Schema:
    """A closed object: every property required unless named in `optional`."""
    return {
        "type": "object",
        "required": [name for name in properties if name not in optional],
        "properties": properties,
        "additionalProperties": False,
    }


def _string(description: str = "", **extra: Any) -> Schema:
    schema: Schema = {"type": "string", **extra}
    if description:
        schema["description"] = description
    return schema


def _integer(minimum: int | None = None, maximum: int | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "integer", **extra}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def _boolean(description: str = "") -> Schema:
    return {"type": "boolean", "description": description} if description else {"type": "boolean"}


def _array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


DECIMAL = _string(
    "An exact decimal number of credits, as Python's `str(Decimal)` writes it "
    "(`100`, `0.5`, `1E+5`).",
    examples=["100"],
)
CREDIT_INPUT: Schema = {
    "description": "Credits: a JSON number or a decimal string; at least 0, at most 30 digits "
    "of which at most 6 after the point.",
    "anyOf": [{"type": "number", "minimum": 0}, _string(pattern=r"^\d{1,24}(\.\d{1,6})?$")],
}
REGION = _string("An ISO 3166 region code that libphonenumber knows, such as GB, US or DE.")


# -- component schemas ------------------------------------------------------------------------


def _record_schemas() -> dict[str, Schema]:
    """The records the control API shows (see `gateway_sim.domain.records` and `control`)."""
    return {
        "Error": _obj(
            {
                "error": _string("A short error code."),
                "detail": _string("What is wrong, for a person to read."),
                "problems": _array(_string("One problem, with its key path.")),
            },
            optional=("problems",),
        ),
        "ContentPart": _obj(
            {
                "n": _integer(0, description="The part's position (0-based)."),
                "filename": _string(),
                "content_type": _string(),
                "size": _nullable(
                    _integer(0, description="Bytes; null once retention dropped them.")
                ),
                "dropped": _boolean(),
            }
        ),
        "Message": _obj(
            {
                "id": _string(pattern="^[0-9]+$", examples=["10011000000000000001"]),
                "account": _string("The account that sent it."),
                "endpoint": _string("The gateway path it came in on."),
                "type": _integer(min(KIND_NAMES), max(KIND_NAMES)),
                "kind": _string(enum=KINDS),
                "from": _string("The sender as given, else the account's default sender."),
                "to": _array(_string("A routable recipient, international digits.")),
                "rejected": _array(_string("An entry of `to` that was not accepted.")),
                "text": _nullable(_string()),
                "encoding": _nullable(_string(enum=["gsm7", "ucs2"])),
                "parts": _integer(0),
                "cost": DECIMAL,
                "truncated": _boolean(),
                "created_at": _string(format="date-time"),
                "content": _array(_ref("ContentPart")),
                "udh": _nullable(_string()),
                "ud": _nullable(_string()),
                "href": _nullable(_string()),
                "delivery_report": _boolean(),
                "user_context": _nullable(_string()),
                "rule": _nullable(_string("The scenario rule that fired for it, if one did.")),
                "delivery": _nullable(_ref("Scenario.Delivery")),
                "direction": _string(enum=["outbound", "inbound"]),
                "reply_to": _nullable(_string("The message an inbound reply answers.")),
                "network_code": _nullable(_string("Of an inbound message on a short code.")),
                "auto_reply": _nullable(_ref("Scenario.AutoReply")),
                "statuses": _array(_ref("StatusChange")),
            }
        ),
        "StatusChange": _obj(
            {
                "to": _string("The recipient."),
                "status": _integer(
                    0,
                    12,
                    description="2 queued, 3 sent, 4 delivered, ... (README: delivery reports).",
                ),
                "at": _string(format="date-time"),
            }
        ),
        "ClockAdvanced": _obj(
            {
                "now": _string(format="date-time"),
                "mode": _string(enum=["manual"]),
                "pending": _integer(0),
                "fired": _integer(0, description="Jobs run on the way."),
            }
        ),
        "Attempt": _obj(
            {
                "seq": _integer(1),
                "at": _string(format="date-time"),
                "callback": _integer(1, description="The item; its retries share the number."),
                "attempt": _integer(1),
                "kind": _string(enum=["status", "inbound", "mms"]),
                "account": _string(),
                "message_id": _nullable(_string()),
                "url": _string(),
                "fields": {"description": "The form fields (or JSON body) posted."},
                "status": _nullable(_integer(100, 599, description="null: no HTTP answer.")),
                "latency_ms": {"type": "number", "minimum": 0},
                "error": _nullable(_string()),
                "outcome": _string(enum=["delivered", "retrying", "failed"]),
            }
        ),
        "Clock": _obj(
            {
                "now": _string(format="date-time"),
                "mode": _string(enum=["real", "manual"]),
                "pending": _integer(0, description="Jobs (report steps, retries) still due."),
            }
        ),
        "JournalFile": _obj(
            {"filename": _string(), "content_type": _string(), "size": _integer(0)}
        ),
        "Exchange": _obj(
            {
                "seq": _integer(1, description="Position in the journal."),
                "at": _string(format="date-time"),
                "method": _string(),
                "path": _string(),
                "client": _string("The client's host:port."),
                "fields": {
                    "type": "object",
                    "description": (
                        "The request's fields; passwords and secret keys as `***`. In an entry "
                        "cut to `--max-journal-body-bytes`, about twice that in all, the "
                        "longest values cut first."
                    ),
                    "additionalProperties": _string(),
                },
                "fields_truncated": _boolean(
                    "Field values, file descriptions or the account were cut to fit "
                    "`--max-journal-body-bytes`."
                ),
                "files": _array(_ref("JournalFile")),
                "body_size": _integer(0, description="The request body's full size in bytes."),
                "body_truncated": _boolean(
                    "`raw_body` holds only the body's first `--max-journal-body-bytes` "
                    "(a multipart body is never kept raw: its `raw_body` is empty)."
                ),
                "query_size": _integer(0, description="The raw query's full size in bytes."),
                "query_truncated": _boolean(
                    "`raw_query` holds only the query's first `--max-journal-body-bytes`."
                ),
                "status": _integer(100, 599),
                "answer": _string(
                    "The exact body answered (its first `--max-journal-body-bytes`)."
                ),
                "answer_truncated": _boolean("`answer` was cut."),
                "outcome": _string(enum=list(OUTCOMES)),
                "reason": _string("Which check failed, or what was accepted."),
                "account": _nullable(_string()),
                "message_id": _nullable(_string()),
                "rule": _nullable(_string("The scenario rule that fired, if one did.")),
                "raw_query": _string(
                    "The raw query string (its first `--max-journal-body-bytes`), secrets masked."
                ),
                "raw_body": _string(
                    "The raw body (its first `--max-journal-body-bytes`), secrets masked."
                ),
            }
        ),
        "Account": _obj(
            {
                "username": _string(),
                "credit": DECIMAL,
                "balance": _integer(0, description="The whole credits (what getbalance answers)."),
                "default_sender": _string(),
                "default_country": _nullable(REGION),
                "parent": _nullable(_string("The parent account of a sub-account.")),
                **{name: _nullable(URL) for name in CALLBACK_URLS},
                "inbound_format": INBOUND_FORMAT,
                "retry_seconds": RETRY_SECONDS,
                "report_all": _boolean(),
                "access_keys": _array(
                    _obj(
                        {
                            "accesskey": _string(),
                            "secretkey": _string("Always `***`.", enum=["***"]),
                        }
                    )
                ),
                "daily_allowance": DAILY_ALLOWANCE,
                "daily_used": _integer(0, description="Messages counted today (UTC)."),
            }
        ),
        "AccountChange": {
            **_obj(
                {
                    "password": _string(minLength=1),
                    "credit": CREDIT_INPUT,
                    "default_sender": _string(),
                    "default_country": REGION,
                    **dict.fromkeys(CALLBACK_URLS, URL),
                    "inbound_format": INBOUND_FORMAT,
                    "retry_seconds": RETRY_SECONDS,
                    "report_all": _boolean(),
                    "access_keys": {
                        **_array(_obj({"accesskey": KEY, "secretkey": KEY})),
                        "description": "Replaces the account's key pairs; access keys are "
                        "unique across accounts.",
                    },
                    "daily_allowance": DAILY_ALLOWANCE,
                },
                optional=(
                    "password",
                    "credit",
                    "default_sender",
                    "default_country",
                    *CALLBACK_URLS,
                    "inbound_format",
                    "retry_seconds",
                    "report_all",
                    "access_keys",
                    "daily_allowance",
                ),
            ),
            "description": "Any of these keys; `password` is required to create an account.",
        },
    }


def _scenario_schemas() -> dict[str, Schema]:
    """`Scenario` (as shown) and `ScenarioInput` (as taken), with their parts as
    `Scenario.<Model>` and `ScenarioInput.<Model>`, from the pydantic models; and `RuleState`,
    a rule as `/_sim/rules` shows it (its keys that are not null, and its counters)."""
    found: dict[str, Schema] = {}
    modes: tuple[tuple[str, JsonSchemaMode], ...] = (
        ("Scenario", "serialization"),
        ("ScenarioInput", "validation"),
    )
    for name, mode in modes:
        schema = Scenario.model_json_schema(
            mode=mode, ref_template=f"#/components/schemas/{name}.{{model}}"
        )
        parts: dict[str, Schema] = schema.pop("$defs", {})
        found[name] = schema
        found.update({f"{name}.{model}": part for model, part in parts.items()})
    rule = found["Scenario.Rule"]
    counters = {
        "matched": _integer(0, description="Requests it matched."),
        "fired": _integer(0, description="Times it fired."),
        "retired": {**_boolean(), "description": "Whether `times` or its sequence ran out."},
        "enabled": {**_boolean(), "description": "Whether it is switched on (PATCH to switch)."},
    }
    found["RuleState"] = {
        **rule,
        "properties": {**rule["properties"], **counters},
        "required": [*rule.get("required", []), *counters],
    }
    inbound = InboundBody.model_json_schema(
        mode="validation", ref_template="#/components/schemas/Inbound.{model}"
    )
    found.update({f"Inbound.{model}": part for model, part in inbound.pop("$defs", {}).items()})
    found["Inbound"] = inbound
    return found


# -- parameters and responses -----------------------------------------------------------------


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _path(name: str, schema: Schema, description: str, example: Any) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema,
        "description": description,
        "example": example,
    }


FILTERS: list[Schema] = [
    _query("to", _string(), "A recipient, normalised the way a send normalises it."),
    _query("from", _string(), "The sender, exactly."),
    _query("account", _string(), "The account (case-insensitive)."),
    _query(
        "type",
        _string(enum=[*map(str, KIND_NAMES), *KINDS]),
        "A message type, 1-6, or its kind name.",
    ),
    _query("text", _string(), "A substring of the text."),
    _query(
        "since",
        _string(format="date-time"),
        "An ISO 8601 time (a `+` may come as a space); without an offset it is UTC.",
    ),
    _query("limit", _integer(1, MAX_LIMIT, default=100), "The page size."),
    _query(
        "cursor",
        _string(pattern="^[0-9]+$"),
        "The `next_cursor` of the previous page, to continue after it.",
    ),
]
JOURNAL_FILTERS: list[Schema] = [
    _query("outcome", _string(enum=list(OUTCOMES)), "How the request was answered."),
    _query("path", _string(), "The gateway path (case-insensitive)."),
]
TIMEOUT = _query(
    "timeout",
    {"type": "number", "minimum": 0, "maximum": MAX_WAIT, "default": 5},
    "How long to wait, in seconds.",
)
MESSAGE_ID = _path("id", _string(), "A message id.", "10011000000000000001")
PART = _path("n", _integer(0), "The part number (0-based).", 0)
USERNAME = _path("username", _string(), "An account's username (case-insensitive).", "demo")


def _json_response(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error(
    description: str, *codes: str, problems: Literal["", "always", "sometimes"] = ""
) -> Schema:
    """An error response whose `error` is one of `codes`, with a `problems` list when
    `problems` is "always" or "sometimes"."""
    properties: dict[str, Schema] = {"error": _string(enum=list(codes)), "detail": _string()}
    if problems:
        properties["problems"] = _array(_string("One problem, with its key path."))
    optional = ("problems",) if problems == "sometimes" else ()
    return _json_response(description, _obj(properties, optional=optional))


def _page(key: str, item: str) -> Schema:
    return _json_response(
        "A page, newest first; `next_cursor` continues it when the page is full.",
        _obj({key: _array(_ref(item)), "next_cursor": _nullable(_string(pattern="^[0-9]+$"))}),
    )


def _status(value: str) -> Schema:
    return _string(enum=[value])


BAD_FILTER = _error("A filter value cannot be used.", "bad_filter")


def _operation(
    operation_id: str,
    summary: str,
    responses: dict[str, Schema],
    *,
    parameters: list[Schema] | None = None,
    body: Schema | None = None,
) -> Schema:
    operation: Schema = {
        "operationId": operation_id,
        "summary": summary,
        "responses": {**responses, "401": {"$ref": "#/components/responses/Unauthorized"}},
    }
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = body
    return operation


# -- the paths --------------------------------------------------------------------------------


def _paths() -> dict[str, Schema]:
    part_headers = {
        "Content-Disposition": "inline (raster images, audio, video, plain text) or "
        'attachment (anything else, SVG and HTML included); filename="<the part\'s filename>"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    return {
        "/openapi.json": {
            "get": _operation(
                "getOpenApi",
                "This document.",
                {"200": _json_response("The OpenAPI document.", {"type": "object"})},
            )
        },
        "/health": {
            "get": _operation(
                "getHealth",
                "Liveness and version.",
                {
                    "200": _json_response(
                        "Alive.",
                        _obj(
                            {
                                "status": _status("ok"),
                                "version": _string(examples=[__version__]),
                                "uptime_seconds": {"type": "number", "minimum": 0},
                            }
                        ),
                    )
                },
            )
        },
        "/ready": {
            "get": _operation(
                "getReady",
                "Readiness.",
                {"200": _json_response("Ready.", _obj({"ready": {"const": True}}))},
            )
        },
        "/messages": {
            "get": _operation(
                "listMessages",
                "Accepted messages, newest first.",
                {"200": _page("messages", "Message"), "400": BAD_FILTER},
                parameters=FILTERS,
            ),
            "delete": _operation(
                "deleteMessages",
                "Forget every stored message (the id counter carries on).",
                {"200": _json_response("How many were forgotten.", _obj({"deleted": _integer(0)}))},
            ),
        },
        "/messages/wait": {
            "get": _operation(
                "waitForMessage",
                "Long-poll: the newest matching message, as soon as one exists.",
                {
                    "200": _json_response(
                        "A matching message.", _obj({"message": _ref("Message")})
                    ),
                    "400": BAD_FILTER,
                    "408": _error("No matching message came within the timeout.", "timeout"),
                    "503": _error(
                        "`--max-waits` long-polls wait already; try again later.",
                        "too_many_waits",
                    ),
                },
                parameters=[*FILTERS, TIMEOUT],
            )
        },
        "/messages/{id}": {
            "get": _operation(
                "getMessage",
                "One message.",
                {
                    "200": _json_response("The message.", _ref("Message")),
                    "404": _error("No message has this id.", "not_found"),
                },
                parameters=[MESSAGE_ID],
            )
        },
        "/messages/{id}/parts/{n}": {
            "get": _operation(
                "getMessagePart",
                "The raw bytes of an MMS content part (inline only where a browser shows the type "
                "inertly).",
                {
                    "200": {
                        "description": "The bytes, with the content type the part was sent with.",
                        "headers": {
                            name: {"schema": _string(), "required": True, "description": text}
                            for name, text in part_headers.items()
                        },
                        "content": {"*/*": {"schema": _string(format="binary")}},
                    },
                    "400": _error("The part number is not an integer of 0 or more.", "bad_part"),
                    "404": _error("No such message, or it has no such part.", "not_found"),
                    "410": _error("Retention dropped the part's bytes.", "dropped"),
                },
                parameters=[MESSAGE_ID, PART],
            )
        },
        "/requests": {
            "get": _operation(
                "listRequests",
                "The journal of gateway requests, newest first.",
                {"200": _page("requests", "Exchange"), "400": BAD_FILTER},
                parameters=[*FILTERS, *JOURNAL_FILTERS],
            )
        },
        "/accounts": {
            "get": _operation(
                "listAccounts",
                "Every account.",
                {
                    "200": _json_response(
                        "The accounts.", _obj({"accounts": _array(_ref("Account"))})
                    )
                },
            )
        },
        "/accounts/{username}": {
            "put": _operation(
                "putAccount",
                "Create an account (`password` required) or change one.",
                {
                    "200": _json_response("Changed.", _ref("Account")),
                    "201": _json_response("Created.", _ref("Account")),
                    "400": _error("The body is not a JSON object.", "bad_json"),
                    "409": _error(
                        "An access key given belongs to another account.", "access_key_taken"
                    ),
                    "422": _error(
                        "A key or value cannot be used; `problems` names each (it is absent "
                        "when only the password to create the account is missing).",
                        "invalid_account",
                        problems="sometimes",
                    ),
                },
                parameters=[USERNAME],
                body={
                    "required": False,
                    "description": "An empty body changes nothing.",
                    "content": {JSON: {"schema": _ref("AccountChange")}},
                },
            ),
            "delete": _operation(
                "deleteAccount",
                "Remove an account.",
                {
                    "204": {"description": "Removed."},
                    "404": _error("No account has this name.", "not_found"),
                },
                parameters=[USERNAME],
            ),
        },
        "/accounts/{username}/topup": {
            "post": _operation(
                "topUpAccount",
                "Add credit to an account in one step (sends in between are never lost).",
                {
                    "200": _json_response("The account with its new balance.", _ref("Account")),
                    "400": _error("The body is not a JSON object.", "bad_json"),
                    "404": _error("No account has this name.", "not_found"),
                    "422": _error(
                        "`credit` is missing, not above 0 or not a decimal.",
                        "invalid_top_up",
                        problems="always",
                    ),
                },
                parameters=[USERNAME],
                body={
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": _obj(
                                {"credit": {**CREDIT_INPUT, "description": "Credit to add, > 0."}}
                            )
                        }
                    },
                },
            )
        },
        "/scenario": {
            "get": _operation(
                "getScenario",
                "The loaded scenario, every key shown (passwords included).",
                {"200": _json_response("The scenario.", _ref("Scenario"))},
            ),
            "put": _operation(
                "putScenario",
                "Load a new scenario and reset to it; an invalid one leaves the running one.",
                {
                    "200": _json_response(
                        "Loaded; the simulator was reset to it.",
                        _obj({"status": _status("loaded"), "accounts": _array(_string())}),
                    ),
                    "400": _error("The body is not UTF-8.", "bad_body"),
                    "413": _error(
                        "The body is over `--max-scenario-bytes`, refused before it is read.",
                        "body_too_large",
                        "scenario_too_large",
                    ),
                    "422": _error(
                        "The scenario is invalid (`problems` names every key path), or holds "
                        "more accounts or rules than `--max-accounts` or `--max-rules`.",
                        "invalid_scenario",
                        "too_many_accounts",
                        "too_many_rules",
                        problems="sometimes",
                    ),
                },
                body={
                    "required": True,
                    "description": "A scenario file, YAML or JSON (the content type is not read).",
                    "content": {
                        media: {"schema": _ref("ScenarioInput")}
                        for media in (JSON, "text/yaml", "application/yaml")
                    },
                },
            ),
        },
        "/rules": {
            "get": _operation(
                "listRules",
                "The running rules, in the order they are tried, with their counters.",
                {"200": _json_response("The rules.", _obj({"rules": _array(_ref("RuleState"))}))},
            ),
            "post": _operation(
                "addRule",
                "Add a rule after the running ones (until the next reset).",
                {
                    "201": _json_response("Added.", _ref("RuleState")),
                    "400": _error("The body is not a JSON object.", "bad_json"),
                    "409": _error("A rule has this name already.", "rule_exists"),
                    "422": _error(
                        "The rule is invalid (`problems` names every key path; a text pattern "
                        "RE2 cannot run among them), or `--max-rules` rules are in force.",
                        "invalid_rule",
                        "too_many_rules",
                        problems="sometimes",
                    ),
                },
                body={"required": True, "content": {JSON: {"schema": _ref("ScenarioInput.Rule")}}},
            ),
        },
        "/rules/{name}": {
            "patch": _operation(
                "switchRule",
                "Switch a running rule on or off; an off rule is skipped and keeps its counters.",
                {
                    "200": _json_response("Switched.", _ref("RuleState")),
                    "400": _error("The body is not a JSON object.", "bad_json"),
                    "404": _error("No running rule has this name.", "not_found"),
                    "422": _error("`enabled` is missing or not a boolean.", "bad_enabled"),
                },
                parameters=[_path("name", _string(), "A rule's name.", "magic-delivery-fails")],
                body={
                    "required": True,
                    "content": {JSON: {"schema": _obj({"enabled": _boolean()})}},
                },
            ),
            "delete": _operation(
                "deleteRule",
                "Remove a running rule (until the next reset).",
                {
                    "204": {"description": "Removed."},
                    "404": _error("No running rule has this name.", "not_found"),
                },
                parameters=[_path("name", _string(), "A rule's name.", "magic-delivery-fails")],
            ),
        },
        "/clock": {
            "get": _operation(
                "getClock",
                "The simulator's clock: its time, real or manual, and how many jobs are due.",
                {"200": _json_response("The clock.", _ref("Clock"))},
            )
        },
        "/clock/advance": {
            "post": _operation(
                "advanceClock",
                "Manual clock: move ahead, running every report step and callback that falls "
                "due on the way, in order, before answering.",
                {
                    "200": _json_response("Moved.", _ref("ClockAdvanced")),
                    "400": _error("The body is not a JSON object.", "bad_json"),
                    "409": _error("The clock is real.", "real_clock"),
                    "422": _error("`seconds` is not a number from 0 to ten years.", "bad_seconds"),
                },
                body={
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": _obj(
                                {"seconds": {"type": "number", "minimum": 0, "maximum": 315360000}}
                            )
                        }
                    },
                },
            )
        },
        "/callbacks": {
            "get": _operation(
                "listCallbacks",
                "Every callback attempt, newest first.",
                {"200": _page("callbacks", "Attempt"), "400": BAD_FILTER},
                parameters=[
                    _query("message_id", _string(), "Attempts for this message."),
                    _query("account", _string(), "Attempts for this account."),
                    _query(
                        "outcome",
                        _string(enum=["delivered", "retrying", "failed"]),
                        "Attempts that went this way.",
                    ),
                    _query("limit", _integer(1, 1000), "At most this many (default 100)."),
                    _query("cursor", _string(pattern="^[0-9]+$"), "`next_cursor` of a page."),
                ],
            )
        },
        "/inbound": {
            "post": _operation(
                "postInbound",
                "A message from a handset to an account: an SMS (`text`) or an MMS (`subject` "
                "and `parts`); kept, and forwarded to the account's `inbound_url` or `mms_url`.",
                {
                    "201": _json_response("Received.", _ref("Message")),
                    "400": _error(
                        "The body is not a JSON object or well-formed multipart.",
                        "bad_json",
                        "bad_multipart",
                    ),
                    "404": _error("No account has this name.", "not_found"),
                    "422": _error(
                        "The message cannot be taken.", "invalid_inbound", problems="sometimes"
                    ),
                },
                body={
                    "required": True,
                    "content": {
                        JSON: {"schema": _ref("Inbound")},
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "description": "The same fields as form fields; file parts "
                                "(with a filename) are the MMS parts.",
                            }
                        },
                    },
                },
            )
        },
        "/events": {
            "get": _operation(
                "streamEvents",
                "Server-sent events, as they happen: `message` (a new message, as listed), "
                "`status` (a delivery status step: `id`, `to`, `status`, `at`), `request` (a "
                "journal entry, without `seq`), `callback` (an attempt, as listed, without `seq`), "
                "`reset`, and `lagged` when the reader fell "
                "behind and should read the lists again. The stream stays open. With a control "
                "token, an `EventSource` (which cannot set headers) may pass it as `?token=`.",
                {
                    "200": {
                        "description": "An endless `text/event-stream`.",
                        "content": {
                            "text/event-stream": {
                                "schema": {
                                    "type": "object",
                                    "description": "One event: `event` names it, `data` is "
                                    "its JSON (`{}` for `hello`, `reset`, `lagged`).",
                                    "properties": {
                                        "event": _string(enum=list(EVENT_NAMES)),
                                        "data": _string(),
                                        "retry": _integer(0),
                                    },
                                    "required": ["event", "data"],
                                }
                            }
                        },
                    }
                },
                parameters=[
                    {
                        "name": "token",
                        "in": "query",
                        "required": False,
                        "description": "The control token, for clients that cannot set headers.",
                        "schema": _string(),
                    }
                ],
            )
        },
        "/reset": {
            "post": _operation(
                "reset",
                "Back to the loaded scenario: accounts, credit, id counter, messages and journal.",
                {"200": _json_response("Reset.", _obj({"status": _status("reset")}))},
            )
        },
    }


@functools.cache
def spec() -> dict[str, Any]:
    """The document, built at the first request for it (building it is a twentieth of `serve`'s
    start, which has a target of its own)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gateway-sim control API",
            "version": __version__,
            "description": DESCRIPTION,
        },
        "paths": {PREFIX + path: item for path, item in _paths().items()},
        "components": {
            "schemas": {**_record_schemas(), **_scenario_schemas()},
            "responses": {
                "Unauthorized": {
                    **_error(
                        "A control token is set and the request lacks "
                        "`Authorization: Bearer <token>`.",
                        "unauthorized",
                    ),
                    "headers": {
                        "WWW-Authenticate": {"schema": _status("Bearer"), "required": True}
                    },
                },
                "NotFound": _error("No route under `/_sim` has this path.", "not_found"),
                "MethodNotAllowed": _error(
                    "The path does not support this method.", "method_not_allowed"
                ),
            },
            "securitySchemes": {
                "controlToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Needed only when the simulator runs with `--control-token`.",
                }
            },
        },
        "security": [{}, {"controlToken": []}],
    }
