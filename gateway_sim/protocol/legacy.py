"""The legacy gateway paths (`/smsgateway/...`) as plain ASGI endpoints.

They are looked up by lower-cased path (ASP.NET paths are case-insensitive) ahead of Starlette's
router: the hot path reads the request, asks the domain, writes the answer and journals the
exchange, nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway_sim.errors import GatewayError, InvalidRequest
from gateway_sim.gateway import Gateway
from gateway_sim.protocol.answers import AnswerFormat
from gateway_sim.protocol.request import BodyTooLarge, ClientGone, GatewayRequest, read_request
from gateway_sim.records import Exchange, outcome_of_answer
from gateway_sim.types import Receive, Scope, Send


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer body and why it was given."""

    body: bytes
    reason: str
    message_id: str | None = None


Handler = Callable[[GatewayRequest], Reply]
TEXT_HEADERS = [(b"content-type", b"text/plain; charset=utf-8")]


class LegacyEndpoints:
    """Routes the emulated legacy paths to the domain, renders its answers, journals them."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.routes: dict[str, Handler] = {
            "/smsgateway/sendmsg.aspx": self._send,
            "/smsgateway/default.aspx": self._send,
            "/smsgateway/getbalance.aspx": self._balance,
            "/smsgateway/getbalance/default.aspx": self._balance,
            "/smsgateway/createsubacc.aspx": self._create_subaccount,
        }
        self.reload()

    def reload(self) -> None:
        """Take up the settings of the gateway's current scenario."""
        settings = self.gateway.scenario.settings
        self.answers = AnswerFormat.from_settings(settings)
        self.max_body_bytes = settings.max_body_bytes

    def handler_for(self, path: str) -> Handler | None:
        """The handler of an emulated path, matched case-insensitively."""
        return self.routes.get(path.lower())

    async def serve(self, handler: Handler, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request on an emulated path."""
        if scope["method"] not in ("GET", "POST"):
            reason = f"method {scope['method']} is not allowed; use GET or POST"
            await self._refuse(scope, send, 405, b"Method Not Allowed", reason, allow=b"GET, POST")
            return
        try:
            request = await read_request(scope, receive, self.max_body_bytes)
        except BodyTooLarge as too_large:
            await self._refuse(scope, send, 413, b"Request Entity Too Large", str(too_large))
            return
        except ClientGone:
            return
        try:
            if request.malformed:
                raise InvalidRequest(request.malformed)
            reply = handler(request)
        except GatewayError as error:
            reply = Reply(self.answers.body([error.line]), f"{error.line}: {error.reason}")
        await respond(send, 200, reply.body)
        self._journal(scope, request, 200, reply)

    def _send(self, request: GatewayRequest) -> Reply:
        outcome = self.gateway.submit(request.fields, request.files, endpoint=request.path)
        message_id = outcome.message.id if outcome.message else None
        return Reply(self.answers.send_answer(outcome.lines), outcome.reason, message_id)

    def _balance(self, request: GatewayRequest) -> Reply:
        balance = self.gateway.balance(request.fields)
        return Reply(self.answers.body([f"BALANCE:{balance}"]), "balance told")

    def _create_subaccount(self, request: GatewayRequest) -> Reply:
        account = self.gateway.create_subaccount(request.fields)
        self.gateway.store.state_changed()
        body = self.answers.body([f"OK:{int(account.credit)}"])
        return Reply(body, f"sub-account {account.username!r} created")

    def _journal(self, scope: Scope, request: GatewayRequest, status: int, reply: Reply) -> None:
        answer = reply.body.decode("utf-8")
        self.gateway.store.record(
            Exchange(
                at=self.gateway.clock.now(),
                method=scope["method"],
                path=scope["path"],
                client=_client(scope),
                fields=request.fields,
                body_size=request.body_size,
                status=status,
                answer=answer,
                outcome=outcome_of_answer(status, answer),
                reason=reply.reason,
                account=request.fields.get("username"),
                message_id=reply.message_id,
                files=[
                    {
                        "filename": f.part.filename,
                        "content_type": f.part.content_type,
                        "size": len(f.part.data),
                    }
                    for f in request.files
                ],
                query=request.query,
                body=request.body,
            )
        )

    async def _refuse(
        self, scope: Scope, send: Send, status: int, body: bytes, reason: str, *, allow: bytes = b""
    ) -> None:
        extra = [(b"allow", allow)] if allow else [(b"connection", b"close")]
        await respond(send, status, body, extra)
        request = GatewayRequest({}, scope["path"].lower())
        self._journal(scope, request, status, Reply(body, reason))


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else ""


async def respond(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [*TEXT_HEADERS, (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
