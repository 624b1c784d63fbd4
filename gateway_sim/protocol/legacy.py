"""The legacy gateway paths (`/smsgateway/...`) as plain ASGI endpoints.

They are looked up by lower-cased path (ASP.NET paths are case-insensitive) ahead of Starlette's
router: the hot path reads the request, asks the domain, and writes the answer, nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from gateway_sim.errors import GatewayError, InvalidRequest
from gateway_sim.gateway import Gateway
from gateway_sim.protocol.answers import AnswerFormat
from gateway_sim.protocol.request import (
    BodyTooLarge,
    ClientGone,
    GatewayRequest,
    read_request,
)
from gateway_sim.types import Receive, Scope, Send

log = logging.getLogger("gateway_sim")

Handler = Callable[[GatewayRequest], bytes]

TEXT_HEADERS = [(b"content-type", b"text/plain; charset=utf-8")]


class LegacyEndpoints:
    """Routes the emulated legacy paths to the domain and renders its answers."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.answers = AnswerFormat.from_settings(gateway.scenario.settings)
        self.max_body_bytes = gateway.scenario.settings.max_body_bytes
        send_message: Handler = self._send
        self.routes: dict[str, Handler] = {
            "/smsgateway/sendmsg.aspx": send_message,
            "/smsgateway/default.aspx": send_message,
            "/smsgateway/getbalance.aspx": self._balance,
            "/smsgateway/getbalance/default.aspx": self._balance,
            "/smsgateway/createsubacc.aspx": self._create_subaccount,
        }

    def handler_for(self, path: str) -> Handler | None:
        """The handler of an emulated path, matched case-insensitively."""
        return self.routes.get(path.lower())

    async def serve(self, handler: Handler, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request on an emulated path."""
        if scope["method"] not in ("GET", "POST"):
            await _respond(send, 405, b"Method Not Allowed", [(b"allow", b"GET, POST")])
            return
        try:
            request = await read_request(scope, receive, self.max_body_bytes)
        except BodyTooLarge:
            await _respond(send, 413, b"Request Entity Too Large", [(b"connection", b"close")])
            return
        except ClientGone:
            return
        try:
            if request.malformed:
                raise InvalidRequest(request.malformed)
            body = handler(request)
        except GatewayError as error:
            body = self.answers.body([error.line])
        await _respond(send, 200, body)

    def _send(self, request: GatewayRequest) -> bytes:
        outcome = self.gateway.submit(request.fields, request.files, endpoint=request.path)
        return self.answers.send_answer(outcome.lines)

    def _balance(self, request: GatewayRequest) -> bytes:
        return self.answers.body([f"BALANCE:{self.gateway.balance(request.fields)}"])

    def _create_subaccount(self, request: GatewayRequest) -> bytes:
        account = self.gateway.create_subaccount(request.fields)
        return self.answers.body([f"OK:{int(account.credit)}"])


async def _respond(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [*TEXT_HEADERS, (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
