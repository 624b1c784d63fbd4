"""The `/api/json` paths (README "What is simulated": HTTPS only, access keys, JSON): a JSON
request in, a JSON answer out, logged in by an access key pair, over HTTPS only.

The JSON body is flattened into the legacy fields (`accesskey`, `secretkey`, `to`, `from`,
`type`, `text`, `maxconcat`, ...) before rules and the domain see it, so a JSON send is checked,
charged, stored and journaled exactly like a form send; only the answers are rendered as JSON.
A body that is not JSON, or holds a value of the wrong kind, is refused (`invalid_request`)
before anything else, as a malformed multipart body is. Its strings are made storable first.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from gateway_sim.domain.errors import (
    JSON_ERROR_NUMBERS,
    AuthParameterInvalid,
    AuthParameterMissing,
    GatewayError,
    InvalidRequest,
)
from gateway_sim.domain.gateway import Outcome
from gateway_sim.domain.rules import Decision
from gateway_sim.domain.text import storable_json
from gateway_sim.wire.asgi import Scope
from gateway_sim.wire.exchanges import JSON, Reply
from gateway_sim.wire.form import Fields
from gateway_sim.wire.keyed import connection_secure, not_secure
from gateway_sim.wire.legacy import Handler, LegacyEndpoints
from gateway_sim.wire.request import GatewayRequest

SEND = "/api/json/sendmsg.aspx"
BALANCE = "/api/json/getbalance.aspx"
AUTH_TYPE = "accesskey"
MSGTYPES = {"text": "1", "unicode": "2", "binary": "3"}
"""The `content.msgtype` values a send may use, and the legacy `type` each stands for."""
CONTENT_FIELDS = ("text", "ud", "udh", "maxconcat")
MESSAGE_FIELDS = ("to", "from", "usercontext", "delrpt")


class JsonEndpoints:
    """`/api/json/sendmsg.aspx` and `/api/json/getbalance.aspx`."""

    def __init__(self, endpoints: LegacyEndpoints, *, trust_proxy: bool = False) -> None:
        self.gateway = endpoints.gateway
        self.trust_proxy = trust_proxy

    def prepare(self, request: GatewayRequest, scope: Scope) -> GatewayError | None:
        """Refuse plain HTTP, then a body that is not a JSON request; else flatten it."""
        if not connection_secure(scope, self.trust_proxy):
            return not_secure(request.path)
        try:
            request.fields = json_fields(request.body)
        except InvalidRequest as malformed:
            return malformed
        request.content_type = None  # the fields are no longer the raw form's: keep them
        return None

    def routes(self) -> dict[str, Handler]:
        return {SEND: self._send, BALANCE: self._balance}

    def refusal(self, line: str, reason: str) -> Reply:
        kind, _, value = line.partition(":")
        if kind == "DELAY":
            code, description = "DELAY", f"throttled: retry in {value} seconds"
        else:
            code, description = value, reason or value.replace("_", " ").capitalize()
        body = {"response_status": "failure", "errors": [_error(code, description)]}
        shown = f"{line}: {reason}" if reason else ""
        return Reply(_dump(body), shown, content_type=JSON, outcome="refused")

    def _send(self, request: GatewayRequest, decision: Decision | None) -> Reply:
        account = self.gateway.key_login(_checked_auth(request.fields))
        outcome = self.gateway.submit(
            request.fields, endpoint=request.path, decision=decision, account=account
        )
        body = {"response_status": "ok", "messages": _results(outcome)}
        message_id = outcome.message.id if outcome.message else None
        journaled = outcome.journaled
        return Reply(_dump(body), outcome.reason, message_id, JSON, journaled)

    def _balance(self, request: GatewayRequest, decision: Decision | None) -> Reply:
        balance = self.gateway.exact_balance(_checked_auth(request.fields))
        body = {"response_status": "ok", "balance": decimal_text(balance)}
        return Reply(_dump(body), "balance told", content_type=JSON, outcome="answered")


def json_fields(body: bytes) -> Fields:
    """The legacy fields a JSON request stands for; `InvalidRequest` naming what is wrong."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise InvalidRequest("the body is not JSON (or nests too deeply)") from None
    # `\udfff` (or a surrogate's UTF-8 bytes, which `json.loads` lets through) would be kept as
    # a lone surrogate, which no answer, journal or store can write.
    request = _object(storable_json(data), "the body")
    fields: Fields = {}
    auth = _object(request.get("auth", {}), "auth")
    for name in ("authtype", "accesskey", "secretkey"):
        _put(fields, name, auth.get(name), f"auth.{name}")
    message = _object(request.get("message", {}), "message")
    for name in MESSAGE_FIELDS:
        _put(fields, name, message.get(name), f"message.{name}")
    channel = message.get("channel", "sms")
    if channel != "sms":
        raise InvalidRequest(f"message.channel {_shown(channel)} is not supported; use 'sms'")
    content = _object(message.get("content", {}), "message.content")
    for name in CONTENT_FIELDS:
        _put(fields, name, content.get(name), f"message.content.{name}")
    msgtype = content.get("msgtype", "text")
    if not isinstance(msgtype, str) or msgtype not in MSGTYPES:
        raise InvalidRequest(
            f"message.content.msgtype {_shown(msgtype)} is not one of {', '.join(MSGTYPES)}"
        )
    fields["type"] = MSGTYPES[msgtype]
    if msgtype == "unicode" and "text" in fields:
        fields["hex"] = fields["text"].encode("utf-16-be").hex().upper()
    return fields


def decimal_text(value: Decimal) -> str:
    """Credits as the JSON API writes them: one decimal (`"1.0"`), or as many as it needs."""
    tenths = value.quantize(Decimal("0.1"))
    return str(tenths) if tenths == value else format(value.normalize(), "f")


def _checked_auth(fields: Fields) -> Fields:
    authtype = fields.get("authtype")
    if not authtype:
        raise AuthParameterMissing("auth.authtype is missing")
    if authtype != AUTH_TYPE:
        raise AuthParameterInvalid(f"auth.authtype {authtype!r} is not {AUTH_TYPE!r}")
    return fields


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where} must be a JSON object")
    return value


def _put(fields: Fields, name: str, value: Any, where: str) -> None:
    """A JSON value as a field: strings as they are, whole numbers and booleans as digits, a list
    of strings joined with commas (`to`); absent or null is left out."""
    if value is None:
        return
    if isinstance(value, bool):
        fields[name] = "1" if value else "0"
    elif isinstance(value, str):
        fields[name] = value
    elif isinstance(value, int):
        fields[name] = str(value)
    elif name == "to" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        fields[name] = ",".join(value)
    else:
        allowed = "a string or a list of strings" if name == "to" else "a string"
        raise InvalidRequest(f"{where} must be {allowed}, not {_shown(value)}")


def _shown(value: Any) -> str:
    """A JSON value as a reason quotes it: as JSON, ASCII only, at most 40 characters."""
    return json.dumps(value)[:40]


def _results(outcome: Outcome) -> list[dict[str, Any]]:
    """One entry per recipient: its id, parts and credits, or its error."""
    message = outcome.message
    results: list[dict[str, Any]] = []
    for shown, result in outcome.lines:
        code = result.removeprefix("ERR:")
        if code != result or message is None:
            results.append({"to": shown, **_error(code)})
            continue
        each = message.cost / len(message.recipients)
        results.append(
            {
                "to": shown,
                "id": message.id,
                "msgparts": message.parts,
                "creditsused": decimal_text(each),
            }
        )
    return results


def _error(code: str, description: str | None = None) -> dict[str, Any]:
    shown: dict[str, Any] = {"error": code.lower(), "error_code": JSON_ERROR_NUMBERS[code]}
    if description:
        shown["error_description"] = description
    return shown


def _dump(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
