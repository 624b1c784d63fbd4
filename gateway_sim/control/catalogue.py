"""What the OpenAPI document says of each operation of the control API, keyed by path and
method: `openapi.document` joins each to the route the app serves, as Starlette's
`SchemaGenerator` joins routes to their docstrings.
"""

from __future__ import annotations

from gateway_sim.control.bodies import AccountChange, InboundBody, TopUp
from gateway_sim.control.filters import MAX_LIMIT
from gateway_sim.control.operations import (
    BAD_FILTER,
    BAD_JSON,
    CLOCK,
    CURSOR,
    EVENT,
    FILTERS,
    JOURNAL_FILTERS,
    NO_ACCOUNT,
    NO_RULE,
    PART_HEADERS,
    STRING,
    Answer,
    Body,
    Operation,
    closed,
    query,
    refused,
    shown,
)
from gateway_sim.control.views import AccountView, RuleView
from gateway_sim.control.views_records import (
    ATTEMPT_OUTCOMES,
    AttemptPage,
    MessagePage,
    MessageView,
    RequestPage,
)
from gateway_sim.control.waits import WAIT_MOST
from gateway_sim.domain.rule_schema import Rule
from gateway_sim.domain.scenario import Scenario

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("/openapi.json", "GET"): Operation(
        "getOpenApi", "This document.", {200: Answer("The OpenAPI document.", {"type": "object"})}
    ),
    ("/health", "GET"): Operation(
        "getHealth",
        "Liveness and version.",
        {
            200: Answer(
                "Alive.",
                closed(
                    status={"type": "string", "enum": ["ok"]},
                    version=STRING,
                    uptime_seconds={"type": "number", "minimum": 0},
                ),
            )
        },
    ),
    ("/ready", "GET"): Operation(
        "getReady", "Readiness.", {200: Answer("Ready.", closed(ready={"const": True}))}
    ),
    ("/messages", "GET"): Operation(
        "listMessages",
        "Accepted messages, newest first.",
        {200: Answer("A page, newest first.", MessagePage), 400: BAD_FILTER},
        FILTERS,
    ),
    ("/messages", "DELETE"): Operation(
        "deleteMessages",
        "Forget every stored message (the id counter carries on).",
        {
            200: Answer(
                "How many were forgotten.", closed(deleted={"type": "integer", "minimum": 0})
            )
        },
    ),
    ("/messages/wait", "GET"): Operation(
        "waitForMessage",
        "Long-poll: the newest matching message, as soon as one exists.",
        {
            200: Answer("A matching message.", closed(message=shown(MessageView))),
            400: BAD_FILTER,
            408: refused("No matching message came within the timeout.", "timeout"),
            503: refused(
                "`--max-waits` long-polls wait already; try again later.", "too_many_waits"
            ),
        },
        (
            *FILTERS,
            query(
                "timeout",
                {"type": "number", "minimum": 0, "maximum": WAIT_MOST, "default": 5},
                "How long to wait, in seconds.",
            ),
        ),
    ),
    ("/messages/{id}", "GET"): Operation(
        "getMessage",
        "One message.",
        {
            200: Answer("The message.", MessageView),
            404: refused("No message has this id.", "not_found"),
        },
    ),
    ("/messages/{id}/parts/{n}", "GET"): Operation(
        "getMessagePart",
        "The raw bytes of an MMS content part (inline only where a browser shows the type "
        "inertly).",
        {
            200: Answer(
                "The bytes, with the content type the part was sent with.",
                {"type": "string", "format": "binary"},
                "*/*",
                PART_HEADERS,
            ),
            400: refused("The part number is not an integer of 0 or more.", "bad_part"),
            404: refused("No such message, or it has no such part.", "not_found"),
            410: refused("Retention dropped the part's bytes.", "dropped"),
        },
    ),
    ("/requests", "GET"): Operation(
        "listRequests",
        "The journal of gateway requests, newest first.",
        {200: Answer("A page, newest first.", RequestPage), 400: BAD_FILTER},
        (*FILTERS, *JOURNAL_FILTERS),
    ),
    ("/accounts", "GET"): Operation(
        "listAccounts",
        "Every account.",
        {
            200: Answer(
                "The accounts.", closed(accounts={"type": "array", "items": shown(AccountView)})
            )
        },
    ),
    ("/accounts/{username}", "PUT"): Operation(
        "putAccount",
        "Create an account (`password` required) or change one.",
        {
            200: Answer("Changed.", AccountView),
            201: Answer("Created.", AccountView),
            400: BAD_JSON,
            409: refused("An access key given belongs to another account.", "access_key_taken"),
            422: refused(
                "A key or value cannot be used; `problems` names each (it is absent "
                "when only the password to create the account is missing).",
                "invalid_account",
                problems="sometimes",
            ),
        },
        body=Body(
            AccountChange,
            description="Any of these keys; `password` is required to "
            "create an account. An empty body changes nothing.",
            required=False,
        ),
    ),
    ("/accounts/{username}", "DELETE"): Operation(
        "deleteAccount", "Remove an account.", {204: Answer("Removed."), 404: NO_ACCOUNT}
    ),
    ("/accounts/{username}/topup", "POST"): Operation(
        "topUpAccount",
        "Add credit to an account in one step (sends in between are never lost).",
        {
            200: Answer("The account with its new balance.", AccountView),
            400: BAD_JSON,
            404: NO_ACCOUNT,
            422: refused(
                "`credit` is missing, not above 0 or not a decimal.",
                "invalid_top_up",
                problems="always",
            ),
        },
        body=Body(TopUp),
    ),
    ("/accounts/{username}/reset", "POST"): Operation(
        "resetAccount",
        "Back to the start for this account alone: its messages (sent and received), journal "
        "entries and callbacks are forgotten, and it gets its starting credit back (a "
        "scenario account its scenario credit, a sub-account the scenario's "
        "`subaccount_credit`, an account made here the credit it was made with) and a fresh "
        "daily allowance. Other accounts, the rules, the clock and the scenario are left as "
        "they are: what parallel jobs sharing one simulator use instead of `/reset`.",
        {
            200: Answer(
                "Reset.",
                closed(
                    status={"type": "string", "enum": ["reset"]},
                    deleted={
                        "type": "integer",
                        "minimum": 0,
                        "description": "How many of its messages were forgotten.",
                    },
                    account=shown(AccountView),
                ),
            ),
            404: NO_ACCOUNT,
        },
    ),
    ("/scenario", "GET"): Operation(
        "getScenario",
        "The loaded scenario, every key shown (passwords included).",
        {200: Answer("The scenario.", Scenario)},
    ),
    ("/scenario", "PUT"): Operation(
        "putScenario",
        "Load a new scenario and reset to it; an invalid one leaves the running one.",
        {
            200: Answer(
                "Loaded; the simulator was reset to it.",
                closed(
                    status={"type": "string", "enum": ["loaded"]},
                    accounts={"type": "array", "items": STRING},
                ),
            ),
            400: refused("The body is not UTF-8.", "bad_body"),
            413: refused(
                "The body is over `--max-scenario-bytes`, refused before it is read.",
                "body_too_large",
                "scenario_too_large",
            ),
            422: refused(
                "The scenario is invalid (`problems` names every key path), or holds "
                "more accounts or rules than `--max-accounts` or `--max-rules`.",
                "invalid_scenario",
                "too_many_accounts",
                "too_many_rules",
                problems="sometimes",
            ),
        },
        body=Body(
            Scenario,
            ("application/json", "text/yaml", "application/yaml"),
            "A scenario file, YAML or JSON (the content type is not read).",
        ),
    ),
    ("/reset", "POST"): Operation(
        "reset",
        "Back to the loaded scenario: accounts, credit, id counter, messages and journal.",
        {200: Answer("Reset.", closed(status={"type": "string", "enum": ["reset"]}))},
    ),
    ("/rules", "GET"): Operation(
        "listRules",
        "The running rules, in the order they are tried, with their counters.",
        {200: Answer("The rules.", closed(rules={"type": "array", "items": shown(RuleView)}))},
    ),
    ("/rules", "POST"): Operation(
        "addRule",
        "Add a rule after the running ones (until the next reset).",
        {
            201: Answer("Added.", RuleView),
            400: BAD_JSON,
            409: refused("A rule has this name already.", "rule_exists"),
            422: refused(
                "The rule is invalid (`problems` names every key path; a text pattern "
                "RE2 cannot run among them), or `--max-rules` rules are in force.",
                "invalid_rule",
                "too_many_rules",
                problems="sometimes",
            ),
        },
        body=Body(Rule),
    ),
    ("/rules/{name}", "PATCH"): Operation(
        "switchRule",
        "Switch a running rule on or off; an off rule is skipped and keeps its counters.",
        {
            200: Answer("Switched.", RuleView),
            400: BAD_JSON,
            404: NO_RULE,
            422: refused("`enabled` is missing or not a boolean.", "bad_enabled"),
        },
        body=Body(closed(enabled={"type": "boolean"})),
    ),
    ("/rules/{name}", "DELETE"): Operation(
        "deleteRule",
        "Remove a running rule (until the next reset).",
        {204: Answer("Removed."), 404: NO_RULE},
    ),
    ("/clock", "GET"): Operation(
        "getClock",
        "The simulator's clock: its time, real or manual, and how many jobs are due.",
        {200: Answer("The clock.", closed(**CLOCK))},
    ),
    ("/clock/advance", "POST"): Operation(
        "advanceClock",
        "Manual clock: move ahead, running every report step and callback that falls due on "
        "the way, in order, before answering.",
        {
            200: Answer(
                "Moved.",
                closed(
                    **CLOCK,
                    fired={"type": "integer", "minimum": 0, "description": "Jobs run on the way."},
                ),
            ),
            400: BAD_JSON,
            409: refused("The clock is real.", "real_clock"),
            422: refused("`seconds` is not a number from 0 to ten years.", "bad_seconds"),
        },
        body=Body(closed(seconds={"type": "number", "minimum": 0, "maximum": 315360000})),
    ),
    ("/callbacks", "GET"): Operation(
        "listCallbacks",
        "Every callback attempt, newest first.",
        {200: Answer("A page, newest first.", AttemptPage), 400: BAD_FILTER},
        (
            query("message_id", STRING, "Attempts for this message."),
            query("account", STRING, "Attempts for this account."),
            query(
                "outcome",
                {"type": "string", "enum": list(ATTEMPT_OUTCOMES)},
                "Attempts that went this way.",
            ),
            query(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                "At most this many (default 100).",
            ),
            query("cursor", CURSOR, "`next_cursor` of a page."),
        ),
    ),
    ("/inbound", "POST"): Operation(
        "postInbound",
        "A message from a handset to an account: an SMS (`text`) or an MMS (`subject` and "
        "`parts`); kept, and forwarded to the account's `inbound_url` or `mms_url`.",
        {
            201: Answer("Received.", MessageView),
            400: refused(
                "The body is not a JSON object or well-formed multipart.",
                "bad_json",
                "bad_multipart",
            ),
            404: NO_ACCOUNT,
            422: refused("The message cannot be taken.", "invalid_inbound", problems="sometimes"),
        },
        body=Body(
            InboundBody,
            other={
                "multipart/form-data": {
                    "type": "object",
                    "description": "The same fields as form fields; file parts (with a "
                    "filename) are the MMS parts.",
                }
            },
        ),
    ),
    ("/events", "GET"): Operation(
        "streamEvents",
        "Server-sent events, as they happen: `message` (a new message, as listed), `status` (a "
        "delivery status step: `id`, `to`, `status`, `at`), `request` (a journal entry, without "
        "`seq`), `callback` (an attempt, as listed, without `seq`), `reset`, and `lagged` when "
        "the reader fell behind and should read the lists again. The stream stays open. With a "
        "control token, an `EventSource` (which cannot set headers) may pass it as `?token=`.",
        {200: Answer("An endless `text/event-stream`.", EVENT, "text/event-stream")},
        (query("token", STRING, "The control token, for clients that cannot set headers."),),
    ),
}
