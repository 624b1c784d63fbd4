"""What `conform` says: each exchange's outcome, told as text (the differences), JSON (every
exchange) or a Markdown fidelity matrix (one row per kind of exchange, matched or not)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

from gateway_sim.kit.recording import Exchange

_ENDPOINTS = (
    ("sendmsg", "send"),
    ("getbalance", "balance"),
    ("createsubacc", "sub-account"),
    ("retrievemms", "retrieve MMS"),
    ("default.aspx", "send"),
)


@dataclass(frozen=True)
class Outcome:
    """One exchange replayed: what it was, and the answer recorded and received, normalised."""

    number: int
    request: str
    kind: str
    expected: list[str]
    actual: list[str]

    @property
    def matched(self) -> bool:
        return self.expected == self.actual

    def diff(self) -> list[str]:
        return list(
            difflib.unified_diff(
                self.expected, self.actual, "expected (recorded)", "actual (replayed)", lineterm=""
            )
        )[2:]


def short(number: int, exchange: Exchange) -> str:
    """`#3 POST /smsgateway/sendmsg.aspx to=447700900123,07700900124`: the exchange at a glance."""
    request = exchange.request
    shown = f"#{number} {request.method} {request.path}"
    fields = request.fields or dict(parse_qsl(request.query))
    if fields.get("to"):
        shown += f" to={fields['to']}"
    if fields.get("type"):
        shown += f" type={fields['type']}"
    return shown


def kind(exchange: Exchange) -> str:
    """The kind of exchange, for the matrix: the endpoint and what the recorded answer was, such
    as `send, accepted, 2 recipients`, `send, ERR:NO_TO` or `balance`."""
    path = exchange.request.path.lower()
    endpoint = next((name for key, name in _ENDPOINTS if key in path), path)
    if endpoint == "send" and exchange.request.fields.get("type") == "5":
        endpoint = "MMS"
    for prefix in ("/api/https", "/api/json"):
        if path.startswith(prefix):
            endpoint = f"{prefix.rsplit('/', 1)[1]} {endpoint}"
    outcome = _outcome(exchange)
    return f"{endpoint}, {outcome}" if outcome else endpoint


def _outcome(exchange: Exchange) -> str:
    answer = exchange.answer
    if answer is None:
        return "no answer"
    if answer.status != 200:
        return f"HTTP {answer.status}"
    text = answer.body.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        return _json_outcome(text)
    lines = text.splitlines()
    if len(lines) > 1:
        refused = sum("ERR:" in line for line in lines)
        return f"{len(lines)} recipients" + (f", {refused} refused" if refused else "")
    if text.startswith("ID:"):
        return "accepted"
    if text.startswith("ERR:"):
        return text
    return "" if text.startswith("BALANCE:") else text[:30]


def _json_outcome(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return "not JSON"
    if not isinstance(data, dict):
        return "JSON"
    errors = data.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("error"))
    messages = data.get("messages")
    if isinstance(messages, list):
        return f"{len(messages)} recipient" + ("s" if len(messages) != 1 else "")
    return "" if "balance" in data else str(data.get("response_status"))


def text(outcomes: Sequence[Outcome]) -> str:
    """Each difference (the exchange, then expected and actual lines), then a summary line."""
    out = []
    for outcome in outcomes:
        if not outcome.matched:
            out.append(f"{outcome.request}: differs ({outcome.kind})")
            out += [f"  {line}" for line in outcome.diff()]
    return "\n".join([*out, summary(outcomes)]) + "\n"


def summary(outcomes: Sequence[Outcome]) -> str:
    differ = sum(not outcome.matched for outcome in outcomes)
    return (
        f"{len(outcomes)} exchange{'s' if len(outcomes) != 1 else ''}: "
        f"{len(outcomes) - differ} match, {differ} differ"
    )


def as_json(outcomes: Sequence[Outcome]) -> str:
    listed = [
        {
            "number": outcome.number,
            "request": outcome.request,
            "kind": outcome.kind,
            "matched": outcome.matched,
            "expected": outcome.expected,
            "actual": outcome.actual,
        }
        for outcome in outcomes
    ]
    return json.dumps({"exchanges": listed, "summary": summary(outcomes)}, indent=2) + "\n"


def markdown(outcomes: Sequence[Outcome]) -> str:
    """The fidelity matrix: one row per kind, in order of first appearance."""
    rows: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        rows.setdefault(outcome.kind, []).append(outcome)
    lines = ["| exchange | recorded | matched |", "|---|---|---|"]
    for name, group in rows.items():
        matched = sum(outcome.matched for outcome in group)
        verdict = "yes" if matched == len(group) else f"no ({len(group) - matched} differ)"
        shown = name.replace("|", "\\|")
        lines.append(f"| {shown} | {len(group)} | {verdict} |")
    return "\n".join([*lines, "", summary(outcomes)]) + "\n"


def render(outcomes: Sequence[Outcome], form: str) -> str:
    if form == "json":
        return as_json(outcomes)
    return markdown(outcomes) if form == "markdown" else text(outcomes)
