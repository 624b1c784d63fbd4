"""The `/api/https` paths (README "What is simulated": HTTPS only, access keys, JSON): the legacy
form fields and plain-text answers, logged in by an `accesskey`/`secretkey` pair instead of
username and password, over HTTPS only.

They go through the legacy machinery (`LegacyEndpoints`: reading, rules, answers, journal); this
module only refuses plain HTTP and hands the domain the account the keys log in to.
"""

from __future__ import annotations

import math

from gateway_sim.domain.errors import ConnectionNotSecure, GatewayError
from gateway_sim.domain.rules import Decision
from gateway_sim.wire.asgi import Scope
from gateway_sim.wire.exchanges import Reply
from gateway_sim.wire.legacy import Handler, LegacyEndpoints
from gateway_sim.wire.request import GatewayRequest

SEND = "/api/https/sendmsg.aspx"
BALANCE = "/api/https/getbalance.aspx"


def connection_secure(scope: Scope, trust_proxy: bool) -> bool:
    """Whether the request came over HTTPS: the connection's own scheme, or, only when a proxy
    is trusted, the first value of its `X-Forwarded-Proto` header."""
    if scope.get("scheme") == "https":
        return True
    if trust_proxy:
        for name, value in scope["headers"]:
            if name == b"x-forwarded-proto":
                return bool(value.split(b",", 1)[0].strip().lower() == b"https")
    return False


def not_secure(path: str) -> ConnectionNotSecure:
    return ConnectionNotSecure(f"{path} was requested over plain HTTP; it needs HTTPS")


class KeyedEndpoints:
    """`/api/https/sendmsg.aspx` and `/api/https/getbalance.aspx`."""

    def __init__(self, endpoints: LegacyEndpoints, *, trust_proxy: bool = False) -> None:
        self.endpoints = endpoints
        self.gateway = endpoints.gateway
        self.trust_proxy = trust_proxy

    def prepare(self, request: GatewayRequest, scope: Scope) -> GatewayError | None:
        """Plain HTTP is refused before anything else, rules included."""
        return None if connection_secure(scope, self.trust_proxy) else not_secure(request.path)

    def routes(self) -> dict[str, Handler]:
        return {SEND: self._send, BALANCE: self._balance}

    def refusal(self, line: str, reason: str) -> Reply:
        return self.endpoints.text_refusal(line, reason)

    def _send(self, request: GatewayRequest, decision: Decision | None) -> Reply:
        account = self.gateway.key_login(request.fields)
        return self.endpoints.send_reply(request, decision, account)

    def _balance(self, request: GatewayRequest, decision: Decision | None) -> Reply:
        balance = math.floor(self.gateway.exact_balance(request.fields))
        return Reply(self.endpoints.answers.body([f"BALANCE:{balance}"]), "balance told")
